"""The graph IR: a network as a DAG of frozen, named layer nodes in run order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import Mark
from .symbolic import Expr

INPUT = "input"  # the name by which layers refer to the network's input
# What layers read in place of an item a collecting check could not expand (expand.build's `found`); a network
# with one also has it among its outputs, so that nothing takes it for complete
HOLE = "?"
IDS_ITEMSIZE = 8  # token ids are int64, as torch.nn.Embedding reads them
SIZE_SYMBOLS = ("H", "W", "N", "T", "L")  # the symbolic sizes an input's spatial axes may have (N: a square side)
SEQUENCE = "S"  # the symbolic length of a token sequence: the first axis of a token input [S, D]
LIST_AXES = {3: 2, 4: 3}  # the spatial axes of an input written as a list: [C, H, W], [C, T, H, W] (others none)


def producer(tensor: str) -> str:
    """The layer that makes a tensor: `split1` for `split1:0`, output 0 of a layer with several."""
    return tensor.partition(":")[0]


UNREAD = ("no layer reads its output, yet its figures are in the totals (a typo in a later 'from:'?); "
          "an output of the network besides the last is named in the spec's 'outputs:'")


@dataclass(frozen=True)
class Origin:
    """Where a node was written: file position and spec path (`layers[3].conv`)."""

    mark: Mark | None
    path: str


@dataclass(frozen=True)
class LateArg:
    """An argument that waits for tensor shapes (`out: in_channels // 4`): checked by `arg` once evaluated."""

    arg: Any  # the rule's Arg
    value: Any  # a late.Late or TensorDim, or a list holding some
    mark: Mark | None


class Experts(NamedTuple):
    """A layer of a mixture of experts' body: `count` copies of its weights held, `top` of them run for each token.

    It is expanded once, on the k·T tokens routed to experts (each token to `top` of them): its MACs and
    tensors are those of all routed tokens, its parameters `count` times its own (every expert's)."""

    count: int
    top: int


@dataclass(frozen=True)
class Layer:
    """One primitive layer: a kind from the rule table, checked arguments, inputs by name.

    `late` holds the arguments the analysis evaluates from tensor shapes; `args` all the others.
    """

    name: str  # hierarchical: stage2.bottleneck1.conv2
    kind: str
    args: Mapping[str, Any]
    inputs: tuple[str, ...]
    origin: Origin
    late: Mapping[str, LateArg] = field(default_factory=dict)
    block: str = ""  # the innermost block instance holding it (`conv2_x.bottleneck1`), "" outside blocks
    experts: Experts | None = None  # a layer of a moe's body: one copy per expert

    def __post_init__(self) -> None:
        if not isinstance(self.args, MappingProxyType):  # a shared read-only mapping stays shared
            object.__setattr__(self, "args", MappingProxyType(dict(self.args)))
        object.__setattr__(self, "late", MappingProxyType(dict(self.late)))


@dataclass(frozen=True)
class Network:
    """A whole network: input shape (no batch) and layers in topological order."""

    name: str
    title: str
    source: str
    input: tuple[int, ...]
    layers: tuple[Layer, ...]
    file: str = ""
    budget: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""  # the real model it describes: torchvision:NAME (for verify --against spec)
    input_axes: int | None = None  # spatial axes of the input map when its spec named them; None: by its length
    ids: bool = False  # the input is a sequence of token ids (int64, read by an embedding), not features
    outputs: tuple[str, ...] = ()  # layers whose output is one of the network's besides the last (an auxiliary head)

    def input_rank(self, shape: tuple[Any, ...] | None = None) -> int:
        """The spatial axes of the input (or of `shape`, a size given for it): 1 (C×L), 2 (C×H×W), 3 (C×T×H×W),
        or 0 (N×D tokens, features). A list's length says it, [C, L] aside: that needs the spec's input named
        ({channels, length}) or the symbol L, as a two-item list is a token sequence."""
        shape = self.input if shape is None else shape
        if self.input_axes is not None and len(shape) == len(self.input):
            return self.input_axes
        if len(shape) == 2 and isinstance(shape[1], Expr) and "L" in shape[1].variables():
            return 1
        return LIST_AXES.get(len(shape), 0)

    def unread(self) -> tuple[Layer, ...]:
        """The layers, other than the last and the declared `outputs`, whose output no layer reads: a
        typo in a later `from:` that leaves a layer's figures in the totals."""
        read = {producer(source) for layer in self.layers for source in layer.inputs} | set(self.outputs)
        return tuple(layer for layer in self.layers[:-1] if layer.name not in read)

    def consumers(self) -> dict[str, list[str]]:
        """For each tensor (layer name or `input`), the layers that read it."""
        readers: dict[str, list[str]] = {INPUT: []}
        for layer in self.layers:
            readers.setdefault(layer.name, [])
            for source in layer.inputs:
                readers[producer(source)].append(layer.name)
        return readers
