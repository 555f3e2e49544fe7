"""Optional backends that build a network for real; loaded only by the commands that need them.

The analytic path (table, compare, fit …) never imports anything here that
imports torch: `torch_backend()` imports it on first use and, when torch is
missing, raises an ArchcalcError that the CLI shows as one line.
"""

from __future__ import annotations

import warnings
from types import ModuleType

from ..errors import ArchcalcError

INSTALL_HINT = 'install it with pip install "archcalc[torch]"'


class TorchMissing(ArchcalcError):
    """torch is not installed: the torch backend cannot be used."""


def torch_backend() -> ModuleType:
    """The `archcalc.backends.torch` module, importing torch on first use."""
    with warnings.catch_warnings():
        # A CPU-only torch without numpy warns at import; archcalc never needs numpy.
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        try:
            import torch  # noqa: F401
        except ImportError:
            raise TorchMissing(f"this command needs torch, which is not installed; {INSTALL_HINT}") from None
        from . import torch as backend
    return backend
