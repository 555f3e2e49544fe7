"""The analysis result as pure data: one row per layer, totals, folding, JSON.

Element counts are per sample; every `*_bytes` figure is for the whole batch
at the report's dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ArchcalcError
from .ir import producer
from .precision import PRECISIONS, Precision, dtype_names
from .states import OPTIMIZER_STATES, Part, labelled, model_states  # noqa: F401 (OPTIMIZER_STATES, read from here)
from .symbolic import Expr, largest, text
from .units import DTYPE_BYTES

if TYPE_CHECKING:
    from .sides import Sizes

MAX_BATCH = 10**9  # the largest batch any command takes or answers

# How a report shows itself in a notebook ("html") and in rich ("rich"): filled by archcalc.views, which the
# package imports. The renderers import the report; the report never imports a renderer.
VIEWS: dict[str, Callable[[Report], Any]] = {}


class Row(NamedTuple):
    """One layer (or, folded, one block) of a report (a NamedTuple: reports of thousands of layers
    are made fast, and evaluated fast at a size when their figures are formulas)."""

    name: str
    kind: str
    output: tuple[int, ...]
    params: int  # all parameters, trained or fixed
    trainable_params: int
    active_params: int  # those one token's forward uses: `params`, or of a moe body's layer its top k experts'
    buffers: int
    macs: int
    backward_macs: int
    activations: int  # elements per sample in the activation sum
    receptive_field: tuple[int, ...]
    jump: tuple[int, ...]  # effective stride: input pixels between neighbouring outputs
    saved_bytes: int  # what autograd keeps for backward, first kept here
    alive_bytes: int  # inference: bytes alive once this layer has run
    peak_bytes: int  # inference: bytes alive while this layer runs
    formulas: Mapping[str, str] = MappingProxyType({})
    flags: tuple[str, ...] = ()
    layers: int = 1  # primitive layers folded into this row
    inputs: tuple[str, ...] = ()  # the rows (or `input`) this one reads: the graph's edges (`split1:0`: one output)
    args: Mapping[str, Any] = MappingProxyType({})  # the layer's arguments, late ones resolved; {} for a block
    outputs: tuple[tuple[int, ...], ...] = ()  # a layer with several outputs: each one's shape (`output` is the first's)
    cache: int = 0  # elements per sample kept for later decode steps (attention's K and V)


@dataclass(frozen=True)
class Totals:
    """The network's figures summed over its rows, and its memory figures."""

    params: int
    trainable_params: int
    active_params: int  # those one token's forward uses: a moe's top k experts', not all E (= params without a moe)
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
    receptive_field: tuple[int, ...]
    saved_by: tuple[tuple[str, int, int], ...] = ()  # train_saved_bytes by (activations | weight copies, itemsize)
    segments: int = 0  # checkpointed segments
    recompute_bytes: int = 0  # what the largest checkpointed segment keeps while its backward runs it again
    recompute_macs: int = 0  # forward MACs run again in backward: every checkpointed segment's
    kv_cache: int = 0  # elements per sample the attention layers keep for later decode steps (K and V)
    counter_bytes: int = 0  # of buffer_bytes, the int64 counts (BN's num_batches_tracked, 8 B each)
    macs_at_least: bool = False  # an opaque layer's MACs are unknown (counted as 0): every MACs total is a lower bound

    @property
    def flops(self) -> int:
        """FLOPs as the papers count them: one multiply-add is two operations."""
        return 2 * self.macs

    @property
    def forward_backward_bytes(self) -> int:
        """Activation memory × 2 (conventions.RULE_OF_THUMB): kept once for forward, once for backward."""
        return 2 * self.activation_bytes

    @property
    def train_step_macs(self) -> int:
        """A training step: forward, backward and the checkpointed forward run again."""
        return self.macs + self.backward_macs + self.recompute_macs


