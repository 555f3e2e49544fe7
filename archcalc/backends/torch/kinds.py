"""Every kind's torch facet, family by family as archcalc.rules lists the rules, looked up by kind."""

from __future__ import annotations

from . import conv, dense, elementwise, layout, merge, norm, pool, tokens
from .base import Factory

FAMILIES = (conv, pool, dense, elementwise, norm, merge, layout, tokens)

FACTORIES: dict[str, Factory] = {kind: factory for family in FAMILIES for kind, factory in family.FACTORIES.items()}
