"""The torch backend: a Network built as a real torch.nn.Module, one submodule per node.

Naming: each node is a submodule at the path of its dotted IR name, the
scopes in between being empty `Scope` containers, so
`module.get_submodule("stage2.bottleneck1.conv2")` is that node and
`named_modules()` yields the IR's own names (state_dict keys read
`stage2.bottleneck1.conv2.weight`). A name torch cannot take (one that is
already an attribute of the container, such as `forward`) gets a trailing
`_`; `module.node(name)` always finds a node by its IR name.

The forward walks the DAG in the IR's (topological) order and drops each
tensor after its last reader. Every kind of the rule table has one factory
in FACTORIES; the modules save for backward what the rules' `saved` model
says (see `archcalc verify`): inline activations run in place where
ACTIVATIONS says so, standalone ones out of place; flatten and the identity
shortcut are views.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import catalog
from ..analysis import analyze, arguments
from ..errors import ArchcalcError
from ..ir import INPUT, Layer, Network
from ..rules import ACTIVATIONS
from ..rules.base import Shape
from ..rules.conv import padding as conv_padding

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class BuildError(ArchcalcError):
    """A network the torch backend cannot build."""


# ── activations ──────────────────────────────────────────────────────────────


class InplaceTanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.tanh_()


class InplaceSigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sigmoid_()


# name → module, given whether it may run in place (ACTIVATIONS[name].inplace, when inline).
ACTIVATION_MODULES: dict[str, Callable[[bool], nn.Module]] = {
    "relu": lambda inplace: nn.ReLU(inplace),
    "relu6": lambda inplace: nn.ReLU6(inplace),
    "leaky_relu": lambda inplace: nn.LeakyReLU(0.01, inplace),
    "elu": lambda inplace: nn.ELU(inplace=inplace),
    "tanh": lambda inplace: InplaceTanh() if inplace else nn.Tanh(),
    "sigmoid": lambda inplace: InplaceSigmoid() if inplace else nn.Sigmoid(),
    "gelu": lambda inplace: nn.GELU(),
    "silu": lambda inplace: nn.SiLU(inplace),
    "hardswish": lambda inplace: nn.Hardswish(inplace),
    "hardsigmoid": lambda inplace: nn.Hardsigmoid(inplace),
}


def inline_act(act: str | None) -> list[tuple[str, nn.Module]]:
    """An inline `act:` as a named step: in place where PyTorch can."""
    return [] if act is None else [("act", ACTIVATION_MODULES[act](ACTIVATIONS[act].inplace))]


def steps(parts: list[tuple[str, nn.Module]]) -> nn.Module:
    """One module when there is one step, else a Sequential with named steps."""
    return parts[0][1] if len(parts) == 1 else nn.Sequential(OrderedDict(parts))


# ── node modules that torch does not have ────────────────────────────────────


class TableConv(nn.Module):
    """LeNet-5's C3: each output map convolves only the input maps its table row lists.

    One conv per run of consecutive input maps (a slice of the input is a view,
    so nothing is copied); a row's runs are summed, the rows concatenated.
    Parameters: K·K per link plus one bias per map, as the engine counts.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], k: tuple[int, int], bias: bool, **conv: Any):
        super().__init__()
        self.runs: list[list[tuple[int, int]]] = []
        self.rows = nn.ModuleList()
        for row in table:
            runs = _runs(sorted(set(row)))
            self.runs.append(runs)
            self.rows.append(nn.ModuleList(
                nn.Conv2d(stop - start, 1, k, bias=bias and i == 0, **conv) for i, (start, stop) in enumerate(runs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one low-precision copy for every run, as one conv casts (the meta device has no autocast to ask)
        if x.device.type != "meta" and torch.is_autocast_enabled(x.device.type):
            x = x.to(torch.get_autocast_dtype(x.device.type))
        maps = []
        for runs, convs in zip(self.runs, self.rows, strict=True):
            total = None
            for (start, stop), conv in zip(runs, convs, strict=True):
                part = conv(x[:, start:stop])
                total = part if total is None else total + part
            maps.append(total)
        return torch.cat(maps, 1)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """[0, 1, 2, 5] → [(0, 3), (5, 6)]: maximal runs of consecutive indices, as slices."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


class Subsample(nn.Module):
    """LeNet-5 subsampling: average pool, then one trainable coefficient and bias per map."""

    def __init__(self, channels: int, k: tuple[int, int], s: tuple[int, int], act: str | None):
        super().__init__()
        self.pool = nn.AvgPool2d(k, s)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = steps(inline_act(act)) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y if self.act is None else self.act(y)


class RBF(nn.Module):
    """LeNet-5's output: squared distance to fixed ±1 centres, ‖x‖² − 2·x·cᵀ + ‖c‖².

    The x·cᵀ products are one matrix product, the MACs the engine counts.
    """

    def __init__(self, features: int, out: int):
        super().__init__()
        self.centres = nn.Parameter(torch.empty(out, features).bernoulli_(0.5) * 2 - 1, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.centres
        return (x * x).sum(1, keepdim=True) - 2 * (x @ c.t()) + (c * c).sum(1)


class Concat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, 1)


class Add(nn.Module):
    """Elementwise sum of the inputs, then an inline activation in place."""

    def __init__(self, act: str | None):
        super().__init__()
        self.act = steps(inline_act(act)) if act else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y if self.act is None else self.act(y)


class PadShortcut(nn.Module):
    """Option A of the CIFAR ResNets: every s-th position, extra channels zero (appended)."""

    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, self.extra))


class Mul(nn.Module):
    """Elementwise product of the inputs, broadcast (a squeeze-and-excitation gate times its map)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y = y * x
        return y


class Scale(nn.Module):
    """A learned scale per channel (dim 1 of the batch), shaped to broadcast: ConvNeXt's layer scale."""

    def __init__(self, shape: Shape):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape[0], *(1 for _ in shape[1:])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x


class StochasticDepth(nn.Module):
    """torchvision's StochasticDepth, mode 'row': in training, each sample's branch kept with
    probability 1 − p and scaled by 1/(1 − p); the identity at inference or when p = 0."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(survival).div_(survival)


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position of an N×C×H×W map (torchvision's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = (0, *(d + 1 for d in dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class Tokens(nn.Module):
    """N×C×H×W read as N×(H·W)×C, a view (ViT's patches after their convolution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class PatchEmbed(nn.Module):
    def __init__(self, channels: int, dim: int, patch: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(channels, dim, patch, patch)
        self.tokens = Tokens()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(self.conv(x))


class Token(nn.Module):
    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]


class Split(nn.Module):
    """One of `parts` equal chunks of the channels (a view)."""

    def __init__(self, parts: int, part: int):
        super().__init__()
        self.parts, self.part = parts, part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.parts, 1)[self.part - 1]


class Reshape(nn.Module):
    """x.reshape(batch, *shape), or x.view(…) (`view`: torch refuses a tensor whose layout it cannot view)."""

    def __init__(self, shape: tuple[int, ...], view: bool = False):
        super().__init__()
        self.shape, self.view = tuple(shape), view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape) if self.view else x.reshape(x.shape[0], *self.shape)


class GetItem(nn.Module):
    """x[:, …, index] or x[:, …, start:stop] along one dimension after the batch."""

    def __init__(self, dim: int, index: int | None, start: int | None, stop: int | None):
        super().__init__()
        self.key = (slice(None),) * (dim + 1) + (index if index is not None else slice(start, stop),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.key]


class Shuffle(nn.Module):
    """ShuffleNet's channel shuffle: C = groups·k channels read as k×groups and transposed."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class Crop(nn.Module):
    """The centre of the first map, cut to the H×W of the second (a view)."""

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        (h, w), (th, tw) = x.shape[2:], reference.shape[2:]
        top, left = (h - th) // 2, (w - tw) // 2
        return x[:, :, top:top + th, left:left + tw]


class ClassToken(nn.Module):
    """A learned token put before the sequence (ViT's class token)."""

    def __init__(self, dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], 1)


class PosEmbed(nn.Module):
    def __init__(self, tokens: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, tokens, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over N×L×D, as ViT calls torch's module (no attention weights returned)."""

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__(dim, heads, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


class Scope(nn.Module):
    """A container for the nodes under one dotted prefix (a block or branch); not callable."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        raise TypeError("a Scope only holds nodes; call the whole network")


# ── factories: args, input shapes, output shape → module ─────────────────────

Factory = Callable[[Mapping[str, Any], list[Shape], Shape], nn.Module]


def _conv(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    c = shapes[0][0]
    k, s, d = args["k"], args["s"], args["d"]
    bias = args["bias"] if args["bias"] is not None else not args["bn"]
    if args["p"] == "same":
        pad: Any = "same"  # torch pads an odd total at the end, as the rule does
    else:
        (top, _), (left, _) = conv_padding(args["p"], k, s, d)
        pad = (top, left)
    if args["table"] is not None:
        conv: nn.Module = TableConv(args["table"], k, bias, stride=s, padding=pad, dilation=d)
    else:
        conv = nn.Conv2d(c, args["out"], k, s, pad, d, args["groups"], bias)
    bn = [("bn", nn.BatchNorm2d(args["out"]))] if args["bn"] else []
    return steps([("conv", conv), *bn, *inline_act(args["act"])])


def _convtranspose(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    conv = nn.ConvTranspose2d(shapes[0][0], args["out"], args["k"], args["s"], args["p"], args["output_padding"],
                              args["groups"], args["bias"] if args["bias"] is not None else not args["bn"], args["d"])
    bn = [("bn", nn.BatchNorm2d(args["out"]))] if args["bn"] else []
    return steps([("conv", conv), *bn, *inline_act(args["act"])])


def _upsample(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    bilinear = args["mode"] == "bilinear"
    return nn.Upsample(size=out[1:], mode=args["mode"], align_corners=args["align_corners"] if bilinear else None)


def _pool(kind: str) -> Factory:
    def make(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
        if args["global"] or args["output"] is not None:
            size = 1 if args["global"] else args["output"]
            return nn.AdaptiveMaxPool2d(size) if kind == "maxpool" else nn.AdaptiveAvgPool2d(size)
        k, p, ceil = args["k"], args["p"], args["ceil"]
        s = args["s"] or k
        if kind == "maxpool":
            return nn.MaxPool2d(k, s, p, args["d"], ceil_mode=ceil)
        return nn.AvgPool2d(k, s, p, ceil_mode=ceil)

    return make


def _fc(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    n = 1
    for dim in shapes[0]:
        n *= dim
    bias = args["bias"] if args["bias"] is not None else not args["bn"]
    flatten = [("flatten", nn.Flatten())] if len(shapes[0]) > 1 else []
    bn = [("bn", nn.BatchNorm1d(args["out"]))] if args["bn"] else []
    return steps([*flatten, ("linear", nn.Linear(n, args["out"], bias)), *bn, *inline_act(args["act"])])


def _bn(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    norm = nn.BatchNorm2d if len(shapes[0]) == 3 else nn.BatchNorm1d
    return norm(shapes[0][0], eps=args["eps"])


def _layernorm(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    if args["over"] == "channels":
        return LayerNorm2d(shapes[0][0], eps=args["eps"])
    return nn.LayerNorm(shapes[0][-1], eps=args["eps"])


def _linear(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    return steps([("linear", nn.Linear(shapes[0][-1], args["out"], args["bias"])), *inline_act(args["act"])])


def _shortcut(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    c, h, w = shapes[0]
    s, mode = args["s"], args["mode"]
    if mode == "auto":
        mode = "identity" if (out[0], s) == (c, 1) else "projection"
    if mode == "identity":
        return nn.Identity()
    if mode == "pad":
        return PadShortcut(s, out[0] - c)
    bn = [("bn", nn.BatchNorm2d(out[0]))] if args["bn"] else []
    return steps([("conv", nn.Conv2d(c, out[0], 1, s, bias=False)), *bn])


def _activation(name: str) -> Factory:
    return lambda args, shapes, out: ACTIVATION_MODULES[name](False)  # standalone: out of place


FACTORIES: dict[str, Factory] = {
    "conv": _conv,
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "subsample": lambda args, shapes, out: Subsample(shapes[0][0], args["k"], args["s"] or args["k"], args["act"]),
    "lrn": lambda args, shapes, out: nn.LocalResponseNorm(args["size"], args["alpha"], args["beta"], args["k"]),
    "convtranspose": _convtranspose,
    "patch_embed": lambda args, shapes, out: PatchEmbed(shapes[0][0], args["dim"], args["patch"]),
    "bn": _bn,
    "layernorm": _layernorm,
    "groupnorm": lambda args, shapes, out: nn.GroupNorm(args["groups"], shapes[0][0], eps=args["eps"]),
    **{name: _activation(name) for name in ACTIVATION_MODULES},
    "dropout": lambda args, shapes, out: nn.Dropout(args["p"]),
    "stochastic_depth": lambda args, shapes, out: StochasticDepth(args["p"]),
    "scale": lambda args, shapes, out: Scale(shapes[0]),
    "flatten": lambda args, shapes, out: nn.Flatten(),
    "fc": _fc,
    "linear": _linear,
    "rbf": lambda args, shapes, out: RBF(shapes[0][0], args["out"]),
    "softmax": lambda args, shapes, out: nn.Softmax(dim=1),
    "concat": lambda args, shapes, out: Concat(),
    "add": lambda args, shapes, out: Add(args["act"]),
    "mul": lambda args, shapes, out: Mul(),
    "permute": lambda args, shapes, out: Permute(args["dims"]),
    "tokens": lambda args, shapes, out: Tokens(),
    "token": lambda args, shapes, out: Token(args["index"]),
    "split": lambda args, shapes, out: Split(args["parts"], args["part"]),
    "reshape": lambda args, shapes, out: Reshape(args["shape"]),
    "view": lambda args, shapes, out: Reshape(args["shape"], view=True),
    "getitem": lambda args, shapes, out: GetItem(args["dim"], args["index"], args["start"], args["stop"]),
    "shuffle": lambda args, shapes, out: Shuffle(args["groups"]),
    "crop": lambda args, shapes, out: Crop(),
    "upsample": _upsample,
    "class_token": lambda args, shapes, out: ClassToken(shapes[0][-1]),
    "pos_embed": lambda args, shapes, out: PosEmbed(*shapes[0]),
    "attention": lambda args, shapes, out: SelfAttention(shapes[0][-1], args["heads"], args["bias"]),
    "shortcut": _shortcut,
}


# ── the network ──────────────────────────────────────────────────────────────


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
                last_read[slot[source]] = i
        last_read[len(network.layers)] = len(network.layers)  # the output is returned
        frees: dict[int, list[int]] = {}
        for tensor, step in last_read.items():
            frees.setdefault(step, []).append(tensor)
        self._plan = [(nodes[layer.name], tuple(slot[s] for s in layer.inputs), i + 1, tuple(frees.get(i, ())))
                      for i, layer in enumerate(network.layers)]
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
        """A random input of the network's shape, with a batch dimension."""
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


def _free_name(parent: nn.Module, name: str) -> str:
    """`name`, or `name_` (…) where torch refuses it: an attribute such as `forward`, or taken."""
    while name in parent._modules or hasattr(parent, name):
        name += "_"
    return name


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
    shapes: dict[str, Shape] = {INPUT: report.input, **{row.name: row.output for row in report.rows}}
    missing = sorted({layer.kind for layer in network.layers} - set(FACTORIES))
    if missing:
        raise BuildError(f"the torch backend has no module for kind(s) {', '.join(missing)}")
    with torch.device(device) if device is not None else nullcontext():
        nodes = {layer.name: FACTORIES[layer.kind](arguments(layer, shapes), [shapes[i] for i in layer.inputs],
                                                   shapes[layer.name])
                 for layer in network.layers}
        module = ArchcalcModule(network, report.input, nodes)
    if dtype is not None:
        module.to(DTYPES[dtype] if isinstance(dtype, str) else dtype)
    return module
