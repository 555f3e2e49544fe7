"""What a weighted layer's torch facet runs after its product: batch norm and the inline activation (rules/tail.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from .base import steps
from .elementwise import inline_act


def tail(parts: list[tuple[str, nn.Module]], args: Mapping[str, Any],
         norm: Callable[[int], nn.Module] = nn.BatchNorm2d) -> nn.Module:
    """`parts` (the product's named steps), then the batch norm and activation the resolved arguments ask for."""
    bn = [("bn", norm(args["out"]))] if args["bn"] else []
    return steps([*parts, *bn, *inline_act(args.get("act"))])
