"""The traced operations outside any module with a reader (F.relu, torch.cat, `+`, x.flatten(1) …), each
mapped to a kind, by the op's name: an ATen op's under torch.export (aten.cat → "cat", aten.relu_ → "relu"),
a function's or method's under torch.fx ("cat", "relu", "flatten"); both take their arguments in ATen's order.

A handler gets the Op (its inputs as Values, its traced output) and returns a Value: an Emit (a new layer of
a kind reading some of the op's layers), the Value of an input (an op that changes nothing archcalc counts:
contiguous, a dtype cast, dropout at p = 0), or a Param for an op on parameters alone (the class token's
expand). It raises Unmapped for what no kind expresses.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from typing import Any

from ...rules import ACTIVATIONS
from ...rules.base import Shape, along
from ..torch.base import Read, axes

BATCH = 2  # the batch the model is traced at: 2, so that the batch axis is told from an axis of size 1


class Unmapped(Exception):
    """An op no kind expresses (the importer lists each, or keeps it opaque)."""


@dataclass(frozen=True)
class Layer:
    """A tensor a layer of the network being built gives: its name (`name` or `name:i`) and traced shape."""

    name: str
    shape: tuple[int, ...]  # with the batch

    @property
    def sample(self) -> Shape:
        return self.shape[1:]


@dataclass(frozen=True)
class Param:
    """A parameter or buffer the op reads (or a view of one: expand, reshape)."""

    name: str
    shape: tuple[int, ...]
    numel: int = 0


@dataclass(frozen=True)
class Const:
    """A tensor made from neither the input nor a parameter (torch.arange's positions, a mask of the sizes)."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class Emit:
    """A new layer: `read` applied to `inputs` (Layers)."""

    read: Read
    inputs: tuple[Layer, ...]
    params: tuple[Param, ...] = field(default=())


Value = Any  # Layer, Param, Const, Emit, a tuple of Values, or a Python constant (an int, a list of them, None)


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple[Value, ...]
    kwargs: dict[str, Value]
    out: Any  # the traced output: a tensor (shape) or a tuple of them

    def arg(self, index: int, key: str, default: Any = None) -> Any:
        return self.args[index] if len(self.args) > index else self.kwargs.get(key, default)

    @property
    def layers(self) -> list[Layer]:
        return [a for a in flat(self.args) if isinstance(a, Layer)]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(self.out.shape)


def flat(values: Any) -> list[Any]:
    """The items of nested tuples, lists and dicts (an op's arguments), in order."""
    if isinstance(values, dict):
        values = list(values.values())
    if isinstance(values, (tuple, list)):
        return [item for value in values for item in flat(value)]
    return [values]


def per_sample(shape: Sequence[int], op: str) -> Shape:
    if not shape or shape[0] != BATCH:
        raise Unmapped(f"{op} moves the batch dimension (output {tuple(shape)} at batch {BATCH})")
    return tuple(shape[1:])


def _axis(dim: int, rank: int) -> int:
    """A dimension of the batched tensor (negative from the end) as the rules count it: 0-based, batch excluded."""
    dim = dim + rank if dim < 0 else dim
    if dim == 0:
        raise Unmapped("an operation along the batch dimension")
    return dim - 1


def _one(op: Op) -> Layer:
    layers = op.layers
    if len(layers) != 1 or any(isinstance(a, Param) for a in flat(op.args)):
        raise Unmapped(f"{op.name} of {len(layers)} layer outputs and parameters")
    return layers[0]


def _kind(kind: str) -> Callable[[Op], Value]:
    return lambda op: Emit(Read(kind), (_one(op),))


def _same(op: Op) -> Value:
    return _one(op)


def _gelu(op: Op) -> Value:
    return Emit(Read("gelu_tanh" if op.arg(1, "approximate", "none") == "tanh" else "gelu"), (_one(op),))


def _hardtanh(op: Op) -> Value:
    if (op.arg(1, "min_val", -1.0), op.arg(2, "max_val", 1.0)) != (0.0, 6.0):
        raise Unmapped("hardtanh other than relu6")
    return Emit(Read("relu6"), (_one(op),))


def _dropout(op: Op) -> Value:
    p = op.arg(1, "p", 0.5)
    return Emit(Read("dropout", {"p": p}), (_one(op),)) if p else _one(op)


def _add(op: Op) -> Value:
    a, b = op.arg(0, "input"), op.arg(1, "other")
    if op.arg(2, "alpha", 1) != 1:
        raise Unmapped("add with alpha")
    if isinstance(a, Param):
        a, b = b, a
    if isinstance(a, Layer) and isinstance(b, Layer) and a.shape == b.shape:
        return Emit(Read("add"), (a, b))
    if isinstance(a, Layer) and isinstance(b, Param) and b.shape == (1, *a.sample) and len(a.sample) == 2:
        # a learned table added to every sample's tokens (ViT), or its first S rows (GPT-2's position table)
        rows = b.numel // a.sample[1]
        return Emit(Read("pos_embed", {"max": rows} if rows != a.sample[0] else {}), (a,), (b,))
    raise Unmapped(f"add of {_what(a)} and {_what(b)}")


def _mul(op: Op) -> Value:
    a, b = op.arg(0, "input"), op.arg(1, "other")
    if isinstance(a, Param):
        a, b = b, a
    if isinstance(a, Layer) and isinstance(b, Layer):
        return Emit(Read("mul"), (a, b))
    if isinstance(a, Layer) and isinstance(b, Param) and b.shape == (a.sample[0], *(1 for _ in a.sample[1:])):
        return Emit(Read("scale"), (a,), (b,))  # a learned scale per channel (ConvNeXt's layer scale)
    raise Unmapped(f"mul of {_what(a)} and {_what(b)}")


def _what(value: Value) -> str:
    if isinstance(value, Layer):
        return f"a {'×'.join(map(str, value.shape))} tensor"
    if isinstance(value, Param):
        return f"parameter {value.name} {'×'.join(map(str, value.shape))}"
    if isinstance(value, Const):
        return f"a {'×'.join(map(str, value.shape))} tensor of constants"
    return f"the constant {value!r}"


def _cat(op: Op) -> Value:
    parts, dim = op.arg(0, "tensors"), op.arg(1, "dim", 0)
    rank = len(op.out_shape)
    if (len(parts) == 2 and isinstance(parts[0], Param) and isinstance(parts[1], Layer) and _axis(dim, rank) == 0
            and len(parts[1].sample) == 2 and parts[0].shape[1:] == (1, parts[1].sample[1])):
        return Emit(Read("class_token"), (parts[1],), (parts[0],))  # a learned token before the sequence (ViT)
    if not all(isinstance(p, Layer) for p in parts):
        raise Unmapped("cat of parameters")
    if len(parts) == 1:
        return parts[0]
    return Emit(Read("concat", along(_axis(dim, rank), rank - 1)), tuple(parts))


def _expand(op: Op) -> Value:
    x = op.arg(0, "input")
    if isinstance(x, Param):
        return Param(x.name, op.out_shape[1:] and (1, *op.out_shape[1:]), x.numel)
    raise Unmapped("expand of a layer's output")


def _reshape(kind: str) -> Callable[[Op], Value]:
    def read(op: Op) -> Value:
        x = op.arg(0, "input")
        if isinstance(x, Param):
            return Param(x.name, (1, *op.out_shape[1:]), x.numel)
        x = _one(op)
        out = per_sample(op.out_shape, op.name)
        if out == x.sample:
            return x
        if len(out) == 1 and len(x.sample) > 1:
            return Emit(Read("flatten"), (x,))
        return Emit(Read(kind, {"shape": list(out)}), (x,))
    return read


def _permute(op: Op) -> Value:
    x = _one(op)
    dims = op.args[1:] if len(op.args) > 2 else op.arg(1, "dims")  # x.permute(0, 2, 1) under fx
    rank = len(x.shape)
    dims = [d + rank if d < 0 else d for d in flat(list(dims))]
    if dims[0] != 0:
        raise Unmapped("a permutation that moves the batch dimension")
    return x if dims == sorted(dims) else Emit(Read("permute", {"dims": [d - 1 for d in dims[1:]]}), (x,))


def _transpose(op: Op) -> Value:
    x = _one(op)
    rank = len(x.shape)
    a, b = (d + rank if d < 0 else d for d in (op.arg(1, "dim0"), op.arg(2, "dim1")))
    dims = list(range(rank))
    dims[a], dims[b] = dims[b], dims[a]
    return _permute(Op("permute", (x, dims), {}, op.out))


def _mean(op: Op) -> Value:
    x = _one(op)
    rank = len(x.shape)
    dims = sorted(d + rank if d < 0 else d for d in flat([op.arg(1, "dim")]) if d is not None)
    if len(x.sample) < 2 or dims != list(range(2, rank)):
        raise Unmapped(f"mean over dimensions {dims} (the kind: a map's every spatial axis, a global pool)")
    pooled = Emit(Read("avgpool", {"global": True}), (x,))
    return pooled if op.arg(2, "keepdim", False) else Emit(Read("flatten"), (pooled,))


def _adaptive(kind: str) -> Callable[[Op], Value]:
    return lambda op: Emit(Read(kind, {"output": list(per_sample(op.out_shape, op.name)[1:])}), (_one(op),))


def _pool(kind: str) -> Callable[[Op], Value]:
    """F.max_pool2d / F.avg_pool2d (x, kernel, stride, padding[, dilation], ceil_mode …) in ATen's order."""
    def read(op: Op) -> Value:
        k = op.arg(1, "kernel_size")
        s, p = op.arg(2, "stride") or k, op.arg(3, "padding", 0)
        args = {"k": axes(k), "s": axes(s), "p": axes(p)}
        if kind == "maxpool":
            args.update(d=axes(op.arg(4, "dilation", 1)), ceil=bool(op.arg(5, "ceil_mode", False)))
        else:
            args["ceil"] = bool(op.arg(4, "ceil_mode", False))
        return Emit(Read(kind, args), (_one(op),))
    return read


def _select(op: Op) -> Value:
    x = _one(op)
    dim, index = _axis(op.arg(1, "dim"), len(x.shape)), op.arg(2, "index")
    if dim == 0 and len(x.sample) == 2:
        return Emit(Read("token", {"index": index}), (x,))
    return Emit(Read("getitem", {"dim": dim, "index": index}), (x,))


def _slice(op: Op) -> Value:
    x = _one(op)
    dim, start, stop, step = op.arg(1, "dim", 0), op.arg(2, "start"), op.arg(3, "end"), op.arg(4, "step", 1)
    rank = len(x.shape)
    size = x.shape[dim]
    start, stop = 0 if start is None else start, size if stop is None else min(stop, size)
    if (start, stop, step) == (0, size, 1):
        return x
    if step != 1:
        raise Unmapped("a slice with a step")
    return Emit(Read("getitem", {"dim": _axis(dim, rank), "start": start, "stop": stop}), (x,))


def _getitem(op: Op) -> Value:
    """A tuple's element (a split's part, a module's first output), or, under fx, indexing a tensor."""
    x, index = op.args[0], op.args[1]
    if isinstance(x, (tuple, list)):
        return x[index]
    index = index if isinstance(index, tuple) else (index,)
    if isinstance(x, Layer) and len(index) >= 1 and index[0] == slice(None):
        value = x
        for axis, item in enumerate(index[1:], 1):
            if isinstance(item, int):
                return _select(Op("select", (value, axis, item), {}, op.out))
            if isinstance(item, slice) and item != slice(None):
                return _slice(Op("slice", (value, axis, item.start, item.stop, item.step or 1), {}, op.out))
        return value
    raise Unmapped("indexing other than x[:, i] or x[:, a:b]")


def _split(op: Op) -> Value:
    """chunk(x, n, dim) or split(x, size, dim) into equal parts along one dimension after the batch: a split,
    every part an output (`name:0`, `name:1` …)."""
    x = _one(op)
    axis = _axis(op.arg(2, "dim", 0), len(x.shape))
    parts = len(op.out)
    if len({tuple(t.shape) for t in op.out}) != 1 or parts < 2:
        raise Unmapped("a split other than into equal parts")
    return Emit(Read("split", {"parts": parts, **along(axis, len(x.shape) - 1)}), (x,))


def _upsample(op: Op) -> Value:
    mode = op.kwargs.get("mode", "nearest") if op.name == "interpolate" else (
        "nearest" if "nearest" in op.name else "linear")
    if mode not in ("nearest", "linear", "bilinear", "trilinear"):
        raise Unmapped(f"interpolation of mode {mode}")
    return Emit(Read("upsample", {"size": list(per_sample(op.out_shape, op.name)[1:]),
                                  "mode": "nearest" if mode == "nearest" else "linear"}), (_one(op),))


FUNCTIONS: dict[str, Callable[[Op], Value]] = {
    **{name: _kind(name) for name in ACTIVATIONS if name not in ("gelu", "gelu_tanh", "gelu_new")},
    "gelu": _gelu, "hardtanh": _hardtanh, "softmax": _kind("softmax"), "_softmax": _kind("softmax"),
    "dropout": _dropout, "feature_dropout": _dropout,
    "add": _add, "iadd": _add, "mul": _mul, "imul": _mul,
    "cat": _cat, "concat": _cat, "concatenate": _cat,
    "expand": _expand,
    "flatten": _reshape("view"), "view": _reshape("view"), "reshape": _reshape("reshape"),
    "_unsafe_view": _reshape("view"), "unflatten": _reshape("view"), "squeeze": _reshape("view"),
    "unsqueeze": _reshape("view"),
    "permute": _permute, "transpose": _transpose,
    "mean": _mean,
    "adaptive_avg_pool1d": _adaptive("avgpool"), "adaptive_avg_pool2d": _adaptive("avgpool"),
    "adaptive_avg_pool3d": _adaptive("avgpool"), "adaptive_max_pool2d": _adaptive("maxpool"),
    **{f"max_pool{n}d": _pool("maxpool") for n in (1, 2, 3)}, **{f"avg_pool{n}d": _pool("avgpool") for n in (1, 2, 3)},
    "select": _select, "slice": _slice, "getitem": _getitem,
    "chunk": _split, "split": _split, "split_with_sizes": _split, "unbind": _split,
    "interpolate": _upsample, "upsample_nearest2d": _upsample, "upsample_bilinear2d": _upsample,
    **{name: _same for name in ("contiguous", "clone", "detach", "alias", "to", "_to_copy", "type_as", "float",
                                "lift_fresh_copy", "_assert_tensor_metadata")},
}

operator_names = {operator.add: "add", operator.iadd: "iadd", operator.mul: "mul", operator.imul: "imul",
                  operator.getitem: "getitem"}
