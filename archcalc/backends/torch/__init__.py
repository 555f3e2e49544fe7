"""The torch backend: a Network built as a real torch.nn.Module, one submodule per node.

The package mirrors archcalc.rules family by family: each family module holds
its kinds' torch facets (FACTORIES, keyed by kind) and the modules torch does
not have; `network` builds the whole module (see its docstring for naming and
the forward). The modules save for backward what the rules' `saved` model
says (see `archcalc verify`): inline activations run in place where
ACTIVATIONS says so, standalone ones out of place; flatten and the identity
shortcut are views.
"""

from __future__ import annotations

from .base import DTYPES, BuildError, Factory, steps
from .elementwise import ACTIVATION_MODULES, inline_act
from .kinds import FACTORIES
from .network import ArchcalcModule, Scope, build

__all__ = ["ACTIVATION_MODULES", "DTYPES", "FACTORIES", "ArchcalcModule", "BuildError", "Factory", "Scope", "build",
           "inline_act", "steps"]
