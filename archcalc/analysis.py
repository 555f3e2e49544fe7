"""One pure pass over the graph: each node through its rule, then the totals.

Receptive field over a DAG is the largest over all paths: a merge takes the
maximum of its inputs' fields (and jumps). Memory follows three conventions,
never blurred: the textbook activation sum, what autograd keeps for a
training step (unique tensors), and the inference peak by liveness. A
training regime is an interpretation of the same rules: autocast gives each
tensor a type by its kind's policy (rules.base.Autocast), and checkpointing
keeps a segment's inputs in place of what its layers keep.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from fractions import Fraction
from math import prod
from typing import Any, NamedTuple

from . import late, segments
from .errors import ShapeError
from .ir import HOLE, IDS_ITEMSIZE, INPUT, UNREAD, Experts, Layer, Network, producer
from .precision import DEVICES, PRECISIONS, Precision
from .report import Report, Row, Totals
from .rules import RULES, Eval, Inputs, Role, Rule, RuleError, Saved, Shape
from .rules.base import Formulas, num, per_axis_text, product, texts
from .rules.norm import COUNTER_ITEMSIZE
from .states import OPTIMIZER_STATES
from .symbolic import Expr, Max, bounded, collecting, current_layer, is_symbolic, largest
from .units import DTYPE_BYTES

MAX_DIM = 10**12  # a tensor's dimension: past any real one; concatenation or upsampling can run away
MAX_FIELD = 10**18  # a receptive field or jump: strides multiply, and a number's text must stay short


class Field(NamedTuple):
    """Receptive field, jump (effective stride) and grid (positions) of a tensor, per axis."""

    rf: tuple[int, int]
    jump: tuple[int, int]
    grid: tuple[int, int]
    formula: Callable[[], str] = lambda: "1 (a single input pixel)"  # made on demand
    whole: bool = False  # sees the whole input (after attention, a global pool, an fc): it grows no more


def analyze(net: Network, batch: int = 1, dtype: str = "float32", *, strict: bool = False,
            input_shape: tuple[int, ...] | None = None, optimizer: str = "sgd", precision: str | None = None,
            checkpoint: str | int | None = None, device: str = "cuda", collect: bool = False) -> Report:
    """The report of `net` at a batch size and dtype; raises ShapeError on an impossible layer (with
    `collect`, Unfinished: every impossible layer whose inputs are not themselves impossible).

    `precision` (precision.PRECISIONS: fp32, amp-fp16, amp-bf16, bf16) sets the dtype of a training
    step and, under autocast, each tensor's type by the op lists of `device` (cuda or cpu);
    `checkpoint` (every-block or a number of segments) checkpoints activations (segments.cut).
    """
    regime = _regime(dtype, precision, device)
    with _without_cycle_collection(), bounded():  # bounded: the work of formulas in a symbolic size
        report = _analyze(net, batch, regime.weights, strict, input_shape, optimizer, regime.autocast, device,
                          segments.cut(net, checkpoint), collect)
    return replace(report, precision=precision, checkpoint=checkpoint, device=device)


def _regime(dtype: str, precision: str | None, device: str) -> Precision:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype '{dtype}' (known: {', '.join(DTYPE_BYTES)})")
    if device not in DEVICES:
        raise ValueError(f"unknown device '{device}' (known: {', '.join(DEVICES)})")
    if precision is None:
        return Precision(dtype, dtype)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}' (known: {', '.join(PRECISIONS)})")
    if dtype != "float32":
        raise ValueError(f"give a precision or a dtype, not both (precision {precision}, dtype {dtype})")
    return PRECISIONS[precision]


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """The analysis makes many small objects and no reference cycles: Python's cycle collector
    would rescan them all again and again (a third of the time of a 5,000-layer network)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Unfinished(ShapeError):
    """A collecting analysis that could not finish: every layer's error (the first is its message), and the
    inexact divisions of the layers it did evaluate, as (layer, flags)."""

    def __init__(self, errors: list[ShapeError], flagged: list[tuple[Layer, tuple[str, ...]]]):
        first = errors[0] if errors else ShapeError("layers after a spec error were not analysed")
        super().__init__(first.message, first.mark, first.path)
        self.errors, self.flagged = tuple(errors), tuple(flagged)


