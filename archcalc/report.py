"""The analysis result as pure data: one row per layer, totals, folding, JSON.

Element counts are per sample; every `*_bytes` figure is for the whole batch
at the report's dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Any, NamedTuple

from .symbolic import Expr, largest, text

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # tensors per parameter


class Row(NamedTuple):
    """One layer (or, folded, one block) of a report (a NamedTuple: reports of thousands of layers
    are made fast, and evaluated fast at a size when their figures are formulas)."""

    name: str
    kind: str
    output: tuple[int, ...]
    params: int  # all parameters, trained or fixed
    trainable_params: int
    buffers: int
    macs: int
    backward_macs: int
    activations: int  # elements per sample in the activation sum
    receptive_field: tuple[int, int]
    jump: tuple[int, int]  # effective stride: input pixels between neighbouring outputs
    saved_bytes: int  # what autograd keeps for backward, first kept here
    alive_bytes: int  # inference: bytes alive once this layer has run
    peak_bytes: int  # inference: bytes alive while this layer runs
    formulas: Mapping[str, str] = MappingProxyType({})
    flags: tuple[str, ...] = ()
    layers: int = 1  # primitive layers folded into this row
    inputs: tuple[str, ...] = ()  # the rows (or `input`) this one reads: the graph's edges
    args: Mapping[str, Any] = MappingProxyType({})  # the layer's arguments, late ones resolved; {} for a block


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    buffers: int
    macs: int
    backward_macs: int
    activations: int
    activation_bytes: int
    inference_peak_bytes: int
    train_saved_bytes: int
    param_bytes: int
    buffer_bytes: int
    depth: int  # weight layers (conv, fc) on the longest path, as the papers count depth
    receptive_field: tuple[int, int]

    @property
    def flops(self) -> int:
        """FLOPs as the papers count them: one multiply-add is two operations."""
        return 2 * self.macs

    @property
    def forward_backward_bytes(self) -> int:
        """The notes' rule of thumb: activations kept once for forward, once for backward."""
        return 2 * self.activation_bytes


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    source: str
    input: tuple[int, ...]
    batch: int
    dtype: str
    itemsize: int
    optimizer: str
    rows: tuple[Row, ...]
    totals: Totals
    conditions: tuple[Any, ...] = ()  # symbolic input: what validity and exactness need of it (symbolic.Condition)

    def train_breakdown(self) -> dict[str, int]:
        """Bytes of one training step: what autograd keeps, weights, gradients, optimizer state, buffers."""
        trained = self.totals.trainable_params * self.itemsize
        return {
            "saved activations": self.totals.train_saved_bytes,
            "parameters": self.totals.param_bytes,
            "gradients": trained,
            f"{self.optimizer} state": OPTIMIZER_STATES[self.optimizer] * trained,
            "buffers": self.totals.buffer_bytes,
        }

    def inference_breakdown(self) -> dict[str, int]:
        """Bytes of one forward pass: the peak of live tensors, weights, buffers."""
        return {"peak activations": self.totals.inference_peak_bytes, "parameters": self.totals.param_bytes,
                "buffers": self.totals.buffer_bytes}

    @property
    def train_total_bytes(self) -> int:
        return sum(self.train_breakdown().values())

    @property
    def symbolic(self) -> bool:
        """Whether the input (or the batch) is a symbolic size, and the figures formulas."""
        return any(isinstance(d, Expr) for d in (*self.input, self.batch))

    def to_pandas(self) -> Any:
        """The layers as a pandas DataFrame, one row per layer (needs pandas: pip install pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Report.to_pandas needs pandas: pip install pandas") from None
        rows = [{**row_dict(row), "activation_bytes": row.activations * self.itemsize * self.batch}
                for row in self.rows]
        return pandas.DataFrame(rows).set_index("name")

    def _repr_html_(self) -> str:
        """Jupyter: the table and totals as HTML."""
        from .html import fragment

        return fragment(self)

    def __rich__(self) -> Any:
        """rich: the table as `archcalc table` draws it in a terminal, with its footer."""
        from .cli.terminal import renderable

        return renderable(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (README, "JSON output"); formulas as text in archcalc's expression grammar."""
        totals = asdict(self.totals)
        totals.update(flops=self.totals.flops, forward_backward_bytes=self.totals.forward_backward_bytes,
                      train_total_bytes=self.train_total_bytes, receptive_field=_pair(self.totals.receptive_field))
        data = {
            "name": self.name, "title": self.title, "source": self.source, "input": list(self.input),
            "batch": self.batch, "dtype": self.dtype, "optimizer": self.optimizer,
            "layers": [row_dict(row) for row in self.rows],
            "totals": totals,
        }
        if not self.symbolic:
            return data
        data = _as_text(data)
        data["symbolic"] = {
            "variables": sorted({v for d in (*self.input, self.batch) if isinstance(d, Expr) for v in d.variables()}),
            "conditions": [{"layer": c.layer, "kind": c.kind, "expression": text(c.expr, "code"),
                            "modulus": c.modulus or None, "what": c.message} for c in self.conditions],
        }
        return data


