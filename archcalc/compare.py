"""Networks side by side under one convention: the figures `archcalc compare` shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .report import Report


@dataclass(frozen=True)
class Metric:
    label: str
    key: str  # its name in JSON
    unit: str  # "count", "ops" or "bytes": how it is printed
    value: Callable[[Report], int]


METRICS = (
    Metric("Depth (weight layers)", "depth", "count", lambda r: r.totals.depth),
    Metric("Parameters", "params", "ops", lambda r: r.totals.params),
    Metric("MACs, forward", "macs", "ops", lambda r: r.totals.macs),
    Metric("FLOPs, forward (2 × MACs)", "flops", "ops", lambda r: r.totals.flops),
    Metric("MACs, training step (fwd + bwd)", "train_step_macs", "ops", lambda r: r.totals.macs + r.totals.backward_macs),
    Metric("Activation sum", "activation_bytes", "bytes", lambda r: r.totals.activation_bytes),
    Metric("Inference peak", "inference_peak_bytes", "bytes", lambda r: r.totals.inference_peak_bytes),
    Metric("Training memory", "train_total_bytes", "bytes", lambda r: r.train_total_bytes),
)


def ratio(value: int, base: int) -> float | None:
    """`value` as a multiple of `base`; None when the base is zero."""
    return value / base if base else None


def table(reports: list[Report]) -> list[tuple[Metric, list[int]]]:
    """Each metric with its value for every report, in the order given."""
    return [(metric, [metric.value(r) for r in reports]) for metric in METRICS]


def to_dict(reports: list[Report]) -> dict:
    """JSON: the shared convention, then one totals object per network with ratios to the first."""
    first = reports[0]
    return {
        "batch": first.batch, "dtype": first.dtype, "optimizer": first.optimizer,
        "networks": [
            {"name": r.name, "input": list(r.input),
             "totals": {m.key: m.value(r) for m in METRICS},
             "ratio_to_first": {m.key: ratio(m.value(r), m.value(first)) for m in METRICS}}
            for r in reports
        ],
    }
