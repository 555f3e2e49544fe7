"""`fit`: the largest batch, input, sequence or context whose step fits a memory budget."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

from .. import render
from ..fit import NOT_COUNTED, Goal, answer, check_batch, serve_answer
from ..plan import Plan
from ..report import MAX_BATCH, Report
from ..units import format_bytes, format_count, parse_bytes
from .command import command, flag, integer, option
from .common import DTYPE, INPUT, NET, OPTIMIZER, at_input
from .plan import (ACCUMULATE, CHECKPOINT, DATA_PARALLEL, FRAGMENTATION, PRECISION, RESERVE, SHARD, headroom,
                   training_plan)
from .serving import CONTEXT, KV_DTYPE, SERVE, print_served, serve_goal
from .steps import mode_text, print_steps
from .terminal import out_console


@command("fit")
def fit_command(
    net: NET,
    memory: Annotated[int, option("--memory", "-m", metavar="SIZE", convert=parse_bytes,
                                  help="The budget of one device: 16GiB (or 16G), 512MiB, 8GB (10⁹ bytes), or bytes: "
                                       "17179869184.")],
    train: Annotated[bool, flag("--train", help="Fit a training step (saved activations, weights, gradients, "
                                                "optimizer state) instead of inference.")] = False,
    input_shape: INPUT = None, optimizer: OPTIMIZER = "sgd", dtype: DTYPE = "float32", precision: PRECISION = None, checkpoint: CHECKPOINT = None,
    accumulate: ACCUMULATE = None, data_parallel: DATA_PARALLEL = None, shard: SHARD = None, reserve: RESERVE = None,
    fragmentation: FRAGMENTATION = None,
    solve: Annotated[str, option("--solve", choices=("batch", "input", "seq"),
                                 help="What to find: the largest batch (at the spec's input), the largest square "
                                      "input C×N×N, or the longest sequence S of a token input (S ids or S×D, at "
                                      "--batch), found through the formulas of a symbolic analysis.")] = "batch",
    batch: Annotated[Optional[int], option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH),
                                           shown_default="1",
                                           help="Whether this batch fits, every part and the margin said (without "
                                                "it, fit finds the largest); the batch of --solve input and --solve "
                                                "seq; with --serve, the batch of sequences (the longest context, or "
                                                "with --context whether it fits).")] = None,
    serve: SERVE = False, context: CONTEXT = None, kv_dtype: KV_DTYPE = None,
    fmt: Annotated[str, option("--format", "-f", choices=("text", "json"),
                               help="text, or json: {network, budget_bytes, mode, optimizer, dtype, plan, headroom, "
                                    "batch, samples_per_step, at_batch, at_next}; with --batch {batch, fits, "
                                    "margin_bytes, at_batch}; training, not_counted; with --solve input also {side, "
                                    "at_side, at_next_side}, with --solve seq {seq, at_seq, at_next_seq}; each at_* "
                                    "with its parts, and every tensor by dtype.")] = "text",
) -> None:
    """The largest batch, square input or sequence whose step fits a device's memory (inference, training or
    serving), or with --batch N whether that batch fits; after a reserve and a fragmentation allowance.

    The step is a forward pass (its inference peak), with --train a training step; --solve input finds the
    largest square input at a batch, --solve seq the longest sequence of a token input. With --serve, one
    decode step of a language model: its weights, the KV cache of --context tokens per sequence and the step's largest activation; it
    answers the largest batch, or at --batch the longest context, and says the MACs per generated token and
    of the prefill.

    A training step is planned with --precision, --checkpoint, --optimizer, --accumulate, --data-parallel
    and --shard; the answer lists every tensor by dtype, and says how close the next batch comes. With --batch N
    it says whether batch N fits, part by part, and by how much (exit 0 either way; JSON `fits`).

    Examples: archcalc fit resnet50 --memory 24GiB --train --optimizer adam --precision amp-bf16 --checkpoint
    every-block · archcalc fit resnet50-tv --memory 24GiB --train --precision amp-fp16 --batch 256 · archcalc fit vit-b16 --memory 80GiB --train --data-parallel 8 --shard parameters ·
    archcalc fit vgg16 -m 8GB --format json · archcalc fit resnet50 --memory 16GiB --batch 32 --train --solve input
    · archcalc fit gpt2 --memory 24GiB --batch 8 --train --precision amp-bf16 --solve seq ·
    archcalc fit llama-3-8b --serve --context 8192 --memory 80GiB --dtype bfloat16 --kv-dtype fp8 ·
    archcalc fit llama-3-8b --serve --batch 16 --memory 80GiB --dtype bfloat16 ·
    archcalc fit gpt2 --memory 24GiB --train --precision amp-bf16 --input 512
    """
    if serve or context is not None or kv_dtype is not None:
        found = serve_answer(at_input(net, input_shape), serve_goal(memory, serve, context, kv_dtype, batch, train, solve,
                                                           dtype, headroom(reserve, fragmentation)), batch)
        print_served(found, fmt)
        return
    goal = Goal(memory, train, training_plan(train, optimizer, precision, checkpoint, accumulate, data_parallel,
                                             shard, dtype), headroom(reserve, fragmentation), dtype)
    checking = batch is not None and solve == "batch"
    network = at_input(net, input_shape)
    found = check_batch(network, goal, batch) if checking else answer(network, goal, solve, batch or 1)
    if fmt == "json":
        sys.stdout.write(json.dumps(found.to_dict(), indent=2) + "\n")
        return
    console = out_console()
    if found.checked is not None:
        _print_checked(console, goal, found.network.name, found.checked)
        return
    batch = batch or 1
    network, fit = found.network, found.fit
    if found.side is not None:
        side = found.side
        longest = ("fits {budget}, and is the {most} the network takes" if found.beyond else
                   "is the {most} that fits {budget}")
        if solve == "seq":
            what = longest.format(budget=format_bytes(memory), most="longest")
            console.print(f"{network.name}: sequence {side:,} (input {render.shape(found.side_steps[0].report.input)}) "
                          f"{what} at batch {batch:,} for {mode_text(goal)}", markup=False)
            print_steps(console, goal, found.side_steps, "S", lambda r: f"{r.input[0]:,}")
        else:
            what = longest.format(budget=format_bytes(memory), most="largest square")
            console.print(f"{network.name}: input {network.input[0]}×{side}×{side} {what} at batch {batch:,} for "
                          f"{mode_text(goal)}", markup=False)
            print_steps(console, goal, found.side_steps, "N", lambda r: str(r.input[1]))
        if found.beyond:
            console.print(f"  {'S' if solve == 'seq' else 'N'} = {side + 1:,}: not accepted: "
                          f"{found.beyond.removeprefix('error: ')}", markup=False)
        if fit is not None:
            console.print(f"{network.name}: at its own input {render.shape(network.input)}, batch {fit.batch:,} "
                          "is the largest that fits", markup=False)
        return
    assert fit is not None  # a symbolic input without --solve input is refused by fit.answer
    largest = (f"is the largest that fits {format_bytes(memory)}" if fit.at_next is not None else
               f"fits {format_bytes(memory)}, and archcalc considers no larger batch (its limit)")
    console.print(f"{fit.at_batch.name}: batch {fit.batch:,}{' per device' if goal.plan.devices > 1 else ''} "
                  f"{largest} for {mode_text(goal)}", markup=False)
    print_steps(console, goal, [s for s in (fit.step, fit.next_step) if s is not None], "batch",
                 lambda r: f"{r.batch:,}")
    if train:
        _print_step_facts(console, goal.plan, fit.at_batch)


def _print_checked(console: Any, goal: Goal, name: str, step: Any) -> None:
    """fit --batch N: whether the step at N fits, part by part, and the margin."""
    fits = "fits" if step.bytes <= goal.budget else "does not fit"
    devices = " per device" if goal.train and goal.plan.devices > 1 else ""
    console.print(f"{name}: batch {step.report.batch:,}{devices} {fits} {format_bytes(goal.budget)} for "
                  f"{mode_text(goal)}", markup=False)
    print_steps(console, goal, [step], "batch", lambda r: f"{r.batch:,}")
    if goal.train:
        _print_step_facts(console, goal.plan, step.report)


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
    console.print(f"  not counted: {NOT_COUNTED}", markup=False)
