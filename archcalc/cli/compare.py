"""`compare` (networks side by side) and `fit` (the largest batch in a memory budget)."""

from __future__ import annotations

import csv
import io
import json
import sys

from rich import box
from rich.table import Table

from .. import catalog, compare, safe
from ..analysis import analyze
from ..fit import largest_batch, needed
from ..report import Report
from ..units import format_bytes, format_count, parse_bytes
from .command import argument, checked, command, flag, option
from .common import BATCH, DTYPE, FORMAT, NET, OPTIMIZER
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
    _emit(reports, fmt)


def _emit(reports: list[Report], fmt: str) -> None:
    rows = compare.table(reports)
    if fmt == "json":
        sys.stdout.write(json.dumps(compare.to_dict(reports), indent=2) + "\n")
        return
    names = [safe.printable(r.name) for r in reports]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", *map(safe.spreadsheet, names)])
        writer.writerow(["input", *("x".join(map(str, r.input)) for r in reports)])
        writer.writerows([metric.key, *values] for metric, values in rows)
        sys.stdout.write(out.getvalue())
        return
    cells = [(metric.label, [_cell(metric.unit, v, values[0], i == 0) for i, v in enumerate(values)]) for metric, values in rows]
    cells.insert(0, ("Input", ["×".join(map(str, r.input)) for r in reports]))
    first = reports[0]
    note = (f"{first.dtype}, batch {first.batch}, training with {first.optimizer}; ratios (×) are to "
            f"{safe.markdown(names[0]) if fmt == 'markdown' else names[0]}. "
            "MACs are multiply-accumulates of conv and fc; MiB = 2²⁰ bytes.")
    if fmt == "markdown":
        lines = ["| | " + " | ".join(map(safe.markdown, names)) + " |", "|---|" + "---:|" * len(names)]
        lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in cells]
        sys.stdout.write("\n".join(lines + ["", note]) + "\n")
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
                help="The budget: 16GiB (or 16G), 512MiB, 8GB (10⁹ bytes), or bytes: 17179869184."),
         flag("--train", help="Fit a training step (saved activations, weights, gradients, optimizer state) "
                              "instead of inference."),
         OPTIMIZER, DTYPE)
def fit_command(net: str, memory: int, train: bool, optimizer: str, dtype: str) -> None:
    """The largest batch whose inference peak (or, with --train, training memory) fits a memory budget.

    Examples: archcalc fit resnet50 --memory 16GiB --train --optimizer adam · archcalc fit vgg16 -m 8GB
    """
    fit = largest_batch(catalog.load(net), memory, train=train, dtype=dtype, optimizer=optimizer)
    console = out_console()
    mode = f"a training step with {optimizer}" if train else "inference"
    largest = (f"is the largest that fits {format_bytes(memory)}" if fit.at_next is not None else
               f"fits {format_bytes(memory)}, and archcalc considers no larger batch (its limit)")
    console.print(f"{fit.at_batch.name}: batch {fit.batch:,} {largest} for {mode} ({dtype})")
    for report in (fit.at_batch, fit.at_next) if fit.at_next is not None else (fit.at_batch,):
        parts = report.train_breakdown() if train else report.inference_breakdown()
        total = needed(report, train)
        verdict = "fits" if total <= memory else "does not fit"
        detail = " + ".join(f"{label} {format_bytes(value)}" for label, value in parts.items() if value)
        console.print(f"  batch {report.batch:,}: {format_bytes(total)} ({total:,} B) {verdict} = {detail}")
