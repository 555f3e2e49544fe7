"""ONNX operators as archcalc's kinds: one handler per operator, in the table OPS.

A handler reads a node's attributes and weights' shapes (never their values, but for small
constants: a shape, scales, split sizes) through the walk (`onnxgraph`), and adds the layer of
the kind that computes what the node does; what no kind expresses (an asymmetric padding, a
Concat along another axis than the channels) is refused, naming the node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ArchcalcError
from .rules.base import along

Handler = Callable[[Any, Any], None]  # (the walk, the node)


class MappingError(ArchcalcError):
    """A node archcalc has no kind for, or one of whose attributes no kind expresses."""


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (ints, floats, texts and their lists)."""
    out: dict[str, Any] = {}
    for a in node.attribute:
        value = {1: a.f, 2: a.i, 3: a.s.decode("utf-8", "replace"), 6: list(a.floats), 7: list(a.ints)}.get(a.type)
        if value is not None:
            out[a.name] = value
    return out


def _one(values: list[int]) -> Any:
    """One value for every axis when they agree, else the list (as a spec writes k, s, p)."""
    return values[0] if len(set(values)) == 1 else list(values)


def _window(walk: Any, node: Any, rank: int) -> dict[str, Any]:
    """Stride, padding and dilation of a Conv or pooling node, as archcalc's s, p and d."""
    a = attrs(node)
    pads = a.get("pads", [0] * 2 * rank)
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        p: Any = "same"
    elif pads[:rank] != pads[rank:]:
        raise walk.refuse(node, f"pads its sides unequally ({pads}); archcalc's padding is the same on both sides")
    else:
        p = _one(pads[:rank]) if rank else 0
    return {"s": _one(a.get("strides", [1] * rank)), "p": p, "d": _one(a.get("dilations", [1] * rank))}


def _reads(walk: Any, node: Any, axis: int, expected: int, what: str) -> None:
    """Refuse a weight that does not fit its input: the engine derives a layer's weight from the input and the
    node's output width, so a weight declared for other input features would be priced as it is not."""
    shape = walk.shape(node.input[0])
    given = shape[axis] if shape is not None and len(shape) > abs(axis) else None
    if isinstance(given, int) and given != expected:
        raise walk.refuse(node, f"has a weight for {expected:,} {what}, but its input {list(shape)} has {given:,}")


def _conv(walk: Any, node: Any) -> None:
    weight = walk.weight_dims(node, 1)
    a = attrs(node)
    _reads(walk, node, 1, weight[1] * a.get("group", 1), "input channels")
    args = {"out": weight[0], "k": _one(weight[2:]), **_window(walk, node, len(weight) - 2),
            "groups": a.get("group", 1), "bias": walk.learned(node, 2)}
    walk.add(node, "conv", args)


def _conv_transpose(walk: Any, node: Any) -> None:
    weight = walk.weight_dims(node, 1)
    a = attrs(node)
    if "output_shape" in a:
        raise walk.refuse(node, "gives an output_shape; archcalc's convtranspose takes its padding")
    rank = len(weight) - 2
    groups = a.get("group", 1)
    _reads(walk, node, 1, weight[0], "input channels")
    args = {"out": weight[1] * groups, "k": _one(weight[2:]), **_window(walk, node, rank), "groups": groups,
            "output_padding": _one(a.get("output_padding", [0] * rank)), "bias": walk.learned(node, 2)}
    if args["p"] == "same":
        raise walk.refuse(node, "pads itself automatically (auto_pad); archcalc's convtranspose takes its padding")
    walk.add(node, "convtranspose", args)


def _gemm(walk: Any, node: Any) -> None:
    a = attrs(node)
    if a.get("transA", 0) or walk.is_static(node.input[0]):
        raise walk.refuse(node, "multiplies a transposed or constant first operand; archcalc's fc reads features")
    weight = walk.weight_dims(node, 1)
    if len(weight) != 2:
        raise walk.refuse(node, f"multiplies by a weight of shape {weight}; an fc layer's is [out, in] or [in, out]")
    out, features = (weight[0], weight[-1]) if a.get("transB", 0) else (weight[-1], weight[0])
    _reads(walk, node, -1, features, "input features")
    walk.add(node, "fc", {"out": out, "bias": walk.learned(node, 2)})