def _analyze(net: Network, batch: int, dtype: str, strict: bool, input_shape: tuple[int, ...] | None,
             optimizer: str, autocast: str | None, device: str, checkpointed: tuple[range, ...],
             collect: bool = False) -> Report:
    if batch < 1:
        raise ValueError(f"batch must be ≥ 1; received {batch}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer '{optimizer}' (known: {', '.join(OPTIMIZER_STATES)})")
    shape_in = input_shape or net.input
    symbolic_input = any(is_symbolic(d) for d in (*shape_in, batch))
    with collecting() if symbolic_input else nullcontext() as conditions:
        shapes: dict[str, Shape] = {INPUT: shape_in}
        fields = {INPUT: _input_field(net.input_rank(shape_in), shape_in)}
        evals, resolved = [], []
        memo: dict[tuple, tuple] | None = None if symbolic_input else {}  # symbolic: each layer records its conditions
        several: dict[str, int] = {}  # layers with several outputs, and how many
        failed: list[ShapeError] = []
        broken = {HOLE}  # collecting: the layers not evaluated; a layer reading one is passed over
        for layer in net.layers:
            if collect and any(producer(tensor) in broken for tensor in layer.inputs):
                broken.add(layer.name)
                continue
            try:
                args, ev = _layer(net, layer, shapes, fields, several, strict, memo)
            except ShapeError as err:
                if not collect:
                    raise
                failed.append(err)
                broken.add(layer.name)
                continue
            evals.append(ev)
            resolved.append(args)  # equal layers share one mapping
    if len(broken) > 1 or HOLE in net.outputs:
        done = [layer for layer in net.layers if layer.name not in broken]
        raise Unfinished(failed, [(layer, ev.flags) for layer, ev in zip(done, evals) if ev.flags])
    evals = _tied(net, evals, resolved)
    unread = net.unread()
    if strict and unread:
        raise _shape_error(unread[0], UNREAD)
    needs_grad = _needs_grad(net, evals)
    itemsize = DTYPE_BYTES[dtype]
    types = _types(net, evals, itemsize, autocast and DTYPE_BYTES[autocast], device)
    memory = _Memory(net, evals, shape_in, needs_grad, batch, itemsize, types, checkpointed, device)
    rows = tuple(_row(layer, ev, fields[layer.name], memory, _backward_macs(layer, ev, needs_grad), i, resolved[i])
                 for i, (layer, ev) in enumerate(zip(net.layers, evals)))
    totals = _totals(net, rows, fields, memory, itemsize, sum(ev.counters for ev in evals))
    if checkpointed:
        totals = replace(totals, segments=len(checkpointed),
                         recompute_macs=sum(rows[i].macs for seg in checkpointed for i in seg))
    return Report(net.name, net.title, net.source, tuple(shape_in), batch, dtype, itemsize, optimizer,
                  rows, totals, tuple(conditions.items) if conditions else (), unread=tuple(l.name for l in unread))


def _layer(net: Network, layer: Layer, shapes: dict[str, Shape], fields: dict[str, Field], several: dict[str, int],
           strict: bool, memo: dict[tuple, tuple] | None) -> tuple[Mapping[str, Any], Eval]:
    """One layer evaluated, its output shapes and receptive fields recorded; ShapeError if it is impossible."""
    current_layer(layer.name)
    _check_reads(layer, several)
    _check_ids(net, layer)
    args, ev = _evaluate(layer, shapes, strict, memo)  # resolved once, for the rule and the report
    if layer.experts is not None:
        ev = _held_by_experts(ev, layer.experts)
    field = _field(RULES[layer.kind], ev, [fields[i] for i in layer.inputs], shapes[layer.inputs[0]])
    _within_bounds(layer, ev.shape, field)
    shapes[layer.name], fields[layer.name] = ev.shape, field
    if ev.outputs:
        several[layer.name] = len(ev.outputs)
        for index, shape in enumerate(ev.outputs):
            shapes[f"{layer.name}:{index}"], fields[f"{layer.name}:{index}"] = shape, field
    return args, ev


