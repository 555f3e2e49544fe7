"""What the analytic commands share: their common parameters, loading a report, and writing it out."""

from __future__ import annotations

import argparse
import sys

from .. import catalog, render
from ..analysis import analyze
from ..ir import Network
from ..report import OPTIMIZER_STATES, Report
from ..units import DTYPE_BYTES
from .command import argument, flag, integer, option
from .registry import terminal

NET = argument("net", "NET|PATH", "A bundled network (see `archcalc list`) or a path to a .yaml spec.")
BATCH = option("--batch", "-b", metavar="N", default=1, convert=integer(1), help="Batch size for every byte figure.")
DTYPE = option("--dtype", choices=tuple(DTYPE_BYTES), default="float32", help="Element type for byte figures.")
FORMAT = option("--format", "-f", dest="fmt", choices=render.FORMATS, default="table",
                help="table (terminal), json, csv or markdown.")
OPTIMIZER = option("--optimizer", choices=tuple(OPTIMIZER_STATES), default="sgd",
                   help="Optimizer state in training memory: sgd 0, momentum 1, adam 2 tensors per parameter.")
STRICT = flag("--strict", help="Make a division that is not whole an error.")


def parse_input(text: str) -> tuple[int, ...]:
    """`3x224x224` (or `3×224×224`, or one number of features) as a shape."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) not in (1, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected C×H×W such as 3x224x224; received '{text}'")
    return tuple(int(p) for p in parts)


INPUT = option("--input", "-i", dest="input_shape", metavar="C×H×W", convert=parse_input,
               help="Override the spec's input, e.g. 3x224x224.")


def load_report(net: str, batch: int = 1, dtype: str = "float32", input_shape: tuple[int, ...] | None = None,
                strict: bool = False, optimizer: str = "sgd") -> tuple[Network, Report]:
    network = catalog.load(net)
    return network, analyze(network, batch, dtype, strict=strict, input_shape=input_shape, optimizer=optimizer)


def emit(report: Report, fmt: str, formulas: bool = False, memory: bool = False, bars: bool = False) -> None:
    """Write the report in `fmt`: a table is drawn with rich in a terminal, plain text when piped."""
    if fmt == "table" and sys.stdout.isatty():
        terminal().table(report, formulas, memory, bars)
        return
    if fmt == "table":
        text = render.table_text(report, formulas, memory, bars)
    elif fmt == "markdown":
        text = render.to_markdown(report, memory)
    else:
        text = {"json": render.to_json, "csv": render.to_csv}[fmt](report)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
