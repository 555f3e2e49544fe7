"""One pure pass over the graph: each node through its rule, then the totals.

Receptive field over a DAG is the largest over all paths: a merge takes the
maximum of its inputs' fields (and jumps). Memory follows three conventions,
never blurred: the textbook activation sum, what autograd keeps for a
training step (unique tensors), and the inference peak by liveness.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from .errors import ShapeError
from .ir import INPUT, Layer, Network
from .report import OPTIMIZER_STATES, Report, Row, Totals
from .rules import RULES, Eval, RuleError, Shape
from .rules.base import num
from .units import DTYPE_BYTES


@dataclass(frozen=True)
class Field:
    """Receptive field, jump (effective stride) and grid (positions) of a tensor, per axis."""

    rf: tuple[int, int]
    jump: tuple[int, int]
    grid: tuple[int, int]
    formula: str = "1 (a single input pixel)"


def analyze(net: Network, batch: int = 1, dtype: str = "float32", *, strict: bool = False,
            input_shape: tuple[int, ...] | None = None, optimizer: str = "sgd") -> Report:
    """The report of `net` at a batch size and dtype; raises ShapeError on an impossible layer."""
    if batch < 1:
        raise ValueError(f"batch must be ≥ 1; received {batch}")
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype '{dtype}' (known: {', '.join(DTYPE_BYTES)})")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer '{optimizer}' (known: {', '.join(OPTIMIZER_STATES)})")
    shape_in = input_shape or net.input
    shapes: dict[str, Shape] = {INPUT: shape_in}
    fields = {INPUT: Field((1, 1), (1, 1), tuple(shape_in[1:]) if len(shape_in) == 3 else (1, 1))}
    evals = []
    for layer in net.layers:
        ev = _evaluate(layer, [shapes[i] for i in layer.inputs], strict)
        shapes[layer.name] = ev.shape
        fields[layer.name] = _field(ev, [fields[i] for i in layer.inputs])
        evals.append(ev)
    memory = _Memory(net, evals, batch, DTYPE_BYTES[dtype])
    backward = _backward_macs(net, evals)
    rows = tuple(_row(layer, ev, fields[layer.name], memory, backward[i], i)
                 for i, (layer, ev) in enumerate(zip(net.layers, evals)))
    return Report(net.name, net.title, net.source, tuple(shape_in), batch, dtype, DTYPE_BYTES[dtype], optimizer,
                  rows, _totals(net, rows, fields, memory, DTYPE_BYTES[dtype]))


def _evaluate(layer: Layer, shapes: list[Shape], strict: bool) -> Eval:
    where = f"{layer.origin.path} '{layer.name}'"
    try:
        ev = RULES[layer.kind].evaluate(layer.args, shapes)
    except (RuleError, ValueError) as err:
        raise ShapeError(str(err), layer.origin.mark, where) from None
    if strict and ev.flags:
        raise ShapeError(f"{ev.flags[0]} (--strict refuses inexact divisions)", layer.origin.mark, where)
    return ev


def _field(ev: Eval, inputs: list[Field]) -> Field:
    rf_in = tuple(max(f.rf[a] for f in inputs) for a in (0, 1))
    jump_in = tuple(max(f.jump[a] for f in inputs) for a in (0, 1))
    grid_in = inputs[0].grid
    w = ev.window
    # RF grows by (extent − 1) input jumps; the jump multiplies by the stride.
    extent = grid_in if w.whole else tuple(w.d[a] * (w.k[a] - 1) + 1 for a in (0, 1))
    step = grid_in if w.whole else w.s
    rf = tuple(rf_in[a] + (extent[a] - 1) * jump_in[a] for a in (0, 1))
    jump = tuple(jump_in[a] * step[a] for a in (0, 1))
    texts = [f"{rf_in[a]} + ({extent[a]} − 1)·{jump_in[a]} = {rf[a]}" for a in (0, 1)]
    formula = texts[0] if texts[0] == texts[1] else f"H: {texts[0]}; W: {texts[1]}"
    if len(ev.shape) == 3:
        grid = ev.shape[1:]
    else:
        grid = (1, 1) if w.whole else grid_in  # a flat vector still holds every position until fc mixes them
    return Field(rf, jump, grid, formula)  # type: ignore[arg-type]


class _Memory:
    """Storage identities, autograd's saved set and inference liveness, in bytes at a batch."""

    def __init__(self, net: Network, evals: list[Eval], batch: int, itemsize: int):
        self.batch, self.itemsize = batch, itemsize
        storage = {INPUT: INPUT}
        for layer, ev in zip(net.layers, evals):
            storage[layer.name] = storage[layer.inputs[0]] if ev.output == "view" else layer.name
        self.saved = self._saved(net, evals, storage)
        self.alive, self.peak = self._liveness(net, evals, storage)

    def bytes(self, elements: int, itemsize: int | None = None, per_sample: bool = True) -> int:
        return elements * (itemsize or self.itemsize) * (self.batch if per_sample else 1)

    def _saved(self, net: Network, evals: list[Eval], storage: dict[str, str]) -> list[int]:
        """Bytes autograd newly keeps at each layer; a tensor kept twice counts once."""
        kept: set[str] = set()
        per_layer = []
        for layer, ev in zip(net.layers, evals):
            new = 0
            for item in ev.saved:
                if item.ref.startswith("in"):
                    key = storage[layer.inputs[int(item.ref[2:])]]
                elif item.ref == "out":
                    key = storage[layer.name]
                else:
                    key = f"{layer.name}#{item.ref}"
                if key not in kept:
                    kept.add(key)
                    new += self.bytes(item.elements, item.itemsize, item.per_sample)
            per_layer.append(new)
        return per_layer

    def _liveness(self, net: Network, evals: list[Eval], storage: dict[str, str]) -> tuple[list[int], list[int]]:
        """Inference in run order: a tensor lives from its layer to its last reader."""
        last_use = {}
        for index, layer in enumerate(net.layers):
            for source in layer.inputs:
                last_use[storage[source]] = index
        sizes = {INPUT: self.bytes(prod(net.input))}
        alive = {INPUT: sizes[INPUT]}
        after, during = [], []
        for index, (layer, ev) in enumerate(zip(net.layers, evals)):
            if ev.output == "new":
                alive[layer.name] = self.bytes(prod(ev.shape))
            during.append(sum(alive.values()) + self.bytes(ev.temporaries))
            for key in [k for k in alive if last_use.get(k, len(net.layers)) <= index]:
                del alive[key]
            after.append(sum(alive.values()))
        return after, during


