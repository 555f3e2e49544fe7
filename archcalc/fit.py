"""The largest batch whose memory fits a budget: inference peak or a training step.

Every figure is linear in the batch (per-sample tensors, plus weights and
per-channel statistics that do not grow), so two analyses give the line;
the answer is then checked against a real analysis at that batch and the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import analyze
from .errors import ArchcalcError
from .ir import Network
from .report import Report

MAX_BATCH = 10**9


@dataclass(frozen=True)
class Fit:
    batch: int
    at_batch: Report  # the analysis at `batch`
    at_next: Report  # …and at batch + 1, which does not fit


def needed(report: Report, train: bool) -> int:
    """Bytes a forward pass (or a training step) needs at the report's batch."""
    return sum((report.train_breakdown() if train else report.inference_breakdown()).values())


def largest_batch(net: Network, budget: int, *, train: bool = False, dtype: str = "float32",
                  optimizer: str = "sgd", input_shape: tuple[int, ...] | None = None) -> Fit:
    def at(batch: int) -> Report:
        return analyze(net, batch, dtype, input_shape=input_shape, optimizer=optimizer)

    one, two = at(1), at(2)
    if needed(one, train) > budget:
        raise ArchcalcError(f"{net.name} does not fit in {budget:,} bytes even at batch 1 "
                            f"(needs {needed(one, train):,} bytes)")
    per_sample = needed(two, train) - needed(one, train)
    fixed = needed(one, train) - per_sample
    batch = MAX_BATCH if per_sample <= 0 else min(MAX_BATCH, (budget - fixed) // per_sample)
    while batch > 1 and needed(at(batch), train) > budget:  # guard against rounding in the line
        batch -= 1
    while batch < MAX_BATCH and needed(at(batch + 1), train) <= budget:
        batch += 1
    return Fit(batch, at(batch), at(batch + 1))