@dataclass(frozen=True, repr=False)
class Report:
    """One network analysed: its rows, totals, and what it was analysed at (batch, dtype, input, plan)."""

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
    precision: str | None = None  # a training regime (precision.PRECISIONS); None: every tensor at `dtype`
    checkpoint: str | int | None = None  # every-block, or a number of segments (segments.cut)
    device: str = "cuda"  # whose autocast op lists the tensors' types follow
    unread: tuple[str, ...] = ()  # layers, other than the last and the declared outputs, whose output no layer reads

    @property
    def regime(self) -> Precision:
        """The precision of the step: the one named, or `dtype` for everything."""
        return PRECISIONS[self.precision] if self.precision else Precision(self.dtype, self.dtype)

    def train_parts(self, devices: int = 1, shard: str = "none") -> list[Part]:
        """Bytes of one training step on each of `devices`, by tensor and dtype: what autograd keeps (and,
        checkpointed, makes again in backward), weights, gradients, optimizer state (states.model_states),
        buffers. Zero parts are left out."""
        regime, totals = self.regime, self.totals
        names = dtype_names(regime.weights, regime.autocast)
        copies_kept = regime.autocast is None or shard == "none"  # sharded, the step uses low-precision weights
        parts = [Part("saved activations", names[size], b) for what, size, b in totals.saved_by if what == "activations"]
        parts += [Part("weight copies", names[size], b, "autocast's low-precision copies, kept for backward")
                  for what, size, b in totals.saved_by if what == "weight copies" and copies_kept]
        if totals.segments:
            parts.append(Part("recomputed activations", "mixed" if regime.autocast else regime.weights,
                              totals.recompute_bytes, "the largest checkpointed segment, run again in backward"))
        parts += model_states(totals.params, totals.trainable_params, regime, self.optimizer, devices, shard)
        parts.append(Part("buffers", regime.weights, totals.buffer_bytes - totals.counter_bytes))
        parts.append(Part("buffers", "int64", totals.counter_bytes, "batch norm's batch counts"))
        if shard == "parameters" and devices > 1:
            widest = largest(row.params for row in self.rows)
            parts.append(Part("gathered weights", regime.low, DTYPE_BYTES[regime.low] * widest,
                              "the largest layer's, whole while it runs"))
        return [part for part in parts if not (isinstance(part.bytes, int) and part.bytes == 0)]

    def train_breakdown(self, devices: int = 1, shard: str = "none") -> dict[str, int]:
        """Bytes of one training step by tensor (and dtype, where one tensor has several): `train_parts`."""
        return labelled(self.train_parts(devices, shard))

    def inference_breakdown(self) -> dict[str, int]:
        """Bytes of one forward pass, its inference memory (conventions.MEMORY): the peak of live activations,
        parameters, buffers."""
        return {"peak activations": self.totals.inference_peak_bytes, "parameters": self.totals.param_bytes,
                "buffers": self.totals.buffer_bytes}

    @property
    def train_total_bytes(self) -> int:
        return sum(self.train_breakdown().values())

    @property
    def symbolic(self) -> bool:
        """Whether the input (or the batch) is a symbolic size, and the figures formulas."""
        return any(isinstance(d, Expr) for d in (*self.input, self.batch))

    def variables(self) -> set[str]:
        """The names of the symbolic sizes (H, W, N, and B for a symbolic batch); none for a concrete report."""
        return {name for d in (*self.input, self.batch) if isinstance(d, Expr) for name in d.variables()}

    def sides(self, low: int = 1, high: int = 1024) -> dict[str, Sizes]:
        """The sizes each side of a symbolic input (N, or H and W) accepts and makes exact within low..high,
        each read alone from the report's conditions (`archcalc sizes` says more); none for a concrete report."""
        from .sides import read  # a symbolic report's only: a concrete one never loads the solver

        names = self.variables() - {"B"}
        return {v: read(self.name, self.conditions, names, low, high, v) for v in sorted(names)}

    def to_pandas(self) -> Any:
        """The layers as a pandas DataFrame, one row per layer (needs pandas: pip install pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Report.to_pandas needs pandas: pip install pandas") from None
        rows = [{**row_dict(row), "activation_bytes": row.activations * self.itemsize * self.batch}
                for row in self.rows]
        return pandas.DataFrame(rows).set_index("name")

    def __repr__(self) -> str:
        """One line: what was analysed and its headline figures (`report.rows` and `report.totals` hold the rest)."""
        t = self.totals
        plan = ", ".join(f"{key} {value}" for key, value in (("precision", self.precision), ("checkpoint", self.checkpoint))
                         if value is not None)
        return (f"<Report {self.name}: input {'×'.join(map(str, self.input))}, batch {self.batch}, {self.dtype}"
                f"{', ' + plan if plan else ''}; {len(self.rows):,} rows, {t.params:,} parameters, {t.macs:,} MACs>")

    def _repr_html_(self) -> str:
        """Jupyter: the table and totals as HTML (archcalc.views)."""
        return VIEWS["html"](self)

    def __rich__(self) -> Any:
        """rich: the table as `archcalc table` draws it in a terminal, with its footer (archcalc.views)."""
        return VIEWS["rich"](self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (docs/json.md); formulas as text in archcalc's expression grammar."""
        totals = asdict(self.totals)
        names = dtype_names(self.regime.weights, self.regime.autocast)
        totals["saved_by"] = [{"tensor": what, "dtype": names[size], "bytes": b} for what, size, b in self.totals.saved_by]
        totals.update(flops=self.totals.flops, forward_backward_bytes=self.totals.forward_backward_bytes,
                      train_step_macs=self.totals.train_step_macs,
                      train_total_bytes=self.train_total_bytes, receptive_field=_pair(self.totals.receptive_field))
        if not self.totals.macs_at_least:  # the key only where it holds: the contract of every other report unchanged
            del totals["macs_at_least"]
        data = {
            "name": self.name, "title": self.title, "source": self.source, "input": list(self.input),
            "batch": self.batch, "dtype": self.dtype, "optimizer": self.optimizer, "precision": self.precision,
            "checkpoint": self.checkpoint,
            "layers": [row_dict(row) for row in self.rows],
            "totals": totals,
            "train_memory": [part._asdict() for part in self.train_parts()],
        }
        if not self.symbolic:
            return data
        data = as_text(data)
        data["symbolic"] = {
            "variables": sorted(self.variables()),
            "conditions": [{"layer": c.layer, "kind": c.kind, "expression": text(c.expr, "code"),
                            "modulus": c.modulus or None, "what": c.message} for c in self.conditions],
            "sizes": {v: found.to_dict() for v, found in self.sides().items()},
        }
        return data