def _matmul(walk: Any, node: Any) -> None:
    if walk.is_static(node.input[0]) or not walk.is_static(node.input[1]):
        raise walk.refuse(node, "multiplies two computed tensors (as attention's scores do); archcalc maps a MatMul "
                                "by a weight, as a linear layer")
    weight = walk.weight_dims(node, 1)
    if len(weight) != 2:
        raise walk.refuse(node, f"multiplies by a weight of shape {weight}; a linear layer's is [in, out]")
    _reads(walk, node, -1, weight[0], "input features")
    bias = walk.absorb(node, ("Add", lambda add: _is_bias(walk, add, node.output[0], weight[1])))
    walk.add(node, "linear", {"out": weight[1], "bias": bias is not None}, outputs=[(bias or [node])[-1].output[0]])


def _is_bias(walk: Any, add: Any, tensor: str, out: int) -> bool:
    """Whether `add` adds a vector of `out` constants to `tensor` (a linear layer's bias)."""
    other = [t for t in add.input if t != tensor]
    return len(other) == 1 and walk.is_static(other[0]) and walk.shape(other[0]) == [out]


def _batchnorm(walk: Any, node: Any) -> None:
    for tensor in node.input[1:5]:  # scale, bias, mean and variance: one value per channel
        dims = walk.shape(tensor)
        if dims is None or len(dims) != 1:
            raise walk.refuse(node, f"has a scale, bias, mean or variance of shape {dims}; batch norm's are [C]")
        _reads(walk, node, 1, dims[0], "channels")
    walk.add(node, "bn", {"eps": attrs(node).get("epsilon", 1e-5)})


def _layernorm(walk: Any, node: Any) -> None:
    a = attrs(node)
    if walk.axis(node, a.get("axis", -1)) != walk.rank(node) - 2:
        raise walk.refuse(node, "normalises more than the last dimension; archcalc's layernorm takes the last")
    if len(node.input) < 3 or not node.input[2]:
        raise walk.refuse(node, "has no bias; archcalc's layernorm learns a scale and a bias")
    walk.add(node, "layernorm", {"eps": a.get("epsilon", 1e-5)})


def _plain(kind: str) -> Handler:
    """An operator that is one argument-free kind (an activation, softmax)."""
    return lambda walk, node: walk.add(node, kind)


def _gelu(walk: Any, node: Any) -> None:
    walk.add(node, "gelu_tanh" if attrs(node).get("approximate") == "tanh" else "gelu")


def _sigmoid(walk: Any, node: Any) -> None:
    """x·sigmoid(x), as torch exports SiLU, is silu; any other Sigmoid is sigmoid."""
    gate = walk.absorb(node, ("Mul", lambda mul: sorted(mul.input) == sorted([node.input[0], node.output[0]])))
    walk.add(node, "silu" if gate else "sigmoid", outputs=[(gate or [node])[-1].output[0]])


def _div(walk: Any, node: Any) -> None:
    """GELU as opsets before 20 write it, x·½·(1 + erf(x/√2)): Div, Erf, Add 1, Mul x, Mul ½."""
    x = node.input[0]

    def by(value: float) -> Callable[[Any], bool]:  # a constant operand (maybe later in the file) of that value
        return lambda n: any(v is not None and len(v) == 1 and abs(v[0] - value) < 1e-4
                             for v in (walk.value(n, i) for i in range(len(n.input))))

    chain = walk.absorb(node, ("Erf", lambda n: True), ("Add", by(1)), ("Mul", lambda n: x in n.input), ("Mul", by(0.5))) \
        if not walk.is_static(x) and by(2 ** 0.5)(node) else None
    if chain is None:
        raise walk.refuse(node, "divides, other than as GELU's x/√2; archcalc has no kind for a division")
    walk.add(node, "gelu", outputs=[chain[-1].output[0]])


def _clip(walk: Any, node: Any) -> None:
    bounds = [walk.value(node, i) if i < len(node.input) and node.input[i] else None for i in (1, 2)]
    a = attrs(node)
    low, high = (b[0] if b else a.get(k) for b, k in zip(bounds, ("min", "max")))
    if (low, high) != (0, 6):
        raise walk.refuse(node, f"clips to [{low}, {high}]; archcalc maps Clip to [0, 6] as relu6")
    walk.add(node, "relu6")


def _dropout(walk: Any, node: Any) -> None:
    ratio = walk.value(node, 1) if len(node.input) > 1 and node.input[1] else None
    walk.add(node, "dropout", {"p": ratio[0] if ratio else attrs(node).get("ratio", 0.5)})


def _pool(kind: str) -> Handler:
    def handle(walk: Any, node: Any) -> None:
        a = attrs(node)
        if len(node.output) > 1 and node.output[1]:
            raise walk.refuse(node, "also returns the indices of its maxima; archcalc's maxpool does not")
        kernel = a.get("kernel_shape", [])
        args = {"k": _one(kernel), **_window(walk, node, len(kernel)), "ceil": bool(a.get("ceil_mode", 0))}
        if kind == "avgpool":
            del args["d"]
        walk.add(node, kind, args)

    return handle


