"""The largest batch whose memory fits a budget: inference peak or a training step, with headroom.

Memory grows with the batch (per-sample tensors, plus weights and per-channel
statistics that do not grow; checkpointed, the largest segment's too), so a
line through batches 1 and 2 gives a first guess, and real analyses around it
(widening, then halving) the answer, checked at that batch and the next.
Each batch tried is analysed once, and its memory read once, part by part
(`step`, a `Step`). With a symbolic analysis (every figure a formula in N),
the same `Goal` solves for the largest square input, or the longest sequence, instead (`fit_input`);
`answer` is `archcalc fit`, its JSON `Answer.to_dict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import sizes
from .errors import ArchcalcError, numbers_needed
from .ir import SEQUENCE, Network
from .plan import Plan
from .report import MAX_BATCH, Report
from .rules.base import shape_text
from .states import Part, labelled
from .symbolic import Expr
from .units import format_bytes


@dataclass(frozen=True)
class Headroom:
    """What a device needs beyond the step's tensors: a `reserve` (the CUDA context, cuBLAS and cuDNN
    workspaces) and a `fragmentation` allowance, a share of those tensors (blocks the caching allocator
    rounds up, splits and holds). docs/conventions.md's "Headroom" says where the defaults come from."""

    reserve: int = 0  # bytes
    fragmentation: int = 0  # percent of the tensors' bytes

    def parts(self, tensors: int) -> list[Part]:
        """The allowance and the reserve, as parts of a total."""
        return [Part("fragmentation allowance", "", -(-tensors * self.fragmentation // 100),
                     f"{self.fragmentation}% of the tensors"),
                Part("reserve", "", self.reserve, "CUDA context, cuBLAS and cuDNN workspaces")]


DEFAULT_HEADROOM = Headroom(reserve=2**30, fragmentation=10)  # what `archcalc fit` assumes unless told


class Step(NamedTuple):
    """One analysis fit tried: its report, and the bytes its step needs, part by part (headroom included;
    no parts where another figure was measured)."""

    report: Report
    bytes: int
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Goal:
    """What fit looks for: a step (training under a plan, or inference at a dtype) within a budget, after
    the headroom."""

    budget: int  # bytes of one device
    train: bool = False
    plan: Plan = field(default_factory=Plan)
    headroom: Headroom = field(default_factory=Headroom)
    dtype: str = "float32"

    def step(self, report: Report) -> Step:
        """The report's step, every part of its memory (`step`)."""
        return step(report, self.train, self.plan, self.headroom)

    def to_dict(self, name: str) -> dict[str, Any]:
        """fit's JSON before its answer: the network, the budget, and what was fitted."""
        plan = self.plan
        return {"network": name, "budget_bytes": self.budget, "mode": "train" if self.train else "inference",
                "optimizer": plan.optimizer, "dtype": plan.precision if self.train else self.dtype,
                "plan": {"precision": plan.precision, "checkpoint": plan.checkpoint, "accumulate": plan.accumulate,
                         "data_parallel": plan.devices, "shard": plan.shard} if self.train else None,
                "headroom": {"reserve": self.headroom.reserve, "fragmentation_percent": self.headroom.fragmentation}}

    def step_dict(self, step: Step) -> dict[str, Any]:
        """One analysis in fit's JSON: its batch and input, bytes, whether they fit, its parts by name (and
        dtype where a tensor has several), and every tensor with its dtype and note."""
        report = step.report
        return {"batch": report.batch, "input": list(report.input), "bytes": step.bytes,
                "fits": step.bytes <= self.budget, "parts": labelled(list(step.parts)),
                "tensors": [part._asdict() for part in step.parts]}


@dataclass(frozen=True)
class Fit:
    """The largest batch that fits, with the step at it and at the next batch (which does not fit)."""

    batch: int
    step: Step  # at `batch`
    next_step: Step | None  # …and at batch + 1; None when `batch` is MAX_BATCH
    plan: Plan = field(default_factory=Plan)
    headroom: Headroom = field(default_factory=Headroom)

    @property
    def at_batch(self) -> Report:
        return self.step.report

    @property
    def at_next(self) -> Report | None:
        return None if self.next_step is None else self.next_step.report


def step(report: Report, train: bool, plan: Plan | None = None, headroom: Headroom = Headroom()) -> Step:
    """The bytes on each device of a training step under `plan` (or of a forward pass), by tensor, then the
    headroom's: the one place fit reads a step's memory."""
    if train:
        tensors = (plan or Plan()).parts(report)
    else:
        tensors = [Part(name, report.dtype, size) for name, size in report.inference_breakdown().items()
                   if not (isinstance(size, int) and size == 0)]
    total = sum(part.bytes for part in tensors)
    found = (*tensors, *(part for part in headroom.parts(total) if part.bytes != 0))
    return Step(report, sum(part.bytes for part in found), found)


def needed(report: Report, train: bool, plan: Plan | None = None, headroom: Headroom = Headroom()) -> int:
    """Bytes a forward pass (or a training step) needs at the report's batch, headroom included."""
    return step(report, train, plan, headroom).bytes


def largest_batch(net: Network, budget: int, *, train: bool = False, dtype: str = "float32",
                  optimizer: str = "sgd", input_shape: tuple[int, ...] | None = None, plan: Plan | None = None,
                  headroom: Headroom = Headroom(), need: Callable[[Report], int] | None = None) -> Fit:
    """The largest batch (on each device) whose step fits `budget` bytes; `plan` (its optimizer wins
    over `optimizer`) says how a training step runs; `need`, when given, reads another figure from a report."""
    goal = Goal(budget, train, plan or Plan(optimizer=optimizer), headroom, dtype)
    return fit_batch(net, goal, input_shape, need)


def fit_batch(net: Network, goal: Goal, input_shape: tuple[int, ...] | None = None,
              need: Callable[[Report], int] | None = None) -> Fit:
    """The largest batch whose step reaches `goal`: each batch tried is analysed once, its parts read once."""
    steps: dict[int, Step] = {}

    def at(batch: int) -> Step:
        if batch not in steps:
            report = goal.plan.analyze(net, batch, goal.dtype, input_shape)
            steps[batch] = goal.step(report) if need is None else Step(report, need(report))
        return steps[batch]

    budget, headroom = goal.budget, goal.headroom
    if at(1).bytes > budget:
        room = ""
        if headroom.reserve or headroom.fragmentation:
            room = f", of which {headroom.reserve:,} reserved and {headroom.fragmentation}% for fragmentation"
        raise ArchcalcError(f"{net.name} does not fit in {budget:,} bytes even at batch 1 "
                            f"(needs {at(1).bytes:,} bytes{room})")
    per_sample = at(2).bytes - at(1).bytes
    guess = MAX_BATCH if per_sample <= 0 else (budget - at(1).bytes) // per_sample + 1
    batch = _largest(lambda b: at(b).bytes <= budget, guess)
    return Fit(batch, at(batch), at(batch + 1) if batch < MAX_BATCH else None, goal.plan, headroom)


# What `fit --solve` may solve for besides the batch: the variable of a symbolic input, and that input
SOLVED = {"input": (sizes.SIDE, sizes.square_input), "seq": (SEQUENCE, sizes.sequence_input)}


def fit_input(net: Network, goal: Goal, batch: int = 1, solve: str = "input") -> tuple[int, list[Step]]:
    """The largest square input side N (`solve` "input") or sequence length S ("seq") whose step reaches `goal`
    at `batch`, solved on one symbolic analysis (every figure a formula in it), and the steps there and one past."""
    variable, symbolic_input = SOLVED[solve]
    symbolic = goal.plan.analyze(net, batch, goal.dtype, input_shape=symbolic_input(net, f"--solve {solve}"))
    best = sizes.largest_input(symbolic, lambda r: goal.step(r).bytes, goal.budget, {}, variable)
    if best is None:
        raise ArchcalcError(f"{net.name} does not fit {format_bytes(goal.budget)} at batch {batch:,} with any "
                            f"{'input size' if solve == 'input' else 'sequence length'}")
    return best, [goal.step(sizes.at(symbolic, {variable: n}, net)) for n in (best, best + 1) if n <= sizes.MAX_SIDE]


@dataclass(frozen=True)
class Answer:
    """What `archcalc fit` finds: the largest batch at the spec's own input (None where that input is
    symbolic), and with `solve` "input" the largest square side (with "seq" the longest sequence) at a batch,
    with the steps at each."""

    network: Network
    goal: Goal
    solve: str  # "batch", "input" or "seq"
    fit: Fit | None
    side: int | None = None  # the size solved for: a square side N, or a sequence length S
    side_steps: tuple[Step, ...] = ()  # at `side`, and at side + 1 when that is a size archcalc takes

    def to_dict(self) -> dict[str, Any]:
        """fit's JSON (README, "JSON output"): the goal, the batch found, and with --solve input the side (with
        --solve seq the sequence length: seq, at_seq, at_next_seq)."""
        goal, fit = self.goal, self.fit
        data = goal.to_dict(self.network.name)
        if fit is not None:
            data.update(batch=fit.batch, samples_per_step=goal.plan.samples(fit.batch) if goal.train else None,
                        at_batch=goal.step_dict(fit.step),
                        at_next=fit.next_step and goal.step_dict(fit.next_step))
        if self.side is not None:
            first, *rest = self.side_steps
            key = "side" if self.solve == "input" else "seq"
            data.update({key: self.side, f"at_{key}": goal.step_dict(first),
                         f"at_next_{key}": goal.step_dict(rest[0]) if rest else None})
        return data


def answer(net: Network, goal: Goal, solve: str = "batch", batch: int = 1) -> Answer:
    """`archcalc fit`: the largest batch that reaches `goal` at the spec's input; with `solve` "input", the
    largest square input at `batch` too, with "seq" the longest sequence (and the batch only where the spec's
    input is concrete)."""
    symbolic = any(isinstance(d, Expr) for d in net.input)
    side, steps = fit_input(net, goal, batch, solve) if solve in SOLVED else (None, [])
    if symbolic and side is None:
        raise ArchcalcError(numbers_needed(net.name, shape_text(net.input), "fit --solve batch"))
    return Answer(net, goal, solve, None if symbolic else fit_batch(net, goal), side, tuple(steps))


def smaller_batch(network: Network, free: int, need: Callable[[Report], int], dtype: str = "float32") -> str:
    """The way out of a run too large: the largest batch whose figure (`need`) fits in `free` bytes."""
    try:
        fit = largest_batch(network, free, dtype=dtype, need=need)
    except ArchcalcError:
        return "it does not fit even at batch 1"
    return f"at most --batch {fit.batch:,} fits"


def _largest(fits: Callable[[int], bool], guess: int) -> int:
    """The largest batch from 1 to MAX_BATCH that fits (fits(1) holds; fitting stops once it stops),
    searched from a guess: widening steps to bracket it, then halving."""
    guess = min(max(guess, 1), MAX_BATCH)
    step = 1
    if fits(guess):
        low = guess
        while low + step <= MAX_BATCH and fits(low + step):
            low, step = low + step, step * 2
        high = min(low + step, MAX_BATCH + 1)
    else:
        high = guess
        while high - step > 1 and not fits(high - step):
            high, step = high - step, step * 2
        low = max(high - step, 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low
