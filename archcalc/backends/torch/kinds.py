"""Every kind's torch facet and its readers, family by family as archcalc.rules lists the rules, looked up by kind."""

from __future__ import annotations

from . import attention, conv, dense, elementwise, layout, merge, moe, norm, opaque, pool, recurrent, tokens, window
from .base import Factory, Reader
from .conv import CPU_HALF_WORKSPACE  # noqa: F401 (read from here: the one family whose kernels need one)

FAMILIES = (conv, pool, dense, elementwise, norm, merge, layout, tokens, attention, moe, window, recurrent, opaque)

FACTORIES: dict[str, Factory] = {kind: factory for family in FAMILIES for kind, factory in family.FACTORIES.items()}

# Every family's readers (base.Reader), by the nn.Module class they read (base.reader_of looks one up).
READERS: dict[type, Reader] = {cls: reader for family in FAMILIES for cls, reader in family.READERS.items()}
