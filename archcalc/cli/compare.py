"""`compare` (networks side by side) and `fit` (the largest batch, or input, in a memory budget)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich import box
from rich.table import Table

from .. import catalog, compare, render, safe
from ..conventions import MACS, UNITS
from ..fit import Goal, Step, answer
from ..plan import Plan
from ..report import MAX_BATCH, Report
from ..segments import chosen
from ..units import format_bytes, format_count, parse_bytes
from .command import UsageError, argument, checked, command, flag, integer, option
from .common import BATCH, DTYPE, FORMAT, NET, OPTIMIZER, needs_numbers
from .plan import (ACCUMULATE, CHECKPOINT, CHECKPOINTS_LISTED, DATA_PARALLEL, DATA_PARALLEL_LISTED, FRAGMENTATION,
                   OPTIMIZERS_LISTED, PRECISION, PRECISIONS_LISTED, RESERVE, SHARD, SHARDS_LISTED, check, headroom,
                   headroom_text, training_plan)
from .terminal import out_console


@command("compare",
         argument("nets", "NET|PATH…", "Bundled networks or spec paths; ratios are to the first.", nargs="+"),
         BATCH, DTYPE, OPTIMIZERS_LISTED, PRECISIONS_LISTED, CHECKPOINTS_LISTED, DATA_PARALLEL_LISTED, SHARDS_LISTED,
         FORMAT)
def compare_command(nets: list[str], batch: int, dtype: str, optimizer: tuple[str, ...] | None,
                    precision: tuple[str, ...] | None, checkpoint: tuple[str | int, ...] | None,
                    data_parallel: tuple[int, ...] | None, shard: tuple[str, ...] | None, fmt: str) -> None:
    """Networks side by side: depth, parameters, MACs, FLOPs, training-step MACs, activation sum, inference peak and training memory, with ratios to the first.

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
        sys.stdout.write(out.getvalue())
        return
    cells = [(metric.label, [compare.cell(metric.unit, v, values[0], i == 0) for i, v in enumerate(values)]) for metric, values in rows]
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
            macs = compare.ratio(r.totals.macs, first.totals.macs)
            console.print(f"{r.name}: {compare.times(factor)} {first.name}'s parameters"
                          + (f", {compare.times(macs)} its MACs" if macs is not None else ""))


@command("fit", NET,
         option("--memory", "-m", metavar="SIZE", convert=checked(parse_bytes), required=True,
                help="The budget of one device: 16GiB (or 16G), 512MiB, 8GB (10⁹ bytes), or bytes: 17179869184."),
         flag("--train", help="Fit a training step (saved activations, weights, gradients, optimizer state) "
                              "instead of inference."),
         OPTIMIZER, DTYPE, PRECISION, CHECKPOINT, ACCUMULATE, DATA_PARALLEL, SHARD, RESERVE, FRAGMENTATION,
         option("--solve", choices=("batch", "input", "seq"), default="batch",
                help="What to find: the largest batch (at the spec's input), the largest square input C×N×N, "
                     "or the longest sequence S of a token input S×D (at --batch), found through the formulas of "
                     "a symbolic analysis."),
         option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH), shown_default="1",
                help="The batch of --solve input and --solve seq."),
         option("--format", "-f", dest="fmt", choices=("text", "json"), default="text",
                help="text, or json: {network, budget_bytes, mode, optimizer, dtype, plan, headroom, batch, "
                     "samples_per_step, at_batch, at_next}; with --solve input also {side, at_side, at_next_side}, with "
                     "--solve seq {seq, at_seq, at_next_seq}; "
                     "each at_* with its parts, and every tensor by dtype."))