def arguments(layer: Layer, shapes: Mapping[str, Shape]) -> Mapping[str, Any]:
    """The layer's arguments, late ones (`in_channels // 4`) evaluated at `shapes` and checked, then
    resolved by its rule (`Rule.resolve`): what evaluate, the backends and the report read."""
    rule = RULES[layer.kind]
    args = _late(layer, shapes) if layer.late else layer.args
    if rule.resolve is None:
        return args
    try:
        return rule.resolve(args, [shapes[i] for i in layer.inputs])
    except (RuleError, ValueError) as err:
        raise _shape_error(layer, str(err)) from None


def _shape_error(layer: Layer, message: str) -> ShapeError:
    """A layer's error, with its file:line and path."""
    return ShapeError(message, layer.origin.mark, f"{layer.origin.path} '{layer.name}'")


def _late(layer: Layer, shapes: Mapping[str, Shape]) -> Mapping[str, Any]:
    resolved = dict(layer.args)
    for name, late_arg in layer.late.items():
        try:
            resolved[name] = late_arg.arg.check(late.resolve(late_arg.value, shapes))
        except ValueError as err:  # ExprError included
            raise ShapeError(f"in '{late.text(late_arg.value)}': {err}", late_arg.mark or layer.origin.mark,
                             f"{layer.origin.path} '{layer.name}'") from None
    return resolved


def _check_reads(layer: Layer, several: Mapping[str, int]) -> None:
    """A layer with several outputs is read one output at a time (`split1:0`), any other one whole."""
    for tensor in layer.inputs:
        name, colon, index = tensor.partition(":")
        count = several.get(name, 0)
        if (int(index) < count) if colon else not count:
            continue
        message = (f"'{name}' has {count} outputs: read one as {name}:0 … {name}:{count - 1}" if count
                   else f"'{name}' has one output: read it as '{name}'")
        raise ShapeError(message, layer.origin.mark, f"{layer.origin.path} '{layer.name}'")


def _check_ids(net: Network, layer: Layer) -> None:
    """Token ids are read by an embedding, and an embedding reads the network's token ids."""
    reads_ids = net.ids and INPUT in layer.inputs
    if reads_ids == RULES[layer.kind].ids:
        return
    message = (f"{layer.kind} reads numbers, but the network's input is token ids: look them up with an embedding first"
               if reads_ids else f"{layer.kind} looks up token ids: it reads the network's input, given as {{ids: S}}")
    raise _shape_error(layer, message)


def _tied(net: Network, evals: list[Eval], resolved: list[Mapping[str, Any]]) -> list[Eval]:
    """Each layer that ties its weight to another's (`tie: wte`) without that weight among its parameters:
    the one it shares is counted once, at the layer that owns it, as torch and HF count them."""
    index = {layer.name: i for i, layer in enumerate(net.layers)}
    tied = list(evals)
    for i, (layer, args) in enumerate(zip(net.layers, resolved)):
        target = args.get("tie")
        if target is None:
            continue
        owner = index.get(target)
        if owner is None or not evals[owner].weight or resolved[owner].get("tie") is not None:
            why = ("which is not a layer of the network" if owner is None else
                   "which ties its own weight (tie to the layer that owns it)" if evals[owner].weight else
                   f"a {net.layers[owner].kind}, which has no weight to share (an embedding, linear or fc has)")
            raise _shape_error(layer, f"tie names '{target}', {why}")
        mine, theirs = evals[i].weight, evals[owner].weight
        if mine != theirs:
            raise _shape_error(layer, f"tie: its weight is {'×'.join(map(str, mine))}, but '{target}' has a "
                                      f"{'×'.join(map(str, theirs))} weight (tied weights have one shape)")
        tied[i] = _sharing(evals[i], target)
    return tied


def _sharing(ev: Eval, target: str) -> Eval:
    """A layer's Eval without the weight it shares with `target`: its parameters and their formula."""
    shared = prod(ev.weight)
    params = ev.params - shared

    def formulas() -> dict[str, str]:
        own = Formulas(ev.formulas)
        text = f"{own['params'].rpartition(' = ')[0]} − {product(ev.weight)} = {num(params)} " \
               f"(the weight of '{target}', counted there)"
        return {**own, "params": text}

    return ev._replace(params=params, formulas=formulas)


def made(ev: Eval) -> int:
    """The elements a layer's outputs hold: its one output's, or all of its several."""
    return sum(map(prod, ev.outputs)) if ev.outputs else prod(ev.shape)


