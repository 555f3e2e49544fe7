"""An opaque layer: an operation no kind expresses, kept with what its trace knew (rules of the importer).

Its output shape and parameters are as given (the trace's shape, the module's
parameter count); its MACs are unknown, never a silent zero: the layer is
flagged (UNKNOWN_MACS) in every output, and the totals say "at least".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from .base import Eval, Rule, Shape, num, one_input, shape_text

UNKNOWN_MACS = "MACs unknown"  # the flag's first words: render tells it from an inexact division by them


def unknown_macs(flags: tuple[str, ...]) -> list[str]:
    """The flags of opaque layers among a row's flags."""
    return [flag for flag in flags if flag.startswith(UNKNOWN_MACS)]


def _opaque(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    one_input("opaque", shapes)
    shape, params, op = tuple(args["shape"]), args["params"], args["op"]
    return Eval(shape, params=params, flags=(f"{UNKNOWN_MACS}: opaque {op}, counted as 0",),
                formulas=lambda: {"shape": f"{shape_text(shape)} (as traced: {op})",
                                  "params": f"{num(params)} (the module's)", "macs": "unknown"})


RULES = [
    Rule("opaque", "an operation no kind expresses, as traced: its output shape and parameters given, MACs unknown "
         "(flagged; totals are at least)",
         (Arg("shape", "shape", required=True, doc="the output's sizes after the batch"),
          Arg("params", "int", 0, "its parameters"),
          Arg("op", "str", required=True, doc="the operation, e.g. aten.roll")), _opaque),
]
