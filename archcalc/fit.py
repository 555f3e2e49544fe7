"""The largest batch whose memory fits a budget: inference peak or a training step, with headroom.

Memory grows with the batch (per-sample tensors, plus weights and per-channel
statistics that do not grow; checkpointed, the largest segment's too), so a
line through batches 1 and 2 gives a first guess, and real analyses around it
(widening, then halving) the answer, checked at that batch and the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ArchcalcError
from .ir import Network
from .plan import Plan
from .report import MAX_BATCH, Report
from .states import Part



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


@dataclass(frozen=True)
class Fit:
    batch: int
    at_batch: Report  # the analysis at `batch`
    at_next: Report | None  # …and at batch + 1, which does not fit; None when `batch` is MAX_BATCH
    plan: Plan = field(default_factory=Plan)
    headroom: Headroom = field(default_factory=Headroom)


def parts(report: Report, train: bool, plan: Plan | None = None, headroom: Headroom = Headroom()) -> list[Part]:
    """The bytes on each device of a training step under `plan` (or of a forward pass), by tensor,
    then the headroom's."""
    if train:
        tensors = (plan or Plan()).parts(report)
    else:
        tensors = [Part(name, report.dtype, size) for name, size in report.inference_breakdown().items()
                   if not (isinstance(size, int) and size == 0)]
    total = sum(part.bytes for part in tensors)
    return tensors + [part for part in headroom.parts(total) if part.bytes != 0]


def needed(report: Report, train: bool, plan: Plan | None = None, headroom: Headroom = Headroom()) -> int:
    """Bytes a forward pass (or a training step) needs at the report's batch, headroom included."""
    return sum(part.bytes for part in parts(report, train, plan, headroom))


def largest_batch(net: Network, budget: int, *, train: bool = False, dtype: str = "float32",
                  optimizer: str = "sgd", input_shape: tuple[int, ...] | None = None, plan: Plan | None = None,
                  headroom: Headroom = Headroom(), need: Callable[[Report], int] | None = None) -> Fit:
    """The largest batch (on each device) whose step fits `budget` bytes; `plan` (its optimizer wins
    over `optimizer`) says how a training step runs; `need`, when given, reads another figure from a report."""
    plan = plan or Plan(optimizer=optimizer)
    measure = need or (lambda report: needed(report, train, plan, headroom))
    reports: dict[int, Report] = {}

    def at(batch: int) -> Report:
        if batch not in reports:
            reports[batch] = plan.analyze(net, batch, dtype, input_shape)
        return reports[batch]

    def bytes_at(batch: int) -> int:
        return measure(at(batch))

    if bytes_at(1) > budget:
        room = ""
        if headroom.reserve or headroom.fragmentation:
            room = f", of which {headroom.reserve:,} reserved and {headroom.fragmentation}% for fragmentation"
        raise ArchcalcError(f"{net.name} does not fit in {budget:,} bytes even at batch 1 "
                            f"(needs {bytes_at(1):,} bytes{room})")
    per_sample = bytes_at(2) - bytes_at(1)
    guess = MAX_BATCH if per_sample <= 0 else (budget - bytes_at(1)) // per_sample + 1
    batch = _largest(lambda b: bytes_at(b) <= budget, guess)
    return Fit(batch, at(batch), at(batch + 1) if batch < MAX_BATCH else None, plan, headroom)


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