def _evaluate(layer: Layer, shapes: Mapping[str, Shape], strict: bool,
              memo: dict[tuple, tuple] | None) -> tuple[Mapping[str, Any], Eval]:
    """The layer's resolved arguments and its Eval; a rule is a pure function of its arguments and
    input shapes, so equal layers (the expander shares their argument mappings) are resolved and
    evaluated once."""
    inputs = [shapes[i] for i in layer.inputs]
    key = (layer.kind, id(layer.args), *inputs) if memo is not None and not layer.late else None
    done = memo.get(key) if key is not None else None
    if done is None:
        args = arguments(layer, shapes)
        try:
            done = args, RULES[layer.kind].evaluate(args, inputs)
        except (RuleError, ValueError) as err:
            raise _shape_error(layer, str(err)) from None
        if key is not None:
            memo[key] = done
    if strict and done[1].flags:
        raise _shape_error(layer, f"{done[1].flags[0]} (--strict refuses inexact divisions)")
    return done


def _held_by_experts(ev: Eval, experts: Experts) -> Eval:
    """A moe body's layer, evaluated on the routed tokens: its weights (and buffers) held once per expert."""
    count = experts.count
    saved = tuple(item._replace(elements=item.elements * count) if item.ref == "weight" else item for item in ev.saved)

    def formulas() -> dict[str, str]:
        own = dict(texts(ev.formulas))
        if ev.params or ev.fixed:
            own["params"] = f"{count} experts × ({own['params']}) = {num((ev.params + ev.fixed) * count)}"
        if "macs" in own:
            own["macs"] += f" (the routed tokens: each token's top {experts.top} of {count} experts)"
        return own

    return ev._replace(params=ev.params * count, fixed=ev.fixed * count, buffers=ev.buffers * count, saved=saved,
                       formulas=formulas)


def active(layer: Layer, params: int) -> int:
    """The parameters that one token's forward uses: a moe body's layer's `params` are its experts'
    copies, of which each token uses `top`."""
    if layer.experts is None:
        return params
    return params // layer.experts.count * layer.experts.top


def _within_bounds(layer: Layer, shape: Shape, field: Field) -> None:
    """Refuse a layer whose sizes pass what any network has (ShapeError): every figure of a report is
    made from them, and a size of thousands of digits would make every figure, and the output, huge."""
    for values, limit, what in ((shape, MAX_DIM, "output size"), ((*(field.rf or ()), *(field.jump or ())),
                                                                   MAX_FIELD, "receptive field or jump")):
        big = next((v for v in values if _magnitude(v) > limit), None)
        if big is not None:
            shown = f"{big:,}" if isinstance(big, int) else str(big)  # one layer past a bound: a few dozen digits
            raise _shape_error(layer, f"{what} {shown} is beyond {limit:,} (no network is this large: "
                                      "a runaway concatenation, upsampling or stride?)")


def _magnitude(value: Any) -> int:
    """The largest number in a size: itself, a fraction's numerator or denominator, or an expression's
    coefficients (a floor's divisor, and so its numerator, is a product of strides: the jump bounds it)."""
    if type(value) is int:  # the common case, before isinstance's slower checks against Fraction's ABC
        return abs(value)
    if isinstance(value, Fraction):
        return max(abs(value.numerator), value.denominator)
    if isinstance(value, Expr):
        return max((abs(c) for c in value.terms.values()), default=0)
    return abs(value)


def _input_field(rank: int, shape: Shape) -> Field:
    """A map's input pixels: a field of 1 on each spatial axis; tokens and features have no positions
    (read as one 1×1 position, as their layers neither widen nor stride it)."""
    if rank == 0:
        return Field((1, 1), (1, 1), (1, 1))
    return Field((1,) * rank, (1,) * rank, tuple(shape[1:]))


