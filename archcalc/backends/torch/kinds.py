"""Every kind's torch facet, family by family as archcalc.rules lists the rules, looked up by kind."""

from __future__ import annotations

from . import attention, conv, dense, elementwise, layout, merge, norm, pool, tokens
from .base import Factory
from .conv import CPU_HALF_WORKSPACE  # noqa: F401 (read from here: the one family whose kernels need one)

FAMILIES = (conv, pool, dense, elementwise, norm, merge, layout, tokens, attention)

FACTORIES: dict[str, Factory] = {kind: factory for family in FAMILIES for kind, factory in family.FACTORIES.items()}
