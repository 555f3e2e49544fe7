"""`compare` (networks side by side) and `fit` (the largest batch in a memory budget)."""

from __future__ import annotations

import csv
import io
import json
import sys

from rich import box
from rich.table import Table

from .. import catalog, compare, render
from ..analysis import analyze
from ..fit import Fit, largest_batch, needed
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
            "MACs are multiply-accumulates of conv and fc; MiB = 2²⁰ bytes.")
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
         option("--format", "-f", dest="fmt", choices=("text", "json"), default="text",
                help="text, or json: {network, budget_bytes, mode, optimizer, dtype, batch, at_batch, at_next}."))
def fit_command(net: str, memory: int, train: bool, optimizer: str, dtype: str, fmt: str) -> None:
    """The largest batch whose inference peak (or, with --train, training memory) fits a memory budget.

    Examples: archcalc fit resnet50 --memory 16GiB --train --optimizer adam · archcalc fit vgg16 -m 8GB ·
    archcalc fit vgg16 -m 8GB --format json
    """
    fit = largest_batch(catalog.load(net), memory, train=train, dtype=dtype, optimizer=optimizer)
    if fmt == "json":
        sys.stdout.write(json.dumps(_fit_dict(fit, memory, train, optimizer, dtype), indent=2) + "\n")
        return
    console = out_console()
    mode = f"a training step with {optimizer}" if train else "inference"
    console.print(f"{fit.at_batch.name}: batch {fit.batch:,} is the largest that fits {format_bytes(memory)} "
                  f"for {mode} ({dtype})")
    for report in (fit.at_batch, fit.at_next):
        parts = report.train_breakdown() if train else report.inference_breakdown()
        total = needed(report, train)
        verdict = "fits" if total <= memory else "does not fit"
        detail = " + ".join(f"{label} {format_bytes(value)}" for label, value in parts.items() if value)
        console.print(f"  batch {report.batch:,}: {format_bytes(total)} ({total:,} B) {verdict} = {detail}")


def _fit_dict(fit: Fit, memory: int, train: bool, optimizer: str, dtype: str) -> dict:
    """`fit --format json`: the answer, and the bytes at that batch and the next, part by part."""

    def at(report: Report) -> dict:
        total = needed(report, train)
        parts = report.train_breakdown() if train else report.inference_breakdown()
        return {"batch": report.batch, "bytes": total, "fits": total <= memory, "parts": parts}

    return {"network": fit.at_batch.name, "budget_bytes": memory, "mode": "train" if train else "inference",
            "optimizer": optimizer, "dtype": dtype, "batch": fit.batch,
            "at_batch": at(fit.at_batch), "at_next": at(fit.at_next)}
