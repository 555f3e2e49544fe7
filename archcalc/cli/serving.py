"""`fit --serve`: its options, its goal, and how its answer is printed."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

from ..fit import Answer, Goal, Headroom, Serve
from ..precision import DTYPE_ALIASES
from ..serve import KV_DTYPES, KV_OF_DTYPE
from ..sides import MAX_SIDE
from ..units import format_bytes, format_count
from .command import UsageError, flag, integer, option
from .steps import mode_text, print_steps
from .terminal import out_console

SERVE = Annotated[bool, flag("--serve", help="Fit serving instead: one decode step of a language model, its weights "
                                          "(at --dtype), the KV cache of --context tokens per sequence and the "
                                          "step's largest activation.")]
CONTEXT = Annotated[Optional[int], option("--context", metavar="TOKENS", convert=integer(1, MAX_SIDE),
                                          help="With --serve: the tokens each sequence holds (prompt and generated); "
                                               "without it, --batch is given and the longest context is found.")]
KV_DTYPE = Annotated[Optional[str], option("--kv-dtype", choices=tuple(KV_DTYPES), shown_default="the weights' (--dtype)",
                                           aliases={name: short for short, name in DTYPE_ALIASES.items()},
                                           help="With --serve: the KV cache's element type.")]


def serve_goal(memory: int, serve: bool, context: int | None, kv_dtype: str | None, batch: int | None, train: bool,
               solve: str, dtype: str, room: Headroom) -> Goal:
    """The goal --serve and its options describe; a usage error where they contradict one another."""
    if not serve:
        raise UsageError(f"{'--context' if context is not None else '--kv-dtype'} sizes serving: add --serve")
    if train or solve != "batch":
        raise UsageError(f"--serve fits a decode step: it takes no {'--train' if train else '--solve'} (a batch, "
                         "or with --batch a context, is what it finds)")
    if context is None and batch is None:
        raise UsageError("--serve needs --context TOKENS (then it finds the batch) or --batch N (then the context)")
    return Goal(memory, headroom=room, dtype=dtype, serve=Serve(context, kv_dtype or KV_OF_DTYPE[dtype]))


def print_served(found: Answer, fmt: str) -> None:
    """fit --serve's answer: the batch (or context) found, the decode step tensor by tensor, the MACs."""
    if fmt == "json":
        sys.stdout.write(json.dumps(found.to_dict(), indent=2) + "\n")
        return
    console, goal, name, serving = out_console(), found.goal, found.network.name, found.serving
    assert serving is not None
    budget = format_bytes(goal.budget)
    if found.solve == "batch":
        fit = found.fit
        assert fit is not None
        largest = "is the largest that fits" if fit.next_step is not None else "fits, and archcalc considers no larger"
        console.print(f"{name}: batch {fit.batch:,} {largest} {budget} with a context of {serving.context:,} tokens "
                      f"for {mode_text(goal)}", markup=False)
        print_steps(console, goal, [s for s in (fit.step, fit.next_step) if s is not None], "batch",
                    lambda r: f"{r.batch:,}")
    else:
        batch = found.side_steps[0].report.batch
        fits = found.side_steps[0].bytes <= goal.budget
        said = (f"fits {budget}, and is the longest the network holds," if found.beyond else
                f"is the longest context that fits {budget}" if found.solve == "context" else
                f"fits {budget}" if fits else f"does not fit {budget}")
        console.print(f"{name}: a context of {serving.context:,} tokens at batch {batch:,} {said} for "
                      f"{mode_text(goal)}", markup=False)
        print_steps(console, goal, found.side_steps, "context", lambda r: f"{_context(r):,}")
        if found.beyond:
            console.print(f"  context {serving.context + 1:,}: not accepted: {found.beyond}", markup=False)
    console.print(f"  MACs per generated token: {format_count(serving.decode_macs)} (with {serving.context:,} tokens "
                  f"in the KV cache); prefill of {serving.context:,} tokens: {format_count(serving.prefill_macs)} "
                  "(per sequence)", markup=False)


def _context(report: object) -> int:
    """The tokens a decode step's KV cache holds: its one new token and every attention's past."""
    return 1 + next(row.args["past"] for row in report.rows if row.kind == "attention")
