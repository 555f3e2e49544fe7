"""Typed layer arguments: what a rule accepts, checked with Keras-style messages.

Each `Arg` names its type; `check` turns an expanded YAML value into the
Python value a rule computes with, or raises ValueError saying what was
expected and what was received.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from .safe import describe, shorten

MAX_INT = 10**9  # no real layer has a billion filters; bigger is a typo or an attack

_FLOAT_TEXT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")  # unambiguous: linear time on any text


class Arg(NamedTuple):  # NamedTuples, the rule table's records: a tenth of a dataclass's cost to define
    """One argument of a layer kind."""

    name: str
    type: str  # a key of _CHECKERS
    default: Any = None
    doc: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None  # the smallest number a float argument takes (torch refuses a negative eps)

    def check(self, value: Any) -> Any:
        checker = _CHECKERS[self.type]
        return checker(self, value)


def _int(arg: Arg, value: Any, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " (YAML reads yes/no/on/off as booleans)" if isinstance(value, bool) else ""
        raise ValueError(f"expected an integer for '{arg.name}'; received {describe(value)}{hint}")
    if value < low:
        raise ValueError(f"expected an integer ≥ {low} for '{arg.name}'; received {arg.name}={value}")
    if value > MAX_INT:
        raise ValueError(f"'{arg.name}' is limited to {MAX_INT:,}; received {arg.name}={value}")
    return value


MAX_AXES = 3  # spatial axes of a map: C×L, C×H×W, C×T×H×W


def _per_axis(arg: Arg, value: Any, low: int) -> int | tuple[int, ...]:
    """One integer for every spatial axis, or a list of one per axis; the rule checks its length against its input."""
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_AXES:
            raise ValueError(f"expected an integer or a list of one per spatial axis ([length], [height, width] or "
                             f"[time, height, width]) for '{arg.name}'; received a list of {len(value)}")
        return tuple(_int(arg, item, low) for item in value)
    return _int(arg, value, low)


def _padding(arg: Arg, value: Any) -> int | tuple[int, ...] | str:
    if value in ("same", "valid"):
        return value
    if isinstance(value, str):
        raise ValueError(f"expected an integer, a list of one per spatial axis, 'same' or 'valid' for '{arg.name}'; "
                         f"received {describe(value)}")
    return _per_axis(arg, value, 0)


def _float(arg: Arg, value: Any) -> float:
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        value = float(value)  # PyYAML reads 1e-5 (no dot) as text
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number for '{arg.name}'; received {describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number for '{arg.name}'; received {arg.name}={value}")
    if arg.low is not None and value < arg.low:
        raise ValueError(f"expected a number ≥ {arg.low:g} for '{arg.name}'; received {arg.name}={value:g}")
    return float(value)


def _bool(arg: Arg, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false for '{arg.name}'; received {describe(value)}")
    return value


def _text(arg: Arg, value: Any) -> str:
    if not isinstance(value, str):
        hint = " (YAML reads no/off as false; quote it)" if isinstance(value, bool) else ""
        raise ValueError(f"expected text for '{arg.name}'; received {describe(value)}{hint}")
    if arg.choices and value not in arg.choices:
        raise ValueError(f"expected one of {', '.join(arg.choices)} for '{arg.name}'; received '{shorten(value)}'")
    return value


def _table(arg: Arg, value: Any) -> tuple[tuple[int, ...], ...]:
    """A connection table: for each output map, the input maps it reads."""
    if not isinstance(value, list) or not value or not all(isinstance(row, list) and row for row in value):
        raise ValueError(f"expected a list of non-empty lists of input-map indices for '{arg.name}'; received {describe(value)}")
    return tuple(tuple(_int(arg, index) for index in row) for row in value)


def _ints(arg: Arg, value: Any, low: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of integers for '{arg.name}'; received {describe(value)}")
    return tuple(_int(arg, item, low) for item in value)


def _shape(arg: Arg, value: Any) -> tuple[int, ...]:
    """A target shape: sizes ≥ 1, and at most one -1 for the size the others leave (as torch.reshape)."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of sizes (one may be -1) for '{arg.name}'; received {describe(value)}")
    sizes = tuple(-1 if item == -1 and not isinstance(item, bool) else _int(arg, item, 1) for item in value)
    if sizes.count(-1) > 1:
        raise ValueError(f"only one size may be -1 in '{arg.name}'; received {list(sizes)}")
    return sizes


def _signed(arg: Arg, value: Any) -> int:
    """An index from the start (0, 1 …) or, negative, from the end (-1 the last), as Python's."""
    return _int(arg, value, -MAX_INT)


_CHECKERS = {
    "int": _int,
    "pos": lambda arg, value: _int(arg, value, 1),
    "per_axis": lambda arg, value: _per_axis(arg, value, 1),  # an integer, or a list of one per spatial axis
    "per_axis0": lambda arg, value: _per_axis(arg, value, 0),
    "pad": _padding,
    "float": _float,
    "bool": _bool,
    "str": _text,
    "table": _table,
    "ints": lambda arg, value: _ints(arg, value, 1),
    "ints0": lambda arg, value: _ints(arg, value, 0),
    "shape": _shape,
    "index": _signed,
}