def _global(kind: str) -> Handler:
    return lambda walk, node: walk.add(node, kind, {"global": True})


def _concat(walk: Any, node: Any) -> None:
    axis = walk.axis(node, attrs(node).get("axis", 0))
    inputs = [t for t in node.input if t]
    if len(inputs) == 1:  # torch.cat([x]): the same tensor
        walk.alias(node)
        return
    walk.add(node, "concat", along(axis, walk.rank(node) - 1), inputs=inputs)


def _reduce_mean(walk: Any, node: Any) -> None:
    """The mean over every spatial axis (x.mean([2, 3])) is a global average pool; without keepdims, flattened."""
    a = attrs(node)
    axes = a.get("axes") or walk.value(node, 1) or []
    rank = len(walk.shape(node.input[0]) or [])
    if rank < 3 or sorted(x + rank if x < 0 else x for x in axes) != list(range(2, rank)):
        raise walk.refuse(node, "averages other axes than every spatial one; archcalc's global avgpool takes those")
    if a.get("keepdims", 1):
        walk.add(node, "avgpool", {"global": True})
        return
    pooled = f"{node.output[0]}:pooled"
    walk.add(node, "avgpool", {"global": True}, outputs=[pooled])
    walk.add(node, "flatten", inputs=[pooled])


def _merge(kind: str) -> Handler:
    """Add or Mul of two computed tensors; Mul of a map by a weight per channel is scale."""

    def handle(walk: Any, node: Any) -> None:
        static = [t for t in node.input if walk.is_static(t)]
        if not static:
            walk.add(node, kind, inputs=list(node.input))
            return
        if kind == "mul" and len(node.input) == 2 and _per_channel(walk, static[0], node):
            walk.add(node, "scale", inputs=[t for t in node.input if t not in static])
            return
        raise walk.refuse(node, "combines a constant tensor with a computed one; archcalc maps a bias after a MatMul "
                                "and a scale per channel")

    return handle


def _per_channel(walk: Any, weight: str, node: Any) -> bool:
    """Whether `weight` holds one value per channel of a map: [C, 1, …] or [1, C, 1, …]."""
    dims = walk.shape(weight)
    out = walk.shape(node.output[0])
    if dims is None or out is None or len(out) < 3:
        return False
    dims = dims[1:] if len(dims) == len(out) else dims
    return len(dims) == len(out) - 1 and dims[0] == out[1] and all(d == 1 for d in dims[1:])


