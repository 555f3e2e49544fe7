"""What the analytic commands share: their common parameters, loading a report, and writing it out."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

from .. import catalog, render, sizes
from ..analysis import analyze
from ..errors import ArchcalcError, numbers_needed
from ..ir import Network
from ..report import MAX_BATCH, OPTIMIZER_STATES, Report
from ..safe import clip
from ..symbolic import Expr, is_symbolic
from ..precision import DTYPE_ALIASES
from ..units import DTYPE_BYTES
from .command import UsageError, argument, flag, integer, option
from .registry import terminal


def complete_networks(incomplete: str) -> list[str]:
    """What completes a NET: the bundled names, then the specs and folders whose path begins so."""
    names = [name for name in catalog.bundled() if name.startswith(incomplete)]
    paths = [path for path in sorted(glob.glob(glob.escape(incomplete) + "*"))
             if path.endswith((".yaml", ".yml")) or os.path.isdir(path)]
    return names + paths


NET = Annotated[str, argument("NET|PATH", "A bundled network (see `archcalc list`) or a path to a .yaml spec.",
                              complete=complete_networks)]
BATCH = Annotated[int, option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH),
                              help="Batch size for every byte figure.")]
DTYPE = Annotated[str, option("--dtype", choices=tuple(DTYPE_BYTES), aliases=DTYPE_ALIASES,
                              help="Element type for byte figures (fp32, fp16, bf16 name them too).")]
FORMAT = Annotated[str, option("--format", "-f", choices=render.FORMATS, help="table (terminal), json, csv or markdown.")]
OPTIMIZER = Annotated[str, option("--optimizer", choices=tuple(OPTIMIZER_STATES),
                                  help="Optimizer state in training memory: sgd 0, momentum 1, adam 2 tensors per "
                                       "parameter.")]
STRICT = Annotated[bool, flag("--strict", help="Make a division that is not whole an error.")]
ALLOW_OPAQUE = Annotated[bool, flag("--allow-opaque", help="For a model (torchvision:NAME or module:callable): keep each "
                                  "operation no kind expresses as an opaque layer (MACs unknown, totals at least) "
                                  "instead of refusing.")]
MAX_DEPTH = 64  # levels of a layer's dotted name: blocks and branches nest at most 32 deep


def depth_level(text: str) -> int:
    """A --depth: levels of the dotted names, from 1. Depth 0 is refused, saying why: it would fold every layer
    into one row, the total row every table already ends with."""
    if text.strip() == "0":
        raise ValueError(f"expected an integer from 1 to {MAX_DEPTH}; received '0': depth 0 would fold every layer "
                         "into the network's total row (for the totals alone: --format json's totals, or "
                         "`archcalc compare NET`)")
    return integer(1, MAX_DEPTH)(text)


INPUT = Annotated[Any, option("--input", "-i", metavar="C×H×W", convert=sizes.parse_shape,
                             help="Override the spec's input, e.g. 3x224x224 (1x16000 for a signal, 3x16x112x112 "
                                  "for a clip, 197x768 for tokens, 1024 token ids); 3xHxW (or 3xNxN, a square; 1xL; "
                                  "3xTxHxW; Sx768, a token sequence of length S; S ids) makes every figure a formula "
                                  "in the sizes.")]
AT = Annotated[Any, option("--at", metavar="SIZES", convert=sizes.parse_sizes,
                           help="Evaluate the formulas of a symbolic input at sizes, e.g. N=224, H=224,W=320,B=32, "
                                "T=16,N=112 or S=4096.")]


def batch_value(text: str) -> int | Expr:
    """A batch size: a whole number, or B (a symbolic batch: byte figures become formulas in B)."""
    if text.strip() == "B":
        return Expr.var("B")
    if text.isascii() and text.isdigit() and len(text) < 12 and 1 <= int(text) <= MAX_BATCH:
        return int(text)
    raise ValueError(f"expected an integer from 1 to {MAX_BATCH:,}, or B; received '{clip(text, 40)}'")


SYMBOLIC_BATCH = Annotated[Any, option("--batch", "-b", metavar="N|B", convert=batch_value,
                                       shown_default="1, or B with a symbolic input",
                                       help="Batch size for every byte figure; B keeps it a symbol (formulas in B).")]


def load_report(net: str, batch: int | Expr | None = 1, dtype: str = "float32",
                input_shape: tuple[int | Expr, ...] | None = None, strict: bool = False, optimizer: str = "sgd",
                at: dict[str, int] | None = None, precision: str | None = None,
                allow_opaque: bool = False) -> tuple[Network, Report]:
    """The network and its report (under a training `precision`, if given). A symbolic input (`3xHxW`, or a
    spec's own) makes a symbolic report, its batch B unless one is given; `at` then evaluates it at sizes
    (through its formulas)."""
    numeric = input_shape is not None and not any(is_symbolic(d) for d in input_shape)
    network = catalog.load(net, input_shape if numeric else None, allow_opaque=allow_opaque)  # a model: traced there
    shape = sizes.channels_first(network, input_shape) if input_shape else network.input
    symbolic = any(is_symbolic(d) for d in shape)
    if batch is None:
        batch = Expr.var("B") if symbolic and at is None else 1
    if at is not None and not (symbolic or is_symbolic(batch)):
        raise UsageError("--at evaluates a symbolic input: give --input 3xHxW or 3xNxN (or a spec with one)")
    if strict and symbolic and at is None:
        raise UsageError("--strict with a symbolic input needs sizes: give --at N=224 (`archcalc sizes NET` lists "
                         "the sizes at which every division is whole)")
    if at is not None and is_symbolic(batch) and "B" not in at:
        at = {**at, "B": 1}
    report = analyze(network, batch, dtype, strict=strict and not symbolic, input_shape=shape, optimizer=optimizer,
                     precision=precision)
    if at is not None:
        report = sizes.at(report, at, network, strict)
    return network, report


def at_note(at: dict[str, int] | None) -> list[str]:
    """Under formulas evaluated by --at: the formulas stay in the sizes, the figures beside them are at these."""
    if not at:
        return []
    return [f"Formulas are in the sizes; the figures are at {', '.join(f'{k}={v:,}' for k, v in sorted(at.items()))}"]


def needs_numbers(report: Report, command: str) -> None:
    """A command that compares figures with numbers (budgets, memory) refuses formulas, saying what to do."""
    if report.symbolic:
        raise ArchcalcError(numbers_needed(report.name, render.shape(report.input), command))


def emit(report: Report, fmt: str, formulas: bool = False, memory: bool = False, bars: bool = False,
         footer: Sequence[str] = ()) -> None:
    """Write the report in `fmt`: a table is drawn with rich in a terminal, plain text when piped; `footer`
    lines under a table. A symbolic report adds the sizes it holds for (a footer line; in JSON, its own
    `symbolic.sizes`)."""
    if fmt in ("json", "csv"):
        text = {"json": render.to_json, "csv": render.to_csv}[fmt](report)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    notes = [*sizes.summary_lines(report.sides() if report.symbolic else {}), *footer]
    if fmt == "table" and sys.stdout.isatty():
        terminal().table(report, formulas, memory, bars, notes=notes)
        return
    if fmt == "table":
        text = render.table_text(report, formulas, memory, bars) + "".join(f"{line}\n" for line in notes)
    else:
        text = render.to_markdown(report, memory) + "".join(f"{line}  \n" for line in notes)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
