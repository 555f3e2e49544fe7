"""Networks side by side, each under its training plan: the figures `archcalc compare` shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .plan import Plan
from .report import Report
from .units import format_bytes, format_count


@dataclass(frozen=True)
class Metric:
    label: str
    key: str  # its name in JSON
    unit: str  # "count", "ops" or "bytes": how it is printed
    value: Callable[[Report, Plan], int]
    shown: Callable[[Report, Plan], bool] | None = None  # None: always; else only where some network passes it


METRICS = (
    Metric("Depth (weight layers)", "depth", "count", lambda r, p: r.totals.depth),
    Metric("Parameters", "params", "ops", lambda r, p: r.totals.params),
    Metric("  active per token (moe: top k experts)", "active_params", "ops", lambda r, p: r.totals.active_params,
           lambda r, p: r.totals.active_params != r.totals.params),
    Metric("MACs, forward", "macs", "ops", lambda r, p: r.totals.macs),
    Metric("FLOPs, forward (2 × MACs)", "flops", "ops", lambda r, p: r.totals.flops),
    Metric("MACs, training step (fwd + bwd)", "train_step_macs", "ops", lambda r, p: r.totals.train_step_macs),
    Metric("  of which run again (checkpointing)", "recompute_macs", "ops", lambda r, p: r.totals.recompute_macs,
           lambda r, p: r.totals.recompute_macs != 0),
    Metric("Activation memory", "activation_bytes", "bytes", lambda r, p: r.totals.activation_bytes),
    Metric("Peak activations", "inference_peak_bytes", "bytes", lambda r, p: r.totals.inference_peak_bytes),
    Metric("Saved for backward", "train_saved_bytes", "bytes", lambda r, p: r.totals.train_saved_bytes),
    Metric("Training memory", "train_total_bytes", "bytes", lambda r, p: sum(part.bytes for part in p.parts(r))),
)
PLAN_FIELDS = ("precision", "checkpoint", "optimizer", "devices", "shard")  # what may differ between columns
MACS_KEYS = ("macs", "flops", "train_step_macs", "recompute_macs")  # lower bounds where an opaque layer's are unknown


def at_least(metric: Metric, report: Report) -> bool:
    """Whether `report`'s value of `metric` is a lower bound: MACs, some of them unknown (an opaque layer's)."""
    return metric.key in MACS_KEYS and report.totals.macs_at_least


def ratio(value: int, base: int) -> float | None:
    """`value` as a multiple of `base`; None when the base is zero."""
    return value / base if base else None


def times(factor: float) -> str:
    """2.27×, 0.11×, 0.0044× — two decimals, or two significant digits when smaller."""
    return f"{factor:.2f}×" if factor >= 0.1 else f"{factor:.2g}×"


def figure(unit: str, value: int) -> str:
    """A metric's value as shown: bytes in binary units, operations and parameters in K/M/G."""
    if unit == "bytes":
        return format_bytes(value)
    return format_count(value) if unit == "ops" else str(value)


def cell(unit: str, value: int, base: int, first: bool, bound: bool = False, base_bound: bool = False) -> str:
    """A value and, after the first column, its ratio to the first: `13.1 MiB (3.84×)`; `bound`: the value is a
    lower bound (`≥ 7.8K (≥ 0.01×)`); `base_bound`: the first's is, so no ratio is known."""
    mark = "≥ " if bound else ""
    factor = None if base_bound else ratio(value, base)
    shown = mark + figure(unit, value)
    return shown if first or factor is None else f"{shown} ({mark}{times(factor)})"


def metrics(reports: list[Report], plans: list[Plan]) -> list[Metric]:
    """The metrics shown: every one, but one with a `shown` test only where some network passes it."""
    return [m for m in METRICS if m.shown is None or any(m.shown(r, p) for r, p in zip(reports, plans))]


def table(reports: list[Report], plans: list[Plan] | None = None) -> list[tuple[Metric, list[int]]]:
    """Each metric with its value for every report (under its plan), in the order given."""
    plans = plans or [Plan(optimizer=r.optimizer) for r in reports]
    return [(metric, [metric.value(r, p) for r, p in zip(reports, plans)]) for metric in metrics(reports, plans)]


def varying(plans: list[Plan]) -> list[str]:
    """The plan fields whose values differ between columns."""
    return [name for name in PLAN_FIELDS if len({getattr(p, name) for p in plans}) > 1]


def labels(reports: list[Report], plans: list[Plan]) -> list[str]:
    """Column names: the networks', with what differs in their plans where a network appears twice."""
    names = [r.name for r in reports]
    fields = varying(plans)
    if len(set(names)) == len(names) or not fields:
        return names
    return [f"{name} ({', '.join(_word(field, getattr(plan, field)) for field in fields)})"
            for name, plan in zip(names, plans)]


def _word(field: str, value: object) -> str:
    if field == "devices":
        return f"{value} device{'s' if value != 1 else ''}"
    if field == "shard":
        return f"shard {value}"
    if field == "checkpoint":
        return "no checkpoint" if value is None else f"checkpoint {value}"
    return str(value)


def _bound(report: Report) -> dict:
    """`macs_at_least: true` where the report's MACs are a lower bound (docs/json.md); else nothing."""
    return {"macs_at_least": True} if report.totals.macs_at_least else {}


def to_dict(reports: list[Report], plans: list[Plan] | None = None) -> dict:
    """JSON: the shared convention, then one totals object per network (its plan, every tensor of its
    training step by dtype) with ratios to the first."""
    plans = plans or [Plan(optimizer=r.optimizer) for r in reports]
    first, base = reports[0], plans[0]
    shown = metrics(reports, plans)
    return {
        "batch": first.batch, "dtype": first.dtype, "optimizer": first.optimizer,
        "networks": [
            {"name": r.name, "input": list(r.input),
             "plan": {"precision": p.precision, "checkpoint": p.checkpoint, "optimizer": p.optimizer,
                      "data_parallel": p.devices, "shard": p.shard},
             "totals": {m.key: m.value(r, p) for m in shown} | _bound(r),
             "ratio_to_first": {m.key: ratio(m.value(r, p), m.value(first, base)) for m in shown},
             "train_memory": [part._asdict() for part in p.parts(r)]}
            for r, p in zip(reports, plans)
        ],
    }