def fit_command(net: str, memory: int, train: bool, optimizer: str, dtype: str, precision: str | None,
                checkpoint: str | int | None, accumulate: int | None, data_parallel: int | None, shard: str | None,
                reserve: int | None, fragmentation: int | None, solve: str, batch: int | None, fmt: str) -> None:
    """The largest batch whose inference peak (or, with --train, training step) fits a device's memory,
    after a reserve and a fragmentation allowance; or, with --solve input, the largest square input at a batch
    (with --solve seq, the longest sequence of a token input).

    A training step is planned with --precision, --checkpoint, --optimizer, --accumulate, --data-parallel
    and --shard; the answer lists every tensor by dtype, and says how close the next batch comes.

    Examples: archcalc fit resnet50 --memory 24GiB --train --optimizer adam --precision amp-bf16 --checkpoint
    every-block · archcalc fit vit-b16 --memory 80GiB --train --data-parallel 8 --shard parameters ·
    archcalc fit vgg16 -m 8GB --format json · archcalc fit resnet50 --memory 16GiB --batch 32 --train --solve input
    · archcalc fit gpt2 --memory 24GiB --batch 8 --train --precision amp-bf16 --solve seq
    """
    if batch is not None and solve == "batch":
        raise UsageError("--batch is the batch of --solve input and --solve seq; fit --solve batch finds the batch")
    batch = batch or 1
    goal = Goal(memory, train, training_plan(train, optimizer, precision, checkpoint, accumulate, data_parallel,
                                             shard, dtype), headroom(reserve, fragmentation), dtype)
    found = answer(catalog.load(net), goal, solve, batch)
    if fmt == "json":
        sys.stdout.write(json.dumps(found.to_dict(), indent=2) + "\n")
        return
    console = out_console()
    network, fit = found.network, found.fit
    if found.side is not None:
        side = found.side
        if solve == "seq":
            console.print(f"{network.name}: sequence {side:,} (input {render.shape(found.side_steps[0].report.input)}) "
                          f"is the longest that fits {format_bytes(memory)} at batch {batch:,} for {_mode(goal)}",
                          markup=False)
            _print_steps(console, goal, found.side_steps, "S", lambda r: f"{r.input[0]:,}")
        else:
            console.print(f"{network.name}: input {network.input[0]}×{side}×{side} is the largest square that fits "
                          f"{format_bytes(memory)} at batch {batch:,} for {_mode(goal)}", markup=False)
            _print_steps(console, goal, found.side_steps, "N", lambda r: str(r.input[1]))
        if fit is not None:
            console.print(f"{network.name}: at its own input {render.shape(network.input)}, batch {fit.batch:,} "
                          "is the largest that fits", markup=False)
        return
    assert fit is not None  # a symbolic input without --solve input is refused by fit.answer
    largest = (f"is the largest that fits {format_bytes(memory)}" if fit.at_next is not None else
               f"fits {format_bytes(memory)}, and archcalc considers no larger batch (its limit)")
    console.print(f"{fit.at_batch.name}: batch {fit.batch:,}{' per device' if goal.plan.devices > 1 else ''} "
                  f"{largest} for {_mode(goal)}", markup=False)
    _print_steps(console, goal, [s for s in (fit.step, fit.next_step) if s is not None], "batch",
                 lambda r: f"{r.batch:,}")
    if train:
        _print_step_facts(console, goal.plan, fit.at_batch)


def _mode(goal: Goal) -> str:
    """What fit looked for, in words: the step, and the headroom it left."""
    what = f"a training step ({goal.plan.text()})" if goal.train else f"inference ({goal.dtype})"
    return f"{what}, after {headroom_text(goal.headroom)}"


def _print_steps(console: Any, goal: Goal, steps: Sequence[Step], what: str, label: Callable[[Report], str]) -> None:
    """The step that fits, part by part, and how far the next one (if any) is over the budget."""
    first, *rest = steps
    total = first.bytes
    console.print(f"  {what} {label(first.report)}: {format_bytes(total)} ({total:,} B) fits{_per_device(goal)}, "
                  f"{format_bytes(goal.budget - total)} to spare", markup=False)
    width = max(len(part.tensor) for part in first.parts)
    kinds = max(len(part.dtype) for part in first.parts)
    for part in first.parts:
        note = f"   {part.note}" if part.note else ""
        console.print(f"    {part.tensor:<{width}}  {part.dtype:<{kinds}}  {format_bytes(part.bytes):>10}{note}",
                      markup=False)
    for step in rest:
        after = step.bytes
        console.print(f"  {what} {label(step.report)}: {format_bytes(after)} ({after:,} B) does not fit, "
                      f"{format_bytes(after - goal.budget)} over ({format_bytes(after - total)} more than at "
                      f"{what} {label(first.report)})", markup=False)


def _per_device(goal: Goal) -> str:
    return f" on each of {goal.plan.devices} devices" if goal.train and goal.plan.devices > 1 else ""


def _print_step_facts(console: Any, plan: Plan, report: Report) -> None:
    """The arithmetic of a training step at the batch found, and how many samples an optimizer step sees."""
    totals = report.totals
    again = f" + {format_count(totals.recompute_macs)} forward again (checkpointing)" if totals.recompute_macs else ""
    console.print(f"  MACs per sample: {format_count(totals.macs)} forward + {format_count(totals.backward_macs)} "
                  f"backward{again}", markup=False)
    if plan.accumulate > 1 or plan.devices > 1:
        factors = [f"{report.batch:,}"] + [f"{n} {word}" for n, word in ((plan.accumulate, "micro-batches"),
                                                                         (plan.devices, "devices")) if n > 1]
        console.print(f"  samples per optimizer step: {' × '.join(factors)} = {plan.samples(report.batch):,}",
                      markup=False)
