"""The small constants an ONNX exporter computes in the graph: a shape read, cut, scaled and joined.

An exporter without constant folding writes a Resize's scales as a Concat of Constants and a chunk's
bounds as Shape → Gather → Div. `fold` evaluates such a node over flat lists of numbers, None
for a size onnx could not infer (a symbolic one), so that a handler can read the values it needs.
Anything else is left unknown (None): nothing here allocates more than the lists it is given,
and no value grows past MAX_VALUE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_VALUE = 1 << 62  # past int64's sizes: a value that grows so (a product of products) is left unknown
Values = list[Any]  # flat, of ints, floats and None (unknown)


def _elementwise(f: Callable[[Any, Any], Any]) -> Callable[[dict, list[Values]], Values | None]:
    """A binary operator, one operand a single value or both of one length."""

    def apply(attrs: dict, values: list[Values]) -> Values | None:
        a, b = values[0], values[1]
        if len(a) != len(b) and 1 not in (len(a), len(b)):
            return None
        n = max(len(a), len(b))
        return [None if x is None or y is None else f(x, y)
                for x, y in zip(a * n if len(a) == 1 else a, b * n if len(b) == 1 else b)]

    return apply


def _divide(x: Any, y: Any) -> Any:
    if y == 0:
        return None
    return x // y if isinstance(x, int) and isinstance(y, int) else x / y


def _gather(attrs: dict, values: list[Values]) -> Values | None:
    data, index = values[0], values[1]
    if attrs.get("axis", 0) != 0 or not all(isinstance(i, int) and -len(data) <= i < len(data) for i in index):
        return None
    return [data[i] for i in index]


def _slice(attrs: dict, values: list[Values]) -> Values | None:
    data, starts, ends = values[0], values[1], values[2]
    if len(starts) != 1 or len(ends) != 1 or any(not isinstance(v, int) for v in (*starts, *ends)) or len(values) > 4:
        return None
    return data[slice(starts[0], ends[0])]


def _shape(attrs: dict, values: list[Values]) -> Values:
    return values[0][attrs.get("start", 0): attrs.get("end")]


FOLDS: dict[str, Callable[[dict, list[Values]], Values | None]] = {
    "Concat": lambda attrs, values: [x for v in values for x in v],
    "Gather": _gather,
    "Slice": _slice,
    "Add": _elementwise(lambda x, y: x + y),
    "Sub": _elementwise(lambda x, y: x - y),
    "Mul": _elementwise(lambda x, y: x * y),
    "Div": _elementwise(_divide),
    **{op: (lambda attrs, values: values[0]) for op in ("Unsqueeze", "Squeeze", "Cast", "Identity", "Reshape", "Flatten")},
}


def fold(op: str, attrs: dict, values: list[Values | None], shape: Values | None = None) -> Values | None:
    """The flat values of a node of `op` whose inputs hold `values` (None where unknown); a Shape node's
    output from `shape`, its input's inferred shape. None where they are not known."""
    if op == "Shape":
        return None if shape is None else _shape(attrs, [shape])
    if op not in FOLDS or not values or any(v is None for v in values):
        return None
    try:
        out = FOLDS[op](attrs, values)  # type: ignore[arg-type]
    except TypeError:  # values no arithmetic takes (a text, a list where a number is)
        return None
    if out is None or any(isinstance(x, (int, float)) and abs(x) > MAX_VALUE for x in out):
        return None
    return out