def row_dict(row: Row) -> dict[str, Any]:
    """One row as the JSON contract writes it."""
    data = row._asdict()
    data.update(output=list(row.output), receptive_field=_pair(row.receptive_field), jump=_pair(row.jump),
                flags=list(row.flags), formulas=dict(row.formulas), inputs=list(row.inputs),
                args={key: _plain(value) for key, value in row.args.items()})
    return data


def _as_text(value: Any) -> Any:
    """A symbolic report's JSON: every formula as text in archcalc's expression grammar (`(H + 31) // 32`)."""
    if isinstance(value, Expr):
        return text(value, "code")
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_text(v) for v in value]
    return value

def _plain(value: Any) -> Any:
    """An argument as JSON holds it: tuples as lists, a fraction as a float, a formula as its text."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Fraction):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _pair(values: tuple[Any, Any] | None) -> list[Any] | None:
    """[h, w] for JSON: a fractional jump (after upsampling) as a float; None where there is no closed form."""
    return None if values is None else [float(v) if isinstance(v, Fraction) else v for v in values]


def fold(report: Report, depth: int | None) -> Report:
    """Rows merged to `depth` levels of their dotted names, figures summed."""
    if not depth:
        return report
    groups: dict[str, list[Row]] = {}
    for row in report.rows:
        groups.setdefault(group_name(row.name, depth), []).append(row)
    shown = {name: rows[0].name if len(rows) == 1 else name for name, rows in groups.items()}  # one layer keeps its name
    group_of = {row.name: shown[name] for name, rows in groups.items() for row in rows}
    return replace(report, rows=tuple(_merge(shown[name], rows, group_of) for name, rows in groups.items()))


def group_name(name: str, depth: int) -> str:
    """The row a layer folds into at `depth`: the first `depth` levels of its dotted name."""
    return ".".join(name.split(".")[:depth])


def _merge(name: str, rows: list[Row], group_of: Mapping[str, str]) -> Row:
    """One row for a group of layers: figures summed; its inputs are the edges that enter the group."""
    inputs = tuple(dict.fromkeys(group_of.get(source, source) for row in rows for source in row.inputs
                                 if group_of.get(source) != name))
    if len(rows) == 1:
        return rows[0]._replace(inputs=inputs)
    last = rows[-1]
    kinds = {row.kind for row in rows}
    return Row(
        name=name,
        kind=kinds.pop() if len(kinds) == 1 else "block",
        output=last.output,
        params=sum(r.params for r in rows),
        trainable_params=sum(r.trainable_params for r in rows),
        buffers=sum(r.buffers for r in rows),
        macs=sum(r.macs for r in rows),
        backward_macs=sum(r.backward_macs for r in rows),
        activations=sum(r.activations for r in rows),
        receptive_field=last.receptive_field,
        jump=last.jump,
        saved_bytes=sum(r.saved_bytes for r in rows),
        alive_bytes=last.alive_bytes,
        peak_bytes=largest(r.peak_bytes for r in rows),
        flags=tuple(f for r in rows for f in r.flags),
        layers=sum(r.layers for r in rows),
        inputs=inputs,
    )