def _field(rule: Rule, ev: Eval, inputs: list[Field], shape_in: Shape) -> Field:
    read = inputs[:1] if rule.inputs is Inputs.MAP_AND_SIZE else inputs
    rf_in, jump_in, grid_in = _merged(read)
    w = ev.window
    # a layer that sees its whole input and keeps its positions (attention: N×D → N×D) keeps their grid
    keeps = w is not None and w.whole and not rule.spatial and ev.grid is None and tuple(ev.shape) == tuple(shape_in)
    out_grid = ((1,) * len(grid_in) if w is not None and w.whole and not keeps else ev.grid
                or (ev.shape[1:] if rule.spatial else grid_in))
    if rf_in is not None and any(f.whole for f in read):  # the whole input already: the field grows no more
        return Field(rf_in, jump_in, out_grid, lambda: per_axis_text(tuple(  # type: ignore[arg-type]
            f"{r}: the whole input, seen by an earlier layer" for r in rf_in)), whole=True)
    if rf_in is not None and keeps:
        rf = tuple(r + (g - 1) * j for r, g, j in zip(rf_in, grid_in, jump_in))
        return Field(rf, jump_in, out_grid, lambda: per_axis_text(tuple(  # type: ignore[arg-type]
            f"{rf_in[a]} + ({grid_in[a]} − 1)·{jump_in[a]} = {rf[a]} (the whole input)" for a in range(len(rf)))), True)
    if w is None or rf_in is None:
        return Field(None, None, out_grid, lambda: "no closed form: adaptive bins of a symbolic size, or paths "  # type: ignore[arg-type]
                     "whose reach depends on it")
    rank = len(rf_in)
    if w.whole:
        extent, step = grid_in, grid_in
    else:
        k, s, d = (values or (1,) * rank for values in (w.k, w.s, w.d))
        if len(k) != rank:
            return Field(None, None, out_grid, lambda: f"none: a {len(k)}-D window over an input without "  # type: ignore[arg-type]
                         f"{len(k)} positional axes")
        # RF grows by (extent − 1) input jumps; the jump multiplies by the stride (1/S when upsampling).
        extent, step = tuple(da * (ka - 1) + 1 for ka, da in zip(k, d)), s
    rf = tuple(_whole(r + (e - 1) * j) for r, e, j in zip(rf_in, extent, jump_in))
    jump = tuple(_whole(j * st) for j, st in zip(jump_in, step))

    def formula() -> str:
        return per_axis_text(tuple(f"{rf_in[a]} + ({extent[a]} − 1)·{jump_in[a]} = {rf[a]}" for a in range(rank))) + (
            " (the whole input)" if w.whole else "")

    return Field(rf, jump, out_grid, formula, w.whole)  # type: ignore[arg-type]


def _merged(inputs: list[Field]) -> tuple[Any, Any, Any]:
    """The field, jump and grid a layer reads: one input's, or over several the largest field (a
    broadcast SE gate sees the whole image) with the jump and grid of those at full resolution
    (not a broadcast C×1×1). The field is None where it, or which path reaches farther, depends
    on a symbolic size. A path that sees the whole input holds every other path's field."""
    if len(inputs) == 1:
        return inputs[0].rf, inputs[0].jump, inputs[0].grid
    if any(f.rf is None for f in inputs):
        return None, None, inputs[0].grid
    reaching = [f for f in inputs if f.whole] or inputs
    areas = [prod(f.grid) for f in inputs]
    axes = range(len(inputs[0].rf))
    if not any(isinstance(v, Expr) for f in inputs for v in (*f.rf, *f.grid)):  # numbers: plain max
        widest = max(areas)
        carriers = [f for f, area in zip(inputs, areas) if area == widest]
        return (tuple(max(f.rf[a] for f in reaching) for a in axes),
                tuple(max(f.jump[a] for f in carriers) for a in axes), carriers[0].grid)
    widest = largest(areas)
    carriers = [f for f, area in zip(inputs, areas) if area == widest] or inputs
    rf = tuple(largest(f.rf[a] for f in reaching) for a in axes)
    jump = tuple(largest(f.jump[a] for f in carriers) for a in axes)
    if any(is_symbolic(v) and any(isinstance(atom, Max) for atom in v.atoms()) for v in (*rf, *jump)):
        return None, None, carriers[0].grid
    return rf, jump, carriers[0].grid


def _whole(value: Any) -> Any:
    """A Fraction that is a whole number as an int (upsampling makes fractional jumps)."""
    return int(value) if isinstance(value, Fraction) and value.denominator == 1 else value


def _needs_grad(net: Network, evals: list[Eval]) -> dict[str, bool]:
    """For each tensor, whether autograd tracks it: some trained parameter lies upstream of it."""
    needs = {INPUT: False}
    for layer, ev in zip(net.layers, evals):
        needs[layer.name] = ev.params != 0 or any(needs[i] for i in layer.inputs)
        needs.update((f"{layer.name}:{index}", needs[layer.name]) for index in range(len(ev.outputs)))
    return needs


