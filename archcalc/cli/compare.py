"""`compare` (networks side by side) and `fit` (the largest batch in a memory budget)."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from .. import catalog, compare
from ..analysis import analyze
from ..fit import largest_batch, needed
from ..report import OPTIMIZER_STATES, Report
from ..units import format_bytes, format_count, parse_bytes
from .common import BatchOpt, Dtype, DtypeOpt, Format, app, choices, out_console, reporting

Optimizer = choices("Optimizer", OPTIMIZER_STATES)
OptimizerOpt = Annotated[Optimizer, typer.Option("--optimizer", help="Optimizer state in training memory: sgd 0, momentum 1, adam 2 tensors per parameter.")]


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


@app.command("compare")
def compare_command(
    nets: Annotated[list[str], typer.Argument(help="Two or more bundled networks or spec paths; ratios are to the first.", show_default=False, metavar="NET|PATH…")],
    batch: BatchOpt = 1,
    dtype: DtypeOpt = Dtype("float32"),
    optimizer: OptimizerOpt = Optimizer("sgd"),
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table (terminal), json, csv or markdown.")] = Format("table"),
) -> None:
    """Networks side by side: depth, parameters, MACs, FLOPs, training-step MACs, activation sum, inference peak and training memory, with ratios to the first.

    Examples: archcalc compare alexnet googlenet · archcalc compare resnet18 resnet34 resnet50 --batch 32 --optimizer adam
    """
    with reporting():
        reports = [analyze(catalog.load(net), batch, dtype.value, optimizer=optimizer.value) for net in nets]
        _emit(reports, fmt.value)


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
        lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
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


@app.command("fit")
def fit_command(
    net: Annotated[str, typer.Argument(help="A bundled network or a path to a .yaml spec.", show_default=False, metavar="NET|PATH")],
    memory: Annotated[str, typer.Option("--memory", "-m", help="The budget: 16GiB, 512MiB, 8GB …", show_default=False)],
    train: Annotated[bool, typer.Option("--train", help="Fit a training step (saved activations, weights, gradients, optimizer state) instead of inference.")] = False,
    optimizer: OptimizerOpt = Optimizer("sgd"),
    dtype: DtypeOpt = Dtype("float32"),
) -> None:
    """The largest batch whose inference peak (or, with --train, training memory) fits a memory budget.

    Examples: archcalc fit resnet50 --memory 16GiB --train --optimizer adam · archcalc fit vgg16 -m 8GB
    """
    try:
        budget = parse_bytes(memory)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--memory") from None
    with reporting():
        fit = largest_batch(catalog.load(net), budget, train=train, dtype=dtype.value, optimizer=optimizer.value)
        console = out_console()
        mode = f"a training step with {optimizer.value}" if train else "inference"
        console.print(f"{fit.at_batch.name}: batch {fit.batch:,} is the largest that fits {format_bytes(budget)} "
                      f"for {mode} ({dtype.value})")
        for report in (fit.at_batch, fit.at_next):
            parts = report.train_breakdown() if train else report.inference_breakdown()
            total = needed(report, train)
            verdict = "fits" if total <= budget else "does not fit"
            detail = " + ".join(f"{label} {format_bytes(value)}" for label, value in parts.items() if value)
            console.print(f"  batch {report.batch:,}: {format_bytes(total)} ({total:,} B) {verdict} = {detail}")
