"""`compare` (networks side by side) and `fit` (the largest batch, or input, in a memory budget)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from typing import Any

from rich import box
from rich.table import Table

from .. import catalog, compare, render, sizes
from ..analysis import analyze
from ..errors import ArchcalcError
from ..fit import MAX_BATCH, Fit, largest_batch, needed
from ..ir import Network
from ..report import Report
from ..symbolic import Expr
from ..units import format_bytes, format_count, parse_bytes
from .command import argument, checked, command, flag, integer, option
from .common import BATCH, DTYPE, FORMAT, NET, OPTIMIZER, needs_numbers
from .terminal import out_console


def _figure(unit: str, value: int) -> str:
    if unit == "bytes":
        return format_bytes(value)
    return format_count(value) if unit == "ops" else str(value)


def _times(factor: float) -> str:
    """2.27×, 0.11×, 0.0044× — two decimals, or two significant digits when smaller."""
    return f"{factor:.2f}×" if factor >= 0.1 else f"{factor:.2g}×"


def _cell(unit: str, value: int, base: int, first: bool) -> str:
    shown = _figure(unit, value)
    factor = compare.ratio(value, base)
    return shown if first or factor is None else f"{shown} ({_times(factor)})"


@command("compare",
         argument("nets", "NET|PATH…", "Two or more bundled networks or spec paths; ratios are to the first.", nargs="+"),
         BATCH, DTYPE, OPTIMIZER, FORMAT)
def compare_command(nets: list[str], batch: int, dtype: str, optimizer: str, fmt: str) -> None:
    """Networks side by side: depth, parameters, MACs, FLOPs, training-step MACs, activation sum, inference peak and training memory, with ratios to the first.

    Examples: archcalc compare alexnet googlenet · archcalc compare resnet18 resnet34 resnet50 --batch 32 --optimizer adam
    """
    reports = [analyze(catalog.load(net), batch, dtype, optimizer=optimizer) for net in nets]
    for report in reports:
        needs_numbers(report, "compare")
    _emit(reports, fmt)


def _emit(reports: list[Report], fmt: str) -> None:
    rows = compare.table(reports)
    if fmt == "json":
        sys.stdout.write(json.dumps(compare.to_dict(reports), indent=2) + "\n")
        return
    names = [r.name for r in reports]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", *names])
        writer.writerow(["input", *("x".join(map(str, r.input)) for r in reports)])
        writer.writerows([metric.key, *values] for metric, values in rows)
        sys.stdout.write(out.getvalue())
        return
    cells = [(metric.label, [_cell(metric.unit, v, values[0], i == 0) for i, v in enumerate(values)]) for metric, values in rows]
    cells.insert(0, ("Input", ["×".join(map(str, r.input)) for r in reports]))
    first = reports[0]
    note = (f"{first.dtype}, batch {first.batch}, training with {first.optimizer}; ratios (×) are to {first.name}. "
            f"MACs are {render.MACS}; MiB = 2²⁰ bytes.")
    if fmt == "markdown":
        lines = render.markdown_table(["", *names], [False, *[True] * len(names)],
                                      [[label, *values] for label, values in cells])
        sys.stdout.write("\n".join(lines + ["", render.markdown_cell(note)]) + "\n")
        return
    console = out_console()
    grid = Table(box=box.SIMPLE_HEAD if console.is_terminal else None, pad_edge=False, header_style="bold")
    grid.add_column("")
    for name in names:
        grid.add_column(name, justify="right", no_wrap=True)
    for label, values in cells:
        grid.add_row(label, *values)
    console.print(grid)
    console.print(note)
    for r in reports[1:]:
        factor = compare.ratio(r.totals.params, first.totals.params)
        if factor is not None:
            macs = compare.ratio(r.totals.macs, first.totals.macs)
            console.print(f"{r.name}: {_times(factor)} {first.name}'s parameters"
                          + (f", {_times(macs)} its MACs" if macs is not None else ""))


@command("fit", NET,
         option("--memory", "-m", metavar="SIZE", convert=checked(parse_bytes), required=True,
                help="The budget: 16GiB, 512MiB, 8GB …"),
         flag("--train", help="Fit a training step (saved activations, weights, gradients, optimizer state) "
                              "instead of inference."),
         OPTIMIZER, DTYPE,
         option("--solve", choices=("batch", "input"), default="batch",
                help="What to find: the largest batch (at the spec's input), or the largest square input "
                     "C×N×N (at --batch), found through the formulas of a symbolic analysis."),
         option("--batch", "-b", metavar="N", default=1, convert=integer(1, MAX_BATCH),
                help="The batch of --solve input."),
         option("--format", "-f", dest="fmt", choices=("text", "json"), default="text",
                help="text, or json: {network, budget_bytes, mode, optimizer, dtype, batch, at_batch, at_next}; "
                     "with --solve input also {side, at_side, at_next_side}."))
def fit_command(net: str, memory: int, train: bool, optimizer: str, dtype: str, solve: str, batch: int,
                fmt: str) -> None:
    """The largest batch whose inference peak (or, with --train, training memory) fits a memory budget;
    or, with --solve input, the largest square input at a batch.

    Examples: archcalc fit resnet50 --memory 16GiB --train --optimizer adam · archcalc fit vgg16 -m 8GB ·
    archcalc fit vgg16 -m 8GB --format json · archcalc fit resnet50 --memory 16GiB --batch 32 --train --solve input
    """
    network = catalog.load(net)
    mode = f"a training step with {optimizer}" if train else "inference"
    symbolic_spec = any(isinstance(d, Expr) for d in network.input)
    solved = _input_fit(network, memory, train, dtype, optimizer, batch) if solve == "input" else None
    fit = None
    if not symbolic_spec:
        needs_numbers(analyze(network), "fit --solve batch")
        fit = largest_batch(network, memory, train=train, dtype=dtype, optimizer=optimizer)
    elif solved is None:
        needs_numbers(analyze(network), "fit --solve batch")
    if fmt == "json":
        data = _fit_dict(fit, memory, train, optimizer, dtype) if fit else {"network": network.name}
        if solved is not None:
            side, reports = solved
            data.update(side=side, at_side=_at(reports[0], memory, train), at_next_side=_at(reports[1], memory, train)
                        if len(reports) > 1 else None)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = out_console()
    if solved is not None:
        side, reports = solved
        console.print(f"{network.name}: input {network.input[0]}×{side}×{side} is the largest square that fits "
                      f"{format_bytes(memory)} for {mode} ({dtype}, batch {batch:,})", markup=False)
        _print_breakdowns(console, reports, memory, train, "N", lambda r: str(r.input[1]))
        if fit is not None:
            console.print(f"{network.name}: at its own input {'×'.join(map(str, network.input))}, batch {fit.batch:,} "
                          "is the largest that fits", markup=False)
        return
    console.print(f"{fit.at_batch.name}: batch {fit.batch:,} is the largest that fits {format_bytes(memory)} "
                  f"for {mode} ({dtype})", markup=False)
    _print_breakdowns(console, [fit.at_batch, fit.at_next], memory, train, "batch", lambda r: f"{r.batch:,}")


def _input_fit(network: Network, memory: int, train: bool, dtype: str, optimizer: str,
               batch: int) -> tuple[int, list[Report]]:
    """The largest side N whose memory fits, solved on the symbolic analysis, and the reports at N and N + 1."""
    if len(network.input) != 3:
        raise ArchcalcError(f"{network.name}: --solve input needs a C×H×W input")
    channels, side = network.input[0], Expr.var(sizes.SIDE)
    symbolic = analyze(network, batch, dtype, input_shape=(channels, side, side), optimizer=optimizer)
    best = sizes.largest_input(symbolic, lambda r: needed(r, train), memory, {})
    if best is None:
        raise ArchcalcError(f"{network.name} does not fit {format_bytes(memory)} at batch {batch:,} with any input size")
    return best, [sizes.at(symbolic, {sizes.SIDE: n}, network) for n in (best, best + 1) if n <= sizes.MAX_SIDE]


def _print_breakdowns(console: Any, reports: list[Report], memory: int, train: bool, what: str,
                      label: Callable[[Report], str]) -> None:
    for report in reports:
        parts = report.train_breakdown() if train else report.inference_breakdown()
        total = needed(report, train)
        verdict = "fits" if total <= memory else "does not fit"
        detail = " + ".join(f"{name} {format_bytes(value)}" for name, value in parts.items() if value)
        console.print(f"  {what} {label(report)}: {format_bytes(total)} ({total:,} B) {verdict} = {detail}", markup=False)


def _at(report: Report, memory: int, train: bool) -> dict:
    """One analysis in fit's JSON: its batch (and input), bytes, whether they fit, part by part."""
    total = needed(report, train)
    parts = report.train_breakdown() if train else report.inference_breakdown()
    return {"batch": report.batch, "input": list(report.input), "bytes": total, "fits": total <= memory, "parts": parts}


def _fit_dict(fit: Fit, memory: int, train: bool, optimizer: str, dtype: str) -> dict:
    """`fit --format json`: the answer, and the bytes at that batch and the next, part by part."""
    return {"network": fit.at_batch.name, "budget_bytes": memory, "mode": "train" if train else "inference",
            "optimizer": optimizer, "dtype": dtype, "batch": fit.batch,
            "at_batch": _at(fit.at_batch, memory, train), "at_next": _at(fit.at_next, memory, train)}