class _Types(NamedTuple):
    """A layer's element sizes: each input as it reads it (autocast may cast a copy first) and its output."""

    reads: tuple[int, ...]
    out: int
    copies: bool = False  # autocast casts its weights too (and keeps those copies for backward)
    casts: bool = False  # it reads a copy of some input, cast to another type


def _types(net: Network, evals: list[Eval], itemsize: int, low: int | None, device: str) -> list[_Types]:
    """Each layer's element sizes: all `itemsize`, or under autocast to `low` bytes as its kind's
    policy on `device` says (rules.base.Autocast); a view has its input's type."""
    ids = _input_itemsize(net, itemsize)
    if not low:  # one type for everything: the same few values, shared
        uniform: dict[tuple[int, ...], _Types] = {}
        return [uniform.setdefault(reads, _Types(reads, itemsize)) for reads in
                (tuple(ids if i == INPUT else itemsize for i in layer.inputs) for layer in net.layers)]
    size = {INPUT: ids}
    types = []
    for layer, ev in zip(net.layers, evals):
        given = tuple(size[producer(i)] for i in layer.inputs)
        policy = getattr(RULES[layer.kind].autocast, device)
        floats = given if not RULES[layer.kind].ids else ()  # token ids take no part in type promotion
        if ev.output == "view":
            made = _Types(given, given[0])
        elif policy in ("keep", "promote"):  # PyTorch's type promotion; "promote" counts the float32 parameters
            made = _Types(given, max(floats + ((itemsize,) if policy == "promote" or not floats else ())))
        else:
            to = low if policy == "low" else 4
            made = _Types((to,) * len(given), to, policy == "low", any(size != to for size in given))
        size[layer.name] = made.out
        types.append(made)
    return types


def _input_itemsize(net: Network, itemsize: int) -> int:
    """The bytes of one element of the network's input: token ids are int64, features have the network's type."""
    return IDS_ITEMSIZE if net.ids else itemsize


