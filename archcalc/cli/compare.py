"""`compare`: networks side by side."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated, Any

from rich import box
from rich.table import Table

from .. import catalog, compare, render, safe
from ..conventions import MACS, UNITS
from ..plan import Plan
from ..report import Report
from ..segments import chosen
from .command import UsageError, argument, command
from .common import BATCH, DTYPE, FORMAT, complete_networks, needs_numbers
from .plan import (CHECKPOINTS_LISTED, DATA_PARALLEL_LISTED, OPTIMIZERS_LISTED, PRECISIONS_LISTED, SHARDS_LISTED,
                   check)
from .terminal import out_console


@command("compare")
def compare_command(nets: Annotated[list[str], argument("NET|PATH…", "Bundled networks, spec paths or models "
                                                                   "(such as torchvision:NAME or a .onnx file); "
                                                                   "ratios are to the first.",
                                                               complete=complete_networks)],
                    batch: BATCH = 1, dtype: DTYPE = "float32", optimizer: OPTIMIZERS_LISTED = None,
                    precision: PRECISIONS_LISTED = None, checkpoint: CHECKPOINTS_LISTED = None,
                    data_parallel: DATA_PARALLEL_LISTED = None, shard: SHARDS_LISTED = None,
                    fmt: FORMAT = "table") -> None:
    """Networks side by side: depth, parameters, MACs, FLOPs, training-step MACs, activation memory, peak activations and training memory, with ratios to the first.

    Each column is one network under one training plan: a comma-separated --precision, --checkpoint,
    --optimizer, --data-parallel or --shard gives one value per column (one value: every column), so the
    same network can stand beside itself under several regimes.

    Examples: archcalc compare alexnet googlenet · archcalc compare resnet18 resnet34 resnet50 --batch 32 --optimizer adam ·
    archcalc compare resnet50 resnet50 --precision fp32,amp-bf16 · archcalc compare vit-b16 --checkpoint none,every-block
    """
    columns = _columns(nets=tuple(nets), optimizer=optimizer or ("sgd",), precision=precision or (None,),
                       checkpoint=checkpoint or (None,), devices=data_parallel or (1,), shard=shard or ("none",))
    if precision is not None and dtype != "float32":
        raise UsageError("--precision sets the type of every tensor of a training step; leave out --dtype")
    plans = []
    for column in columns:
        plan = Plan(column["precision"], column["optimizer"], chosen(column["checkpoint"]), 1, column["devices"],
                    column["shard"])
        check(plan)
        plans.append(plan)
    reports = [plan.analyze(catalog.load(column["nets"]), batch, dtype) for plan, column in zip(plans, columns)]
    for report in reports:
        needs_numbers(report, "compare")
    _emit(reports, plans, fmt)


def _columns(**values: tuple) -> list[dict[str, Any]]:
    """One column per network and regime: each option's list has one value (for every column) or one per column."""
    count = max(len(v) for v in values.values())
    for name, listed in values.items():
        if len(listed) not in (1, count):
            option = "networks" if name == "nets" else f"--{name.replace('devices', 'data-parallel')}"
            raise UsageError(f"{option} gives {len(listed)} values for {count} columns: give one, or one per column")
    return [{name: listed[i % len(listed)] for name, listed in values.items()} for i in range(count)]


def _emit(reports: list[Report], plans: list[Plan], fmt: str) -> None:
    rows = compare.table(reports, plans)
    if fmt == "json":
        sys.stdout.write(json.dumps(compare.to_dict(reports, plans), indent=2) + "\n")
        return
    names = compare.labels(reports, plans)  # printable: a network's name is (expand.build)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", *map(safe.spreadsheet, names)])
        writer.writerow(["input", *("x".join(map(str, r.input)) for r in reports)])
        writer.writerows([metric.key, *values] for metric, values in rows)
        if any(r.totals.macs_at_least for r in reports):
            writer.writerow(["macs_at_least", *(str(r.totals.macs_at_least).lower() for r in reports)])
        sys.stdout.write(out.getvalue())
        return
    cells = [(metric.label, [compare.cell(metric.unit, v, values[0], i == 0, compare.at_least(metric, r),
                                          compare.at_least(metric, reports[0]))
                             for i, (v, r) in enumerate(zip(values, reports))]) for metric, values in rows]
    cells.insert(0, ("Input", [render.shape(r.input) for r in reports]))
    first = reports[0]
    varying = compare.varying(plans)
    common = plans[0].text(first.dtype) if not varying else f"{', '.join(varying)} by column"
    per_device = "; training memory per device" if any(plan.devices > 1 for plan in plans) else ""
    note = (f"batch {first.batch}, training: {common}{per_device}; ratios (×) are to {names[0]}. "
            f"MACs are {MACS}; {UNITS}.")
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
        if factor is not None and r.name != first.name:
            macs = None if first.totals.macs_at_least else compare.ratio(r.totals.macs, first.totals.macs)
            bound = "at least " if r.totals.macs_at_least else ""
            console.print(f"{r.name}: {compare.times(factor)} {first.name}'s parameters"
                          + (f", {bound}{compare.times(macs)} its MACs" if macs is not None else ""))
