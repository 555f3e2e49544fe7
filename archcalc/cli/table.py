"""`table`: one network, layer by layer."""

from __future__ import annotations

from typing import Annotated, Optional

from ..report import fold
from .command import command, flag, option
from .common import (ALLOW_OPAQUE, AT, DTYPE, FORMAT, INPUT, NET, STRICT, SYMBOLIC_BATCH, at_note, depth_level,
                     emit, load_report)


@command("table")
def table_command(
    net: NET, input_shape: INPUT = None, at: AT = None, batch: SYMBOLIC_BATCH = None, dtype: DTYPE = "float32",
    fmt: FORMAT = "table",
    depth: Annotated[Optional[int], option("--depth", "-d", metavar="N", convert=depth_level,
                                           help="Fold rows to this many levels of their dotted names, figures summed.")] = None,
    formulas: Annotated[bool, flag("--formulas", help="Show the arithmetic behind each shape, parameter and MAC count.")] = False,
    strict: STRICT = False,
    memory: Annotated[bool, flag("--memory", help="Add per-layer memory: Alive (inference bytes alive after the layer, "
                                                  "a running total) and Saved (bytes autograd keeps for backward).")] = False,
    bars: Annotated[bool, flag("--bars", help="Add bars proportional to each layer's activation memory and "
                                              "parameters.")] = False,
    allow_opaque: ALLOW_OPAQUE = False,
) -> None:
    """One row per layer: output shape, parameters, MACs, activation memory, receptive field; totals below.

    With a symbolic input (--input 3xHxW, or 3xNxN for a square) every figure is an exact formula in
    the sizes and the batch B; --at N=224 evaluates those formulas at a size.

    Examples: archcalc table vgg16 · archcalc table alexnet --formulas ·
    archcalc table resnet50 --depth 1 --memory --batch 32 · archcalc table vgg16 --bars ·
    archcalc table my.yaml --format json · archcalc table resnet50 --input 3xHxW ·
    archcalc table unet --input 1xNxN --at N=572 · archcalc table torchvision:resnet50 ·
    archcalc table mypackage.models:make --input 3x32x32

    In a terminal the table fits its width: numbers are never cut; columns that do not fit are left out
    (Kind, RF, Output first) and named below it, and formulas fold under their rows. Piped, every column
    is written as plain text.
    """
    _, report = load_report(net, batch, dtype, input_shape, strict, at=at, allow_opaque=allow_opaque)
    emit(fold(report, depth), fmt, formulas, memory, bars, footer=at_note(at) if formulas else ())