class _Memory:
    """Storage identities and types, autograd's saved set (checkpointed or not) and inference
    liveness, in bytes at a batch."""

    def __init__(self, net: Network, evals: list[Eval], shape_in: Shape, needs_grad: dict[str, bool],
                 batch: int, itemsize: int, types: list[_Types], checkpointed: tuple[range, ...] = (),
                 device: str = "cuda"):
        self.batch, self.itemsize, self.types, self.device = batch, itemsize, types, device
        self.elements = {INPUT: prod(shape_in), **{layer.name: made(ev) for layer, ev in zip(net.layers, evals)}}
        self.size = {INPUT: _input_itemsize(net, itemsize), **{layer.name: t.out for layer, t in zip(net.layers, types)}}
        self.storage = {INPUT: INPUT}
        for layer, ev, t in zip(net.layers, evals, types):
            self.storage[layer.name] = self.storage[layer.inputs[0]] if ev.output == "view" else layer.name
            for index, shape in enumerate(ev.outputs):  # several outputs: in the storage of the layer's
                tensor = f"{layer.name}:{index}"
                self.elements[tensor], self.size[tensor], self.storage[tensor] = prod(shape), t.out, self.storage[layer.name]
        self.saved, self.kept, self.recompute = self._saved(net, evals, needs_grad, checkpointed)
        self.alive, self.peak = self._liveness(net, evals)

    def bytes(self, elements: int, itemsize: int | None = None, per_sample: bool = True) -> int:
        return elements * (itemsize or self.itemsize) * (self.batch if per_sample else 1)

    def _saved(self, net: Network, evals: list[Eval], needs_grad: dict[str, bool],
               segments: tuple[range, ...]) -> tuple[list[int], dict[tuple[str, int], int], list[int]]:
        """Bytes autograd newly keeps at each layer (a tensor kept twice counts once), those bytes by
        (what, element size), and each checkpointed segment's bytes made again in backward.

        A layer whose output autograd does not track (nothing before it, nor itself, is trained)
        makes no graph node and keeps nothing. A checkpointed segment keeps its inputs only (at its
        first layer); its backward runs it again, keeping its own saved set for the while.
        """
        first = {seg.start: seg for seg in segments}
        inside = {i for seg in segments for i in seg}
        kept: set[str] = set()
        by: dict[tuple[str, int], int] = {}
        per_layer = []
        for index, (layer, ev) in enumerate(zip(net.layers, evals)):
            if index in first:
                items = self._inputs(net, first[index])
            elif index in inside:
                items = iter(())
            else:
                items = self._items(layer, ev, self.types[index], needs_grad)
            per_layer.append(self._keep(items, kept, by))
        recompute = []
        for seg in segments:
            again = {key for key, *_ in self._inputs(net, seg)}  # the inputs stay kept: not made again
            recompute.append(sum(self._keep(self._items(net.layers[i], evals[i], self.types[i], needs_grad), again, {})
                                 for i in seg))
        return per_layer, by, recompute

    @staticmethod
    def _keep(items: Iterator[tuple[str, int, str, int]], kept: set[str], by: dict[tuple[str, int], int]) -> int:
        """The bytes of the items not kept yet, now kept (and added to `by`)."""
        new = 0
        for key, size, what, itemsize in items:
            if key not in kept:
                kept.add(key)
                new += size
                by[what, itemsize] = by.get((what, itemsize), 0) + size
        return new

    def _items(self, layer: Layer, ev: Eval, types: _Types,
               needs_grad: dict[str, bool]) -> Iterator[tuple[str, int, str, int]]:
        """(storage key, bytes, what, element size) of each tensor the layer keeps for backward."""
        if not needs_grad[layer.name]:
            return
        for item in ev.saved:
            weight = item.ref == "weight"
            if (weight and not types.copies) or (item.for_input_grad and not any(needs_grad[i] for i in layer.inputs)):
                continue  # a weight kept is the parameter itself, counted apart, unless autocast copied it
            if (item.autocast_only and not types.copies) or (item.device is not None and item.device != self.device):
                continue
            if weight:
                copy = self.bytes(item.elements, types.out, item.per_sample)
                yield f"{layer.name}#weight", copy, "weight copies", types.out
            else:
                key, elements, itemsize = self._where(layer, item, types)
                yield key, self.bytes(elements, itemsize, item.per_sample), "activations", itemsize

    def _where(self, layer: Layer, item: Saved, types: _Types) -> tuple[str, int, int]:
        """The storage a saved activation lives in, its elements and their size."""
        if item.ref.startswith("in"):
            k = int(item.ref[2:])
            source = layer.inputs[k]
            if types.reads[k] != self.size[source]:  # autocast's copy of this input
                return f"{layer.name}#cast{k}", self.elements[source], item.itemsize or types.reads[k]
            key = self.storage[source]  # a view kept for backward keeps its whole storage
            return key, self.elements[key], item.itemsize or types.reads[k]
        if item.ref == "out":
            key = self.storage[layer.name]
            return key, self.elements[key], item.itemsize or self.size[key]
        inner = self.itemsize if item.weights_type else max(types.reads) if item.input_type else types.out
        own = max(types.reads) if item.input_type_on_cpu and self.device == "cpu" else item.itemsize
        return f"{layer.name}#{item.ref}", item.elements, own or inner

    def _inputs(self, net: Network, seg: range) -> Iterator[tuple[str, int, str, int]]:
        """The storages a checkpointed segment reads from before it: what torch.utils.checkpoint keeps."""
        made = {net.layers[i].name for i in seg}
        for i in seg:
            for source in net.layers[i].inputs:
                if source not in made:
                    key = self.storage[source]
                    yield key, self.bytes(self.elements[key], self.size[key]), "activations", self.size[key]

    def _liveness(self, net: Network, evals: list[Eval]) -> tuple[list[int], list[int]]:
        """Inference in run order: a tensor lives from its layer to its last reader (one that
        nothing reads, the output, to the end). One running total: linear in layers and edges.
        Under autocast, a layer's input copies live while it runs, and its weight copies until the
        end (autocast caches them for the whole region)."""
        last_use: dict[str, int] = {}
        for index, layer in enumerate(net.layers):
            for source in layer.inputs:
                last_use[self.storage[source]] = index
        dies: dict[int, list[str]] = {}
        for key, index in last_use.items():
            dies.setdefault(index, []).append(key)
        size = {INPUT: self.bytes(self.elements[INPUT], self.size[INPUT])}
        total = size[INPUT]
        after, during = [], []
        for index, (layer, ev, types) in enumerate(zip(net.layers, evals, self.types)):
            if ev.output == "new":
                size[layer.name] = self.bytes(self.elements[layer.name], types.out)
                total += size[layer.name]
            if types.copies:  # cached till the end
                total += sum(self.bytes(i.elements, types.out, i.per_sample) for i in ev.saved if i.ref == "weight")
            casts = sum(self.bytes(self.elements[s], r) for s, r in zip(layer.inputs, types.reads)
                        if r != self.size[s]) if types.casts else 0
            during.append(total + casts + self.bytes(ev.temporaries, types.out))
            for key in dies.get(index, ()):
                total -= size.pop(key, 0)
            after.append(total)
        return after, during


