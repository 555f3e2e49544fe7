"""A Network built as one torch.nn.Module, one submodule per node.

Naming: each node is a submodule at the path of its dotted IR name, the
scopes in between being empty `Scope` containers, so
`module.get_submodule("stage2.bottleneck1.conv2")` is that node and
`named_modules()` yields the IR's own names (state_dict keys read
`stage2.bottleneck1.conv2.weight`). A name torch cannot take (one that is
already an attribute of the container, such as `forward`) gets a trailing
`_`; `module.node(name)` always finds a node by its IR name.

The forward walks the DAG in the IR's (topological) order and drops each
tensor after its last reader. Each node's module is its kind's torch facet
(kinds.FACTORIES), made from the layer's resolved arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ... import catalog
from ...analysis import analyze, arguments
from ...ir import INPUT, Layer, Network, producer
from ...report import tensor_shapes
from ...rules.base import Shape
from .base import DTYPES, BuildError
from .kinds import FACTORIES


class Scope(nn.Module):
    """A container for the nodes under one dotted prefix (a block or branch); not callable."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        raise TypeError("a Scope only holds nodes; call the whole network")


class _Blueprint:
    """The Network a module was built from. Immutable, so copies of the module share it;
    pickled with its layers' arguments as plain dicts (the IR keeps them read-only)."""

    def __init__(self, network: Network):
        self.network = network

    def __deepcopy__(self, memo: dict) -> _Blueprint:
        return self

    def __reduce__(self) -> tuple:
        layers = [(layer.name, layer.kind, dict(layer.args), layer.inputs, layer.origin, dict(layer.late), layer.block)
                  for layer in self.network.layers]
        return _thaw, (replace(self.network, layers=()), layers)


def _thaw(network: Network, layers: list[tuple]) -> _Blueprint:
    return _Blueprint(replace(network, layers=tuple(Layer(*layer) for layer in layers)))


