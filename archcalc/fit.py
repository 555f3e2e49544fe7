"""The largest batch whose memory fits a budget: inference peak or a training step.

Every figure is linear in the batch (per-sample tensors, plus weights and
per-channel statistics that do not grow), so two analyses give the line;
the answer is then checked against a real analysis at that batch and the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .analysis import analyze
from .errors import ArchcalcError
from .ir import Network
from .report import Report

MAX_BATCH = 10**9  # the largest batch any command takes or answers


@dataclass(frozen=True)
class Fit:
    batch: int
    at_batch: Report  # the analysis at `batch`
    at_next: Report | None  # …and at batch + 1, which does not fit; None when `batch` is MAX_BATCH


def needed(report: Report, train: bool) -> int:
    """Bytes a forward pass (or a training step) needs at the report's batch."""
    return sum((report.train_breakdown() if train else report.inference_breakdown()).values())


def largest_batch(net: Network, budget: int, *, train: bool = False, dtype: str = "float32",
                  optimizer: str = "sgd", input_shape: tuple[int, ...] | None = None,
                  need: Callable[[Report], int] | None = None) -> Fit:
    """The largest batch whose bytes (`needed`, or the figure `need` reads from a report) fit `budget`."""
    measure = need or (lambda report: needed(report, train))

    @lru_cache(maxsize=None)  # the answer and the next are analysed once, whichever loop reaches them
    def at(batch: int) -> Report:
        return analyze(net, batch, dtype, input_shape=input_shape, optimizer=optimizer)

    one, two = at(1), at(2)
    if measure(one) > budget:
        raise ArchcalcError(f"{net.name} does not fit in {budget:,} bytes even at batch 1 "
                            f"(needs {measure(one):,} bytes)")
    per_sample = measure(two) - measure(one)
    fixed = measure(one) - per_sample
    batch = MAX_BATCH if per_sample <= 0 else min(MAX_BATCH, (budget - fixed) // per_sample)
    while batch > 1 and measure(at(batch)) > budget:  # guard against rounding in the line
        batch -= 1
    while batch < MAX_BATCH and measure(at(batch + 1)) <= budget:
        batch += 1
    return Fit(batch, at(batch), at(batch + 1) if batch < MAX_BATCH else None)
