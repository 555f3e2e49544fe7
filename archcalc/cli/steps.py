"""How `fit` prints what it found: the step that fits, tensor by tensor, and how far the next one is over."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..fit import Goal, Step
from ..report import Report
from ..serve import KV_DTYPES
from ..units import format_bytes
from .plan import headroom_text


def mode_text(goal: Goal) -> str:
    """What fit looked for, in words: the step, and the headroom it left."""
    if goal.train:
        what = f"a training step ({goal.plan.text()})"
    elif goal.serve is not None:
        what = f"serving ({goal.dtype} weights, KV cache {KV_DTYPES[goal.serve.kv_dtype][0]})"
    else:
        what = f"inference ({goal.dtype})"
    return f"{what}, after {headroom_text(goal.headroom)}"


def print_steps(console: Any, goal: Goal, steps: Sequence[Step], what: str, label: Callable[[Report], str]) -> None:
    """The first step, part by part, whether it fits, and how far each next one (if any) is over the budget."""
    first, *rest = steps
    total = first.bytes
    verdict = (f"fits{_per_device(goal)}, {format_bytes(goal.budget - total)} to spare" if total <= goal.budget
               else f"does not fit{_per_device(goal)}, {format_bytes(total - goal.budget)} over")
    console.print(f"  {what} {label(first.report)}: {format_bytes(total)} ({total:,} B) {verdict}", markup=False)
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
