"""What a weighted layer's torch facet runs after its product: batch norm and the inline activation (rules/tail.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ...rules.base import Shape
from .base import of_rank, steps
from .elementwise import inline_act


def tail(parts: list[tuple[str, nn.Module]], args: Mapping[str, Any], out: Shape) -> nn.Module:
    """`parts` (the product's named steps), then the batch norm (of the output's rank) and activation the
    resolved arguments ask for."""
    bn = [("bn", of_rank("BatchNorm", out)(args["out"]))] if args["bn"] else []
    return steps([*parts, *bn, *inline_act(args.get("act"))])
