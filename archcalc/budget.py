"""Budgets a network must stay within: parameters, MACs and three memory figures at a batch.

A budget comes from a spec's own `budget:` mapping, from a YAML file of the
same keys (`archcalc check --budget FILE`) or from the command line. Values
take human units: counts `25M`, `4G` (decimal), bytes `8GiB`, `512MB`.
Memory limits hold at the budget's `batch` (else the command's `--batch`, else 1),
and a training step runs as its plan keys say (`optimizer`, `precision`,
`checkpoint`; else the command's options, else sgd, fp32, no checkpointing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import segments
from .errors import ArchcalcError, Mark, SpecError, collect, unknown
from .precision import PRECISIONS, precision_name
from .links import inside, link_problem
from .report import MAX_BATCH, Report
from .states import OPTIMIZER_STATES
from .source import YMap, describe, load_file, mark_of
from .units import OutOfRange, format_bytes, format_count, parse_bytes, parse_count

_COUNT = "a count such as 25M, 4G or 1500000"
_BYTES = "a size such as 8GiB, 8G, 512MiB or 16GB"


@dataclass(frozen=True)
class Measure:
    """One figure a budget can limit: how it is read from a report, and how it is shown."""

    label: str
    unit: str  # "count" or "bytes"
    read: Callable[[Report], int]

    def show(self, value: int) -> str:
        if self.unit == "bytes":
            return f"{value:,} B ({format_bytes(value)})"
        return f"{value:,} ({format_count(value)})"


MEASURES: dict[str, Measure] = {
    "params": Measure("parameters", "count", lambda r: r.totals.params),
    "macs": Measure("MACs", "count", lambda r: r.totals.macs),
    "activation_memory": Measure("activation memory", "bytes", lambda r: r.totals.activation_bytes),
    "inference_memory": Measure("inference memory", "bytes", lambda r: sum(r.inference_breakdown().values())),
    "train_memory": Measure("training memory", "bytes", lambda r: r.train_total_bytes),
}
PLAN_KEYS = ("optimizer", "precision", "checkpoint")  # how the training step of a memory budget runs (plan.Plan)
BUDGET_KEYS = (*MEASURES, "batch", *PLAN_KEYS)


@dataclass(frozen=True)
class Limit:
    """One limit: the figure, its largest allowed value, and where it was set."""

    key: str  # a key of MEASURES
    value: int
    source: str  # "--max-params", "budgets.yaml:2:9", "budget.params"
    mark: Mark | None = None  # where it was written, when in the spec it holds for (findings point there)


@dataclass(frozen=True)
class Budget:
    """Limits that hold together, memory ones at `batch` (None: the command's batch) and under the plan keys
    `plan` gives (the command's for the others)."""

    limits: tuple[Limit, ...] = ()
    batch: int | None = None
    plan: Mapping[str, Any] = field(default_factory=dict)  # PLAN_KEYS given: optimizer, precision, checkpoint

    def memory(self) -> bool:
        return any(MEASURES[limit.key].unit == "bytes" for limit in self.limits)


@dataclass(frozen=True)
class Overrun:
    """A figure over its limit."""

    limit: Limit
    actual: int
    batch: int
    plan: str = ""  # the training step's plan in words (plan.Plan.text)

    def message(self) -> str:
        measure = MEASURES[self.limit.key]
        what = measure.label + (f" at batch {self.batch:,}" if measure.unit == "bytes" else "")
        if self.limit.key == "train_memory":
            what += f" ({self.plan})"
        return (f"{what} over budget: expected at most {measure.show(self.limit.value)}, set by {self.limit.source};"
                f" received {measure.show(self.actual)}")


def parse_value(key: str, value: Any) -> Any:
    """A budget value in plain units (a count, bytes, a batch size, or a plan key's choice); ValueError says
    what was expected."""
    if key in PLAN_KEYS:
        return _plan_value(key, value)
    if key == "batch":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH:
            raise ValueError(f"expected an integer from 1 to {MAX_BATCH:,} for 'batch'; received {describe(value)}")
        return value
    if key not in MEASURES:
        raise ValueError(unknown("budget key", key, BUDGET_KEYS))
    expected = _BYTES if MEASURES[key].unit == "bytes" else _COUNT
    parse = parse_bytes if MEASURES[key].unit == "bytes" else parse_count
    ok = isinstance(value, str) and len(value) <= 40 or isinstance(value, int) and not isinstance(value, bool)
    try:
        if ok:
            return parse(value)  # a bare integer, in YAML or as text (`--max-train-memory 1073741824`), is bytes
    except OutOfRange as err:
        raise ValueError(f"'{key}': {err}") from None
    except ValueError:
        pass
    raise ValueError(f"expected {expected} for '{key}'; received {describe(value)}")


def _plan_value(key: str, value: Any) -> str | int:
    """An optimizer, a precision (or its dtype's name: bfloat16) or a checkpointing choice."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) and key == "checkpoint" else value
    if not isinstance(text, str) or len(text) > 40:
        raise ValueError(f"expected text for '{key}'; received {describe(value)}")
    if key == "checkpoint":
        return segments.chosen(segments.parse(text))
    choices = OPTIMIZER_STATES if key == "optimizer" else PRECISIONS
    chosen = precision_name(text) if key == "precision" else text
    if chosen not in choices:
        raise ValueError(f"expected one of {', '.join(choices)} for '{key}'; received {describe(value)}")
    return chosen


def read_budget(data: Any, mark: Mark | None, path: str, found: list[SpecError] | None = None) -> YMap:
    """A budget mapping checked: known keys, values in plain units; marks kept (SpecError otherwise; with a
    collector, `found`, every bad key and value is kept there and skipped)."""
    if not isinstance(data, YMap):
        raise SpecError(f"'budget' must be a mapping such as {{params: 25M, macs: 4G}}; received {describe(data)}",
                        mark_of(data) or mark, path)
    out = YMap()
    out.mark, out.key_marks, out.value_marks = data.mark, dict(data.key_marks), dict(data.value_marks)
    errors = []
    for key, value in data.items():
        try:
            out[key] = parse_value(key, value)
        except ValueError as err:
            where = data.key_marks[key] if key not in BUDGET_KEYS else data.value_marks[key]
            errors.append(SpecError(str(err), where, path))
    collect(errors, found)
    return out


def from_mapping(data: YMap, source: Callable[[str, Mark | None], str], *, in_spec: bool) -> Budget:
    """A Budget from a checked mapping; `source(key, mark)` names where each limit was set.

    `in_spec`: the mapping is the spec's own, so each limit keeps its mark for findings to point at.
    """
    limits = tuple(Limit(key, value, source(key, mark_of(data, key)), mark_of(data, key) if in_spec else None)
                   for key, value in data.items() if key in MEASURES)
    return Budget(limits, data.get("batch"), {key: data[key] for key in PLAN_KEYS if key in data})


def load_budget_file(path: str | Path) -> Budget:
    """A YAML file of budget keys (`params: 25M`, …) as a Budget; SpecError with file:line:col when bad."""
    here, real = os.path.realpath(os.curdir), os.path.realpath(path)
    refused = link_problem(str(path), here, where="the working directory")
    if not refused and real != os.path.abspath(path) and not inside(real, here):
        refused = "path through a symbolic link out of the working directory; not followed"
    if refused:  # held to the spec files' rule: a link out of the checkout is never read, so never quoted
        raise ArchcalcError(f"{path}: budget file is a {refused}")
    if not Path(path).is_file():
        raise ArchcalcError(f"{path}: no such budget file")
    data = load_file(path)
    if not isinstance(data, YMap):  # what it holds is not quoted: it may be any file, not a budget
        raise SpecError("a budget file is a mapping such as {params: 25M, macs: 4G}; this file is not one",
                        mark_of(data) or Mark(str(path), 1, 1))
    return from_mapping(read_budget(data, data.mark, ""), lambda key, mark: str(mark), in_spec=False)


def from_options(options: dict[str, str | None], batch: int | None) -> Budget:
    """A Budget from command-line options (`{"params": "25M"}`); ArchcalcError names the bad option."""
    limits = []
    for key, text in options.items():
        if text is None:
            continue
        option = "--max-" + key.replace("_", "-")
        try:
            limits.append(Limit(key, parse_value(key, text), option))
        except ValueError as err:
            raise ArchcalcError(f"{option}: {err}") from None
    return Budget(tuple(limits), batch)


def overruns(report: Report, limits: tuple[Limit, ...], plan: str = "") -> list[Overrun]:
    """The limits `report` exceeds (memory figures are at the report's batch; `plan`: its training step's plan
    in words)."""
    found = []
    for limit in limits:
        actual = MEASURES[limit.key].read(report)
        if actual > limit.value:
            found.append(Overrun(limit, actual, report.batch, plan))
    return found
