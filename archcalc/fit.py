"""The largest batch whose memory fits a budget: inference peak or a training step, with headroom.

Memory grows with the batch (per-sample tensors, plus weights and per-channel
statistics that do not grow; checkpointed, the largest segment's too), so a
line through batches 1 and 2 gives a first guess, and real analyses around it
(widening, then halving) the answer, checked at that batch and the next.
Each batch tried is analysed once, and its memory read once, part by part
(`step`, a `Step`). With a symbolic analysis (every figure a formula in N),
the same `Goal` solves for the largest square input, or the longest sequence, instead (`fit_input`);
`answer` is `archcalc fit`, `check_batch` its `--batch N` (whether that batch fits), its JSON `Answer.to_dict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import serve, sizes
from .analysis import analyze
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
class Serve:
    """Serving: decode steps against a KV cache holding `context` tokens of each sequence (None: the longest
    that fits), its elements of `kv_dtype` (serve.KV_DTYPES)."""

    context: int | None
    kv_dtype: str


@dataclass(frozen=True)
class Goal:
    """What fit looks for: a step (training under a plan, inference at a dtype, or with `serve` one decode
    step against a KV cache) within a budget, after the headroom."""

    budget: int  # bytes of one device
    train: bool = False
    plan: Plan = field(default_factory=Plan)
    headroom: Headroom = field(default_factory=Headroom)
    dtype: str = "float32"
    serve: Serve | None = None

    def step(self, report: Report) -> Step:
        """The report's step, every part of its memory (`step`)."""
        return step(report, self.train, self.plan, self.headroom, self.serve)

    @property
    def mode(self) -> str:
        return "train" if self.train else "serve" if self.serve else "inference"

    def to_dict(self, name: str) -> dict[str, Any]:
        """fit's JSON before its answer: the network, the budget, and what was fitted."""
        plan = self.plan
        serving = self.serve and {"context": self.serve.context, "kv_dtype": self.serve.kv_dtype}
        return {"network": name, "budget_bytes": self.budget, "mode": self.mode, "serve": serving,
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


def step(report: Report, train: bool, plan: Plan | None = None, headroom: Headroom = Headroom(),
         serving: Serve | None = None) -> Step:
    """The bytes on each device of a training step under `plan` (or of a forward pass, or with `serving` of a
    decode step: the report is then the decode step's), by tensor, then the headroom's: the one place fit reads
    a step's memory."""
    if train:
        tensors = (plan or Plan()).parts(report)
    elif serving is not None:
        tensors = serve.serve_parts(report, serving.kv_dtype)
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

    def step_at(batch: int) -> Step:
        report = goal.plan.analyze(net, batch, goal.dtype, input_shape)
        return goal.step(report) if need is None else Step(report, need(report))

    at = cached(step_at)
    budget, headroom = goal.budget, goal.headroom
    batch = _largest_fitting(at, budget, MAX_BATCH)
    if batch is None:
        room = ""
        if headroom.reserve or headroom.fragmentation:
            room = f", of which {headroom.reserve:,} reserved and {headroom.fragmentation}% for fragmentation"
        raise ArchcalcError(f"{net.name} does not fit in {budget:,} bytes even at batch 1 "
                            f"(needs {at(1).bytes:,} bytes{room})")
    return Fit(batch, at(batch), at(batch + 1) if batch < MAX_BATCH else None, goal.plan, headroom)


def _largest_fitting(at: Callable[[int], Step], budget: int, most: int) -> int | None:
    """The largest n from 1 to `most` whose step (`at`, growing with n) fits `budget`; None when not even 1
    does. A line through n = 1 and 2 gives the first guess."""
    if at(1).bytes > budget:
        return None
    if most == 1:
        return 1
    per_one = at(2).bytes - at(1).bytes
    guess = most if per_one <= 0 else (budget - at(1).bytes) // per_one + 1
    return _largest(lambda n: at(n).bytes <= budget, guess, most)


# What `fit --solve` may solve for besides the batch: the variable of a symbolic input, and that input
SOLVED = {"input": (sizes.SIDE, sizes.square_input), "seq": (SEQUENCE, sizes.sequence_input)}


def fit_input(net: Network, goal: Goal, batch: int = 1, solve: str = "input") -> tuple[int, list[Step], str | None]:
    """The largest square input side N (`solve` "input") or sequence length S ("seq") whose step reaches `goal`
    at `batch`, solved on one symbolic analysis (every figure a formula in it), the steps there and one past, and
    why one past is not a size the network takes, when it is not (then that, not memory, binds)."""
    variable, symbolic_input = SOLVED[solve]
    symbolic = goal.plan.analyze(net, batch, goal.dtype, input_shape=symbolic_input(net, f"--solve {solve}"))
    best = sizes.largest_input(symbolic, lambda r: goal.step(r).bytes, goal.budget, {}, variable)
    if best is None:
        raise ArchcalcError(f"{net.name} does not fit {format_bytes(goal.budget)} at batch {batch:,} with any "
                            f"{'input size' if solve == 'input' else 'sequence length'}")
    steps = [goal.step(sizes.at(symbolic, {variable: best}, net))]
    beyond = None
    if best < sizes.MAX_SIDE:
        try:
            steps.append(goal.step(sizes.at(symbolic, {variable: best + 1}, net)))
        except ArchcalcError as err:  # the network refuses the next size (a position table's length): that binds
            beyond = str(err)
    return best, steps, beyond


@dataclass(frozen=True)
class Answer:
    """What `archcalc fit` finds: the largest batch at the spec's own input (None where that input is
    symbolic), and with `solve` "input" the largest square side (with "seq" the longest sequence) at a batch,
    with the steps at each."""

    network: Network
    goal: Goal
    solve: str  # "batch", "input" or "seq"; serving: "batch", "context" or "check" (at a batch and a context)
    fit: Fit | None
    side: int | None = None  # the size solved for: a square side N, a sequence length S, or a context
    side_steps: tuple[Step, ...] = ()  # at `side`, and at side + 1 when that is a size archcalc takes
    serving: Serving | None = None  # serving: the MACs of decode and prefill at the context
    beyond: str | None = None  # why side + 1 is refused by the network itself (its position table), if it is
    checked: Step | None = None  # `check_batch`: the step at the batch asked for, fitting or not

    def to_dict(self) -> dict[str, Any]:
        """fit's JSON (README, "JSON output"): the goal, the batch found, and with --solve input the side (with
        --solve seq the sequence length: seq, at_seq, at_next_seq)."""
        goal, fit = self.goal, self.fit
        data = goal.to_dict(self.network.name)
        if fit is not None:
            data.update(batch=fit.batch, samples_per_step=goal.plan.samples(fit.batch) if goal.train else None,
                        at_batch=goal.step_dict(fit.step),
                        at_next=fit.next_step and goal.step_dict(fit.next_step))
        if self.checked is not None:
            step = self.checked
            data.update(batch=step.report.batch, fits=step.bytes <= goal.budget, margin_bytes=goal.budget - step.bytes,
                        samples_per_step=goal.plan.samples(step.report.batch) if goal.train else None,
                        at_batch=goal.step_dict(step))
        if goal.train:
            data["not_counted"] = [NOT_COUNTED]
        if self.side is not None:
            first, *rest = self.side_steps
            key = {"input": "side", "seq": "seq"}.get(self.solve, "context")
            data.update({key: self.side, f"at_{key}": goal.step_dict(first)})
            if self.solve != "check":
                data[f"at_next_{key}"] = goal.step_dict(rest[0]) if rest else None
            if self.solve in (*SOLVED, "context"):
                data["limit"] = self.beyond
        if self.serving is not None:
            data["serve"].update(context=self.serving.context, decode_macs_per_token=self.serving.decode_macs,
                                 prefill_macs=self.serving.prefill_macs)
        return data


@dataclass(frozen=True)
class Serving:
    """The arithmetic of serving at a context, per sequence: one generated token's MACs with the whole context
    in the KV cache, and the prompt's prefill at once."""

    context: int
    decode_macs: int
    prefill_macs: int


def serve_answer(net: Network, goal: Goal, batch: int | None = None) -> Answer:
    """`archcalc fit --serve`: at a context the largest batch whose decode step fits (with `batch`, whether it
    fits); at a batch without a context, the longest context."""
    serving = goal.serve
    assert serving is not None
    limit = serve.context_limit(net)
    if serving.context is not None and serving.context > limit:
        raise ArchcalcError(f"{net.name} holds at most {limit:,} positions (its position table); received a "
                            f"context of {serving.context:,}")
    one = sizes.sequence_input(net, "fit --serve", 1)

    def decode_step(context: int, size: int) -> Step:
        return goal.step(goal.plan.analyze(serve.decoding(net, context - 1), size, goal.dtype, one))

    if serving.context is None:
        assert batch is not None  # the command line asks for a context or a batch
        at = cached(lambda c: decode_step(c, batch))
        context = _largest_fitting(at, goal.budget, limit)
        if context is None:
            raise ArchcalcError(f"{net.name} does not fit {format_bytes(goal.budget)} at batch {batch:,} even with a "
                                f"context of 1 token (needs {at(1).bytes:,} bytes)")
        steps = tuple(at(c) for c in (context, context + 1) if c <= limit)
        beyond = f"{net.name} holds at most {limit:,} positions (its position table)" if context == limit else None
        return Answer(net, goal, "context", None, context, steps, _serving(net, goal, steps[0].report, context),
                      beyond)
    context = serving.context
    if batch is not None:
        checked = decode_step(context, batch)
        return Answer(net, goal, "check", None, context, (checked,), _serving(net, goal, checked.report, context))
    fit = fit_batch(serve.decoding(net, context - 1), goal, one)
    return Answer(net, goal, "batch", fit, serving=_serving(net, goal, fit.at_batch, context))


def _serving(net: Network, goal: Goal, decode: Report, context: int) -> Serving:
    """The MACs of the decode step at `context` (its report's, per sequence) and of prefilling `context` tokens."""
    prefill = analyze(net, 1, goal.dtype, input_shape=sizes.sequence_input(net, "fit --serve", context))
    return Serving(context, decode.totals.macs, prefill.totals.macs)


# What a training step's parts leave out: torch's MemTracker (fake tensors, ResNet-50, Adam, batch 256) peaks
# 0.5–1.3 % above these steady tensors during backward (docs/conventions.md, "Headroom")
NOT_COUNTED = "backward's transient tensors, a little above these (the fragmentation allowance holds them)"


def check_batch(net: Network, goal: Goal, batch: int) -> Answer:
    """`archcalc fit --batch N`: the step at `batch`, part by part, whether it reaches `goal` or not."""
    if any(isinstance(d, Expr) for d in net.input):
        raise ArchcalcError(numbers_needed(net.name, shape_text(net.input), "fit --batch"))
    return Answer(net, goal, "check", None, checked=goal.step(goal.plan.analyze(net, batch, goal.dtype)))


def answer(net: Network, goal: Goal, solve: str = "batch", batch: int = 1) -> Answer:
    """`archcalc fit`: the largest batch that reaches `goal` at the spec's input; with `solve` "input", the
    largest square input at `batch` too, with "seq" the longest sequence (and the batch only where the spec's
    input is concrete)."""
    symbolic = any(isinstance(d, Expr) for d in net.input)
    side, steps, beyond = fit_input(net, goal, batch, solve) if solve in SOLVED else (None, [], None)
    if symbolic and side is None:
        raise ArchcalcError(numbers_needed(net.name, shape_text(net.input), "fit --solve batch"))
    return Answer(net, goal, solve, None if symbolic else fit_batch(net, goal), side, tuple(steps), beyond=beyond)


def smaller_batch(network: Network, free: int, need: Callable[[Report], int], dtype: str = "float32") -> str:
    """The way out of a run too large: the largest batch whose figure (`need`) fits in `free` bytes."""
    try:
        fit = largest_batch(network, free, dtype=dtype, need=need)
    except ArchcalcError:
        return "it does not fit even at batch 1"
    return f"at most --batch {fit.batch:,} fits"


def cached(at: Callable[[int], Step]) -> Callable[[int], Step]:
    """`at`, each size's step made once however often a search asks."""
    steps: dict[int, Step] = {}

    def once(n: int) -> Step:
        if n not in steps:
            steps[n] = at(n)
        return steps[n]

    return once


def _largest(fits: Callable[[int], bool], guess: int, most: int = MAX_BATCH) -> int:
    """The largest n from 1 to `most` (a batch, or a context) that fits (fits(1) holds; fitting stops once it
    stops), searched from a guess: widening steps to bracket it, then halving."""
    guess = min(max(guess, 1), most)
    step = 1
    if fits(guess):
        low = guess
        while low + step <= most and fits(low + step):
            low, step = low + step, step * 2
        high = min(low + step, most + 1)
    else:
        high = guess
        while high - step > 1 and not fits(high - step):
            high, step = high - step, step * 2
        low = max(high - step, 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low