def _backward_macs(layer: Layer, ev: Eval, needs_grad: dict[str, bool]) -> int:
    """Gradient MACs: w.r.t. weights where there are trained parameters, w.r.t. input where it needs one."""
    input_grad = any(needs_grad[i] for i in layer.inputs)
    return ev.macs * ((ev.params != 0) + input_grad)


def _row(layer: Layer, ev: Eval, field: Field, memory: _Memory, backward: int, index: int,
         args: Mapping[str, Any]) -> Row:
    rule = RULES[layer.kind]
    counted = ev.output == "new" and not rule.role.fused
    return Row(
        name=layer.name, kind=layer.kind, output=ev.shape,
        params=ev.params + ev.fixed, trainable_params=ev.params, buffers=ev.buffers,
        active_params=active(layer, ev.params + ev.fixed),
        macs=ev.macs, backward_macs=backward,
        activations=made(ev) if counted else 0, outputs=ev.outputs,
        receptive_field=field.rf, jump=field.jump,
        saved_bytes=memory.saved[index], alive_bytes=memory.alive[index], peak_bytes=memory.peak[index],
        formulas=Formulas(ev.formulas, lambda: {"receptive_field": field.formula(),
                                                "memory": _memory_formula(ev, counted, memory)}),
        flags=ev.flags, inputs=layer.inputs, args=args, cache=ev.cache,
    )


def _memory_formula(ev: Eval, counted: bool, memory: _Memory) -> str:
    if not counted:
        return "0 (no new tensor in the activation sum: a view, or fused into the layer before)"
    count = made(ev)
    return f"{num(count)} elements × {memory.itemsize} B × batch {memory.batch} = {num(memory.bytes(count))} B"


def _depth(net: Network) -> int:
    """Weight layers (conv, fc) on the longest path: GoogLeNet is 22 deep, ResNet-50 50."""
    deepest = {INPUT: 0}
    for layer in net.layers:
        deepest[layer.name] = max(deepest[producer(i)] for i in layer.inputs) + (RULES[layer.kind].role is Role.WEIGHTED)
    return max(deepest.values())


def _totals(net: Network, rows: tuple[Row, ...], fields: dict, memory: _Memory, itemsize: int, counters: int) -> Totals:
    activations = sum(r.activations for r in rows)
    params = sum(r.params for r in rows)
    buffers = sum(r.buffers for r in rows)
    return Totals(
        params=params,
        trainable_params=sum(r.trainable_params for r in rows),
        active_params=sum(r.active_params for r in rows),
        buffers=buffers,
        macs=sum(r.macs for r in rows),
        backward_macs=sum(r.backward_macs for r in rows),
        activations=activations,
        activation_bytes=memory.bytes(activations),
        inference_peak_bytes=largest(memory.peak),
        train_saved_bytes=sum(memory.saved),
        saved_by=tuple((what, itemsize, size) for (what, itemsize), size in  # floats first, then indices and masks
                       sorted(memory.kept.items(), key=lambda item: (item[0][0], item[0][1] in (1, 8), item[0][1]))),
        recompute_bytes=largest(memory.recompute) if memory.recompute else 0,
        param_bytes=params * itemsize,
        buffer_bytes=(buffers - counters) * itemsize + counters * COUNTER_ITEMSIZE,
        counter_bytes=counters * COUNTER_ITEMSIZE,
        depth=_depth(net),
        receptive_field=fields[net.layers[-1].name].rf,
        kv_cache=sum(r.cache for r in rows),
    )
