"""Arguments bound late: expressions over the shapes of earlier tensors, evaluated by the analysis.

Inside a block, `in_channels` is the channel count of the block's input
(C of C×H×W, dim 0) and `in_features` its last dimension (a token's D), as
torch's Conv2d and Linear name them. Expansion knows no shapes (the input
can be overridden at analysis), so an argument that uses them is kept as a
`Late` value, checked and evaluated once the shapes are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import expr

SHAPE_NAMES = {"in_channels": 0, "in_features": -1}  # name → dimension of the block's input (no batch)


@dataclass(frozen=True)
class TensorDim:
    """One dimension of a tensor of the graph, by the name of the layer that makes it."""

    tensor: str
    axis: int

    def value(self, shapes: Mapping[str, tuple[int, ...]]) -> int:
        return shapes[self.tensor][self.axis]


@dataclass(frozen=True)
class Late:
    """An integer expression some of whose names stand for tensor dimensions (or other Late values)."""

    text: str
    names: Mapping[str, Any]  # every name the text uses: ints, TensorDims or Lates

    def value(self, shapes: Mapping[str, tuple[int, ...]], memo: dict[int, int] | None = None) -> int:
        """The value at `shapes`; `memo` holds the values of the Lates it uses, each evaluated once (a
        chain of blocks whose arguments each use the caller's two would otherwise take 2^depth steps)."""
        memo = {} if memo is None else memo
        if id(self) not in memo:
            memo[id(self)] = expr.evaluate(self.text, {name: resolve(bound, shapes, memo)
                                                       for name, bound in self.names.items()})
        return memo[id(self)]


def is_late(value: Any) -> bool:
    """Whether `value` (or an item of it) waits for shapes."""
    if isinstance(value, (list, tuple)):
        return any(is_late(item) for item in value)
    return isinstance(value, (Late, TensorDim))


def resolve(value: Any, shapes: Mapping[str, tuple[int, ...]], memo: dict[int, int] | None = None) -> Any:
    """`value` with every late part evaluated at `shapes`; ExprError when an expression fails."""
    if isinstance(value, Late):
        return value.value(shapes, memo)
    if isinstance(value, TensorDim):
        return value.value(shapes)
    if isinstance(value, list):
        return [resolve(item, shapes, memo) for item in value]
    return value


def text(value: Any) -> str:
    """A late value as the spec wrote it, for messages."""
    if isinstance(value, Late):
        return value.text
    if isinstance(value, TensorDim):
        return next(name for name, axis in SHAPE_NAMES.items() if axis == value.axis)
    if isinstance(value, list):
        return "[" + ", ".join(text(item) for item in value) + "]"
    return str(value)