class ArchcalcModule(nn.Module):
    """A Network as one module: nodes at their dotted names, forward in IR order."""

    def __init__(self, network: Network, input_shape: Shape, nodes: dict[str, nn.Module]):
        super().__init__()
        self._blueprint = _Blueprint(network)
        self.input_shape = tuple(input_shape)
        self._nodes: dict[str, nn.Module] = {}  # IR name → module (plain dict: not registered twice)
        for name, module in nodes.items():
            self._attach(name, module)
        slot = {INPUT: 0, **{layer.name: i + 1 for i, layer in enumerate(network.layers)}}
        last_read = {slot[INPUT]: 0}
        for i, layer in enumerate(network.layers):
            last_read[i + 1] = i  # read by no one: dropped as soon as it is made
            for source in layer.inputs:
                last_read[slot[producer(source)]] = i
        last_read[len(network.layers)] = len(network.layers)  # the output is returned
        frees: dict[int, list[int]] = {}
        for tensor, step in last_read.items():
            frees.setdefault(step, []).append(tensor)
        self._plan = [(_Picked.of(nodes[layer.name], layer.inputs), tuple(slot[producer(s)] for s in layer.inputs), i + 1,
                       tuple(frees.get(i, ()))) for i, layer in enumerate(network.layers)]
        self._last_read = last_read
        self._segments: dict[int, range] = {}  # first step → a segment run through torch.utils.checkpoint
        self.on_segment: Callable[[range, tuple[torch.Tensor, ...]], None] | None = None  # told each segment's inputs

    def checkpoint(self, segments: tuple[range, ...]) -> ArchcalcModule:
        """Run each segment of layers (indices in run order, as archcalc.segments.cut gives them) through
        torch.utils.checkpoint (non-reentrant): its forward keeps only its inputs, its backward runs it
        again. Returns the module itself."""
        self._segments = {segment.start: segment for segment in segments}
        return self

    def _attach(self, name: str, module: nn.Module) -> None:
        parent: nn.Module = self
        *scopes, leaf = name.split(".")
        for part in scopes:
            child = parent._modules.get(part)
            if child is None:
                child = Scope()
                parent.add_module(_free_name(parent, part), child)
            elif not isinstance(child, Scope):
                raise BuildError(f"layer '{name}' sits under '{part}', which is itself a layer; rename one of them")
            parent = child
        parent.add_module(_free_name(parent, leaf), module)
        self._nodes[name] = module

    @property
    def network(self) -> Network:
        """The IR this module was built from."""
        return self._blueprint.network

    def node(self, name: str) -> nn.Module:
        """The module of the node called `name` in the IR."""
        return self._nodes[name]

    def nodes(self) -> dict[str, nn.Module]:
        """Every node's module by IR name, in run order."""
        return dict(self._nodes)

    def example_input(self, batch: int = 1, device: Any = None, dtype: Any = None) -> torch.Tensor:
        """A random input of the network's shape, with a batch dimension: token ids (int64, whatever `dtype`)
        below the smallest vocabulary of the embeddings that read them, or numbers."""
        if self.network.ids:
            vocab = min(self._nodes[layer.name].num_embeddings for layer in self.network.layers
                        if INPUT in layer.inputs)
            return torch.randint(vocab, (batch, *self.input_shape), device=device)
        return torch.randn(batch, *self.input_shape, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: list[Any] = [x] + [None] * len(self._plan)
        if self._segments:
            return self._checkpointed(values)
        for module, sources, target, frees in self._plan:
            values[target] = module(*[values[i] for i in sources])
            for i in frees:
                values[i] = None
        return values[-1]

    def _checkpointed(self, values: list[Any]) -> torch.Tensor:
        step = 0
        while step < len(self._plan):
            segment = self._segments.get(step)
            if segment is None:
                segment = range(step, step + 1)
                self._run(values, segment)
            else:
                self._checkpoint_segment(values, segment)
            step = segment.stop
        return values[-1]

    def _run(self, values: Any, segment: range) -> None:
        """The segment's steps on `values` (a list, or a dict of the slots it reads), each tensor
        dropped after its last reader."""
        for module, sources, target, frees in self._plan[segment.start:segment.stop]:
            values[target] = module(*[values[i] for i in sources])
            for i in frees:
                values[i] = None

    def segment_slots(self, segment: range) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The slots a segment reads from before it, and those it makes that are read after it."""
        steps = self._plan[segment.start:segment.stop]
        made = {target for _, _, target, _ in steps}
        reads = tuple(sorted({i for _, sources, _, _ in steps for i in sources if i not in made}))
        return reads, tuple(sorted(t for t in made if self._last_read[t] >= segment.stop))

    def run_segment(self, segment: range, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """A segment's forward from its inputs (as `segment_slots` orders them), as a checkpoint
        runs it again in backward: the outputs read after it."""
        reads, outputs = self.segment_slots(segment)
        local: dict[int, Any] = dict(zip(reads, inputs))
        self._run(local, segment)
        return tuple(local[t] for t in outputs)

    def _checkpoint_segment(self, values: list[Any], segment: range) -> None:
        from torch.utils.checkpoint import checkpoint

        reads, outputs = self.segment_slots(segment)
        inputs = tuple(values[i] for i in reads)
        if self.on_segment is not None:
            self.on_segment(segment, inputs)
        results = checkpoint(lambda *xs: self.run_segment(segment, xs), *inputs, use_reentrant=False)
        for slot, value in zip(outputs, results):
            values[slot] = value
        for _, _, _, frees in self._plan[segment.start:segment.stop]:
            for i in frees:
                values[i] = None


class _Picked:
    """A node that reads an output of a layer with several (`split1:0`): picked from that layer's tuple."""

    def __init__(self, module: nn.Module, picks: tuple[int | None, ...]):
        self.module, self.picks = module, picks

    @classmethod
    def of(cls, module: nn.Module, inputs: tuple[str, ...]) -> Any:
        """The node's module itself, or, where some input is one output of several, it picking them."""
        picks = tuple(int(source.partition(":")[2]) if ":" in source else None for source in inputs)
        return module if picks.count(None) == len(picks) else cls(module, picks)

    def __call__(self, *values: Any) -> Any:
        return self.module(*(value if pick is None else value[pick] for value, pick in zip(values, self.picks)))


def _free_name(parent: nn.Module, name: str) -> str:
    """`name`, or `name_` (…) where torch refuses it: an attribute such as `forward`, or taken."""
    while name in parent._modules or hasattr(parent, name):
        name += "_"
    return name


def _tie(network: Network, nodes: dict[str, nn.Module]) -> None:
    """Each layer with `tie: NAME` made to hold that layer's weight, the one nn.Parameter (the analysis
    checked their shapes agree)."""
    for layer in network.layers:
        target = layer.args.get("tie")
        if target is not None:
            _weighted(nodes[layer.name]).weight = _weighted(nodes[target]).weight


def _weighted(module: nn.Module) -> nn.Module:
    """The embedding or linear map of a node (an fc's sits in a Sequential, after its flatten)."""
    return next(m for m in module.modules() if isinstance(m, (nn.Embedding, nn.Linear)))


def build(spec: Network | str, *, input_shape: Shape | None = None, device: Any = None,
          dtype: str | torch.dtype | None = None) -> ArchcalcModule:
    """A network (a Network, a bundled name or a spec path) as an nn.Module.

    `device` builds the parameters there directly ("meta" builds no storage at
    all: shapes only); `dtype` is "float32", "float16", "bfloat16" or a torch dtype.
    """
    network = spec if isinstance(spec, Network) else catalog.load(spec)
    report = analyze(network, input_shape=input_shape)
    if report.symbolic:
        raise BuildError(f"the torch backend builds a concrete network; {network.name}'s input is symbolic "
                         f"({'×'.join(map(str, report.input))}): give a size, e.g. input_shape=(3, 224, 224)")
    shapes: dict[str, Shape] = tensor_shapes(report.input, report.rows)
    missing = sorted({layer.kind for layer in network.layers} - set(FACTORIES))
    if missing:
        raise BuildError(f"the torch backend has no module for kind(s) {', '.join(missing)}")
    with torch.device(device) if device is not None else nullcontext():
        nodes = {layer.name: FACTORIES[layer.kind](arguments(layer, shapes), [shapes[i] for i in layer.inputs],
                                                   shapes[layer.name])
                 for layer in network.layers}
        _tie(network, nodes)
        module = ArchcalcModule(network, report.input, nodes)
    if dtype is not None:
        module.to(DTYPES[dtype] if isinstance(dtype, str) else dtype)
    return module