def tensor_shapes(input_shape: tuple[int, ...], rows: tuple[Row, ...]) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape by the name a layer reads it by: `input`, a row's name, `split1:0` …"""
    shapes = {"input": input_shape}
    for row in rows:
        shapes[row.name] = row.output
        shapes.update((f"{row.name}:{index}", shape) for index, shape in enumerate(row.outputs))
    return shapes


def row_dict(row: Row) -> dict[str, Any]:
    """One row as the JSON contract writes it."""
    data = row._asdict()
    data.update(output=list(row.output), receptive_field=_pair(row.receptive_field), jump=_pair(row.jump),
                flags=list(row.flags), formulas=dict(row.formulas), inputs=list(row.inputs),
                args={key: _plain(value) for key, value in row.args.items()})
    outputs = data.pop("outputs")
    if outputs:  # only a layer with several has the key
        data["outputs"] = [list(shape) for shape in outputs]
    return data


def as_text(value: Any) -> Any:
    """A symbolic report's JSON: every formula as text in archcalc's expression grammar (`(H + 31) // 32`)."""
    if isinstance(value, Expr):
        return text(value, "code")
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_text(v) for v in value]
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


def _pair(values: tuple[Any, ...] | None) -> list[Any] | None:
    """[h, w] ([l], [t, h, w]) for JSON: a fractional jump (after upsampling) as a float; None where there is no closed form."""
    return None if values is None else [float(v) if isinstance(v, Fraction) else v for v in values]


def fold(report: Report, depth: int | None) -> Report:
    """Rows merged to `depth` levels of their dotted names, figures summed. A group is one subtree, its
    layers one run of rows (as a block or merge expands); layers named by hand with dots that share a
    prefix apart from one another are refused (ArchcalcError), never summed into one row."""
    if not depth:
        return report
    groups: dict[str, list[Row]] = {}
    last = None
    for row in report.rows:
        group = group_name(row.name, depth)
        if group != last and group in groups:
            raise ArchcalcError(f"cannot fold to depth {depth}: the layers under '{group}' are not one block "
                                f"('{groups[group][-1].name}' … '{row.name}', other layers between; dotted names "
                                "written by hand?); rename them or choose another --depth")
        groups.setdefault(group, []).append(row)
        last = group
    shown = {name: rows[0].name if len(rows) == 1 else name for name, rows in groups.items()}  # one layer keeps its name
    group_of = {row.name: shown[name] for name, rows in groups.items() for row in rows}
    return replace(report, rows=tuple(_merge(shown[name], rows, group_of) for name, rows in groups.items()))


BLOCK = "block"  # the kind of a folded row whose layers are of several kinds


def group_name(name: str, depth: int) -> str:
    """The row a layer folds into at `depth`: the first `depth` levels of its dotted name."""
    return ".".join(name.split(".")[:depth])


def _merge(name: str, rows: list[Row], group_of: Mapping[str, str]) -> Row:
    """One row for a group of layers: figures summed; its inputs are the edges that enter the group."""
    inputs = tuple(dict.fromkeys(group_of.get(producer(source), source) for row in rows for source in row.inputs
                                 if group_of.get(producer(source)) != name))
    if len(rows) == 1:
        return rows[0]._replace(inputs=inputs)
    last = rows[-1]
    kinds = {row.kind for row in rows}
    return Row(
        name=name,
        kind=kinds.pop() if len(kinds) == 1 else BLOCK,
        output=last.output,
        params=sum(r.params for r in rows),
        trainable_params=sum(r.trainable_params for r in rows),
        active_params=sum(r.active_params for r in rows),
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
        cache=sum(r.cache for r in rows),
    )