def _backward_macs(net: Network, evals: list[Eval]) -> list[int]:
    """Gradient MACs: w.r.t. weights where there are trained parameters, w.r.t. input where it needs one."""
    needs_grad = {INPUT: False}
    out = []
    for layer, ev in zip(net.layers, evals):
        input_grad = any(needs_grad[i] for i in layer.inputs)
        needs_grad[layer.name] = input_grad or ev.params > 0
        out.append(ev.macs * ((ev.params > 0) + input_grad))
    return out


def _row(layer: Layer, ev: Eval, field: Field, memory: _Memory, backward: int, index: int) -> Row:
    rule = RULES[layer.kind]
    counted = ev.output == "new" and not rule.fused
    return Row(
        name=layer.name, kind=layer.kind, output=ev.shape,
        params=ev.params + ev.fixed, trainable_params=ev.params, buffers=ev.buffers,
        macs=ev.macs, backward_macs=backward,
        activations=prod(ev.shape) if counted else 0,
        receptive_field=field.rf, jump=field.jump,
        saved_bytes=memory.saved[index], alive_bytes=memory.alive[index], peak_bytes=memory.peak[index],
        formulas={**ev.formulas, "receptive_field": field.formula, "memory": _memory_formula(ev, counted, memory)},
        flags=ev.flags,
    )


def _memory_formula(ev: Eval, counted: bool, memory: _Memory) -> str:
    if not counted:
        return "0 (no new tensor in the activation sum: a view, or fused into the layer before)"
    count = prod(ev.shape)
    return f"{num(count)} elements × {memory.itemsize} B × batch {memory.batch} = {num(memory.bytes(count))} B"


def _depth(net: Network) -> int:
    """Weight layers (conv, fc) on the longest path: GoogLeNet is 22 deep, ResNet-50 50."""
    deepest = {INPUT: 0}
    for layer in net.layers:
        deepest[layer.name] = max(deepest[i] for i in layer.inputs) + RULES[layer.kind].weight_layer
    return max(deepest.values())


def _totals(net: Network, rows: tuple[Row, ...], fields: dict, memory: _Memory, itemsize: int) -> Totals:
    activations = sum(r.activations for r in rows)
    params = sum(r.params for r in rows)
    buffers = sum(r.buffers for r in rows)
    return Totals(
        params=params,
        trainable_params=sum(r.trainable_params for r in rows),
        buffers=buffers,
        macs=sum(r.macs for r in rows),
        backward_macs=sum(r.backward_macs for r in rows),
        activations=activations,
        activation_bytes=memory.bytes(activations),
        inference_peak_bytes=max(memory.peak),
        train_saved_bytes=sum(memory.saved),
        param_bytes=params * itemsize,
        buffer_bytes=buffers * itemsize,
        depth=_depth(net),
        receptive_field=fields[net.layers[-1].name].rf,
    )