def _resize(walk: Any, node: Any) -> None:
    a = attrs(node)
    mode = a.get("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise walk.refuse(node, f"interpolates by {mode}; archcalc's upsample is nearest or linear")
    args: dict[str, Any] = {"mode": mode}
    if mode == "linear":
        args["align_corners"] = a.get("coordinate_transformation_mode") == "align_corners"
    scales = walk.value(node, 2) if len(node.input) > 2 and node.input[2] else None
    sizes = walk.value(node, 3) if len(node.input) > 3 and node.input[3] else None
    out = walk.shape(node.output[0]) or []
    if scales and all(float(s).is_integer() for s in scales) and scales[:2] == [1, 1]:
        args["scale"] = _one([int(s) for s in scales[2:]])
    elif sizes:
        args["size"] = _one([int(s) for s in sizes[2:]])
    elif len(out) > 2 and all(isinstance(d, int) for d in out[2:]):
        args["size"] = _one(out[2:])
    else:
        raise walk.refuse(node, "resizes by a factor that is not whole, or to sizes computed in the graph")
    walk.add(node, "upsample", args)


def _reshape(walk: Any, node: Any) -> None:
    """Reshape to the sizes after the batch: onnx's inferred ones, or the file's target (0 copies an input size)."""
    out = walk.shape(node.output[0])
    if out and all(isinstance(d, int) for d in out[1:]):
        walk.add(node, "reshape", {"shape": out[1:]})
        return
    target = walk.value(node, 1)
    source = walk.shape(node.input[0]) or []
    if target is None or not target or target[0] not in (0, -1) or (target[0] == -1 and -1 in target[1:]):
        raise walk.refuse(node, "reshapes to sizes computed in the graph, or moves the batch")
    sizes = [source[i] if d == 0 and i < len(source) else d for i, d in enumerate(target)][1:]
    if not all(isinstance(d, int) for d in sizes):
        raise walk.refuse(node, "copies a symbolic size (0 in its target); give --input")
    walk.add(node, "reshape", {"shape": sizes})


def _flatten(walk: Any, node: Any) -> None:
    if attrs(node).get("axis", 1) != 1:
        raise walk.refuse(node, "keeps more than the batch; archcalc's flatten keeps the batch alone")
    if walk.rank(node) == 2 and len(walk.shape(node.input[0]) or []) == 2:
        walk.alias(node)
        return
    walk.add(node, "flatten")


def _transpose(walk: Any, node: Any) -> None:
    perm = attrs(node).get("perm") or list(range(walk.rank(node)))[::-1]
    if perm[0] != 0:
        raise walk.refuse(node, "moves the batch axis; archcalc's permute keeps it first")
    walk.add(node, "permute", {"dims": [p - 1 for p in perm[1:]]})


def _gather(walk: Any, node: Any) -> None:
    """A table of vectors looked up by ids (an embedding), or one index of a computed tensor (getitem)."""
    axis = attrs(node).get("axis", 0)
    if walk.is_static(node.input[0]) and not walk.is_static(node.input[1]):
        table = walk.weight_dims(node, 0)
        if axis != 0 or len(table) != 2:
            raise walk.refuse(node, f"gathers from a table of shape {table} along axis {axis}; an embedding is [vocab, dim]")
        walk.add(node, "embedding", {"vocab": table[0], "dim": table[1]}, inputs=[node.input[1]])
        return
    index, rank = walk.value(node, 1), len(walk.shape(node.input[0]) or [])
    axis = axis + rank if axis < 0 else axis
    if index is None or len(index) != 1 or walk.shape(node.input[1]) not in ([], None) or not 1 <= axis < rank:
        raise walk.refuse(node, "gathers by indices computed in the graph, several at once, or along the batch")
    walk.add(node, "getitem", {"dim": axis - 1, "index": index[0]})


def _slice(walk: Any, node: Any) -> None:
    """One axis cut from start to end, step 1: getitem's slice (a chunk of the channels, a token range)."""
    bounds = [walk.value(node, i) if i < len(node.input) and node.input[i] else None for i in range(1, 5)]
    starts, ends, axes, steps = bounds
    rank = len(walk.shape(node.input[0]) or [])
    known = starts is not None and ends is not None and len(starts) == len(ends) == 1 and all(
        isinstance(v, int) for v in (*starts, *ends, *(axes or []), *(steps or [])))
    if not known or (steps and steps != [1]) or (axes and len(axes) != 1):
        raise walk.refuse(node, "slices by bounds computed in the graph, along several axes, or by a step; archcalc's "
                                "getitem cuts one axis")
    axis = (axes or [0])[0]
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise walk.refuse(node, "slices the batch; archcalc's getitem keeps it")
    args: dict[str, Any] = {"dim": axis - 1, "start": starts[0]}
    if ends[0] < 1 << 31:  # a larger end is "to the end" (the exporters write INT64_MAX)
        args["stop"] = ends[0]
    walk.add(node, "getitem", args)


def _split(walk: Any, node: Any) -> None:
    a = attrs(node)
    parts = len(node.output)
    sizes = walk.value(node, 1) if len(node.input) > 1 and node.input[1] else a.get("split")
    axis = walk.axis(node, a.get("axis", 0))
    if sizes and len(set(sizes)) != 1:
        raise walk.refuse(node, "splits into unequal parts; archcalc's split makes equal parts")
    if parts == 1:
        walk.alias(node)
        return
    layer = walk.add(node, "split", {"parts": parts, **along(axis, walk.rank(node) - 1)}, outputs=[])
    for i, tensor in enumerate(node.output):
        walk.refs[tensor] = f"{layer}:{i}"


def _identity(walk: Any, node: Any) -> None:
    walk.alias(node)


OPS: dict[str, Handler] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layernorm,
    "Relu": _plain("relu"),
    "LeakyRelu": _plain("leaky_relu"),
    "Elu": _plain("elu"),
    "Tanh": _plain("tanh"),
    "Sigmoid": _sigmoid,
    "HardSigmoid": _plain("hardsigmoid"),
    "HardSwish": _plain("hardswish"),
    "Gelu": _gelu,
    "Div": _div,
    "Clip": _clip,
    "Softmax": _plain("softmax"),
    "Dropout": _dropout,
    "Identity": _identity,
    "Cast": _identity,  # a computed tensor's type: the figures are at --dtype
    "CastLike": _identity,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global("avgpool"),
    "GlobalMaxPool": _global("maxpool"),
    "ReduceMean": _reduce_mean,
    "Concat": _concat,
    "Add": _merge("add"),
    "Mul": _merge("mul"),
    "Resize": _resize,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Gather": _gather,
    "Split": _split,
    "Slice": _slice,
}
STATIC_OPS = frozenset({"Shape", "Size", "Constant"})  # known without running the network, whatever they read
