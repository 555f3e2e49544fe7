"""Kinds that move elements without weights or MACs: permute, tokens, split, reshape, getitem, shuffle, crop,
upsample.

Most are views in PyTorch (permute, a channel split, a crop, reading a map
as tokens, picking one token): no new memory, nothing kept for backward.
A channel shuffle copies (its transpose is made contiguous). Upsampling
writes a new, larger map; by the MACs-of-conv-fc-and-attention convention
its interpolation counts 0 MACs, and its backward needs only the sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from math import prod
from typing import Any

from ..args import Arg
from ..symbolic import is_symbolic, must_divide, require
from .base import (DIM_DOC, MAP_TEXT, Eval, Inputs, Rule, RuleError, Shape, Window, dim_name, elements, factor,
                   layout_dim, num, one_input, one_map, per_axis, product, shape_text)


def _permute(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape, dims = one_input("permute", shapes), args["dims"]
    if sorted(dims) != list(range(len(shape))):
        raise RuleError(f"dims {list(dims)} must order the {len(shape)} dimensions 0..{len(shape) - 1} of "
                        f"{shape_text(shape)}, each once (the batch is not counted)")
    out = tuple(shape[d] for d in dims)
    return Eval(out, output="view", formulas=lambda: {"shape": f"{shape_text(shape)} → {shape_text(out)} (dims {list(dims)})"})


def _tokens(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, sizes = one_map("tokens", shapes)
    n = prod(sizes)
    return Eval((n, c), output="view", formulas=lambda: {
        "shape": f"{shape_text(shapes[0])} → {product(sizes)} = {num(n)} tokens of {c}"})


def _token(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("token", shapes, 2)
    if not require(n - 1 - args["index"], f"token {args['index']} of {n}"):
        raise RuleError(f"token {args['index']} of a sequence of {n}")
    return Eval((d,), output="view", formulas=lambda: {"shape": f"token {args['index']} of {n}: {d} features"})


def _resolve_split(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    return {**args, "dim": layout_dim("split", args["dim"], [one_input("split", shapes)])}


def _split(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("split", shapes)
    parts, part, dim = args["parts"], args["part"], args["dim"]
    size = shape[dim]
    if not must_divide(parts, size, lambda: f"{parts} parts of {factor(size)}"):
        raise RuleError(f"{parts} parts must divide the {size} {dim_name(shape, dim)}")
    if part is not None and part > parts:
        raise RuleError(f"part {part} of {parts}: expected 1 ≤ part ≤ {parts}")
    out = (*shape[:dim], size // parts, *shape[dim + 1:])
    which = f"part {part}" if part is not None else f"{parts} outputs, :0 … :{parts - 1}"
    return Eval(out, output="view", outputs=(out,) * parts if part is None else (),
                formulas=lambda: {"shape": f"{dim_name(shape, dim)} {factor(size)}/{parts} = {factor(out[dim])}, {which}"})


def _reshaped(kind: str) -> Callable[[Mapping[str, Any], list[Shape]], Eval]:
    """A reshape (or view) to a target shape, batch excluded; one size may be -1, the one the others leave."""

    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        shape, target = one_input(kind, shapes), args["shape"]
        count, known = elements(shape), elements(tuple(d for d in target if d != -1))
        if -1 not in target:
            if is_symbolic(count):
                raise RuleError(f"{kind} of {shape_text(shape)}: write -1 for the size that depends on the input's")
            if count != known:
                raise RuleError(f"{kind} to {list(target)} needs {num(known)} elements; {shape_text(shape)} has {num(count)}")
            out = tuple(target)
        else:
            if not must_divide(known, count, lambda: f"{shape_text(shape)} into sizes of {num(known)}"):
                raise RuleError(f"{kind} to {list(target)}: {shape_text(shape)} = {num(count)} elements is not a multiple "
                                f"of {num(known)}")
            out = tuple(count // known if d == -1 else d for d in target)
        return Eval(out, output="view",
                    formulas=lambda: {"shape": f"{shape_text(shape)} → {shape_text(out)} ({list(target)})"})

    return evaluate


def _getitem(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    """x[:, …, index] or x[:, …, start:stop] along one dimension (batch excluded): a view."""
    shape, dim, index = one_input("getitem", shapes), args["dim"], args["index"]
    if dim >= len(shape):
        raise RuleError(f"dim {dim} of a {len(shape)}-D input {shape_text(shape)} (the batch is not counted; "
                        f"expected 0 ≤ dim ≤ {len(shape) - 1})")
    n, sliced = shape[dim], args["start"] is not None or args["stop"] is not None
    if (index is not None) == sliced:
        raise RuleError("getitem takes index (one position, the dimension dropped) or start/stop (a slice), not both or neither")
    if index is not None:
        if len(shape) == 1:
            raise RuleError(f"getitem of a 1-D input {shape_text(shape)} would leave no dimension: slice it with start/stop")
        _position(index, n, f"index {index} of {n}")
        out = (*shape[:dim], *shape[dim + 1:])
        text = f"index {index} of dim {dim}"
    else:
        start = _position(args["start"] or 0, n, f"start {args['start']} of {n}", end=True)
        stop = _position(n if args["stop"] is None else args["stop"], n, f"stop {args['stop']} of {n}", end=True)
        if not require(stop - start - 1, f"slice {start}:{stop} of {n}"):
            raise RuleError(f"slice {start}:{stop} of dim {dim} (size {n}) is empty")
        out = (*shape[:dim], stop - start, *shape[dim + 1:])
        text = f"{start}:{stop} of dim {dim}"
    return Eval(out, output="view", formulas=lambda: {"shape": f"{shape_text(shape)} → {shape_text(out)} ({text})"})


def _position(index: int, n: Any, what: str, end: bool = False) -> Any:
    """A Python index within a size of n (negative from the end); `end`: a slice bound, n included."""
    at = n + index if index < 0 else index
    if not (require(at, what) and require(n - at - (0 if end else 1), what)):
        raise RuleError(f"{what} is out of range")
    return at


def _shuffle(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, h, w = one_input("shuffle", shapes, 3)
    groups = args["groups"]
    if not must_divide(groups, c, lambda: f"groups={groups} divide the {factor(c)} channels"):
        raise RuleError(f"groups={groups} must divide the {c} channels")
    return Eval((c, h, w), formulas=lambda: {"shape": f"unchanged: {c}×{h}×{w} ({groups} groups of {c // groups}, interleaved)"})


def _crop(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    if len(shapes) != 2:
        raise RuleError(f"crop takes two inputs, the map and the one whose size it is cut to; received {len(shapes)}")
    (c, h, w), reference = shapes
    if len(reference) != 3:
        raise RuleError(f"crop cuts to the H×W of a C×H×W map; received {shape_text(reference)}")
    th, tw = reference[1:]
    if not (require(h - th, f"crop {h} to {th}") and require(w - tw, f"crop {w} to {tw}")):
        raise RuleError(f"cannot crop {h}×{w} to the larger {th}×{tw}")
    return Eval((c, th, tw), output="view",
                formulas=lambda: {"shape": f"centre {th}×{tw} of {h}×{w}: ({h} − {th})/2 = {(h - th) // 2} rows "
                                   f"and ({w} − {tw})/2 = {(w - tw) // 2} columns off each side"})


# the interpolation of each rank: 'linear' reads two neighbours on every axis, as torch's linear,
# bilinear and trilinear modes do over 1, 2 and 3 axes
INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _upsample(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, sizes = one_map("upsample", shapes)
    rank, size, scale, mode = len(sizes), args["size"], args["scale"], args["mode"]
    if (size is None) == (scale is None):
        raise RuleError("upsample takes scale (a factor) or size (the output size), not both or neither")
    modes = dict.fromkeys(("nearest", "linear", INTERPOLATION[rank]))
    if mode not in modes:
        raise RuleError(f"mode {mode} interpolates a {MAP_TEXT[INTERPOLATION_RANK[mode]]} map; the input is "
                        f"{shape_text((c, *sizes))}: use {', '.join(modes)}")
    scale = per_axis("scale", scale, rank) if scale is not None else None
    grid = per_axis("size", size, rank) if size is not None else tuple(n * f for n, f in zip(sizes, scale))
    reach = (1 if mode == "nearest" else 2,) * rank  # linear modes read two neighbours per axis
    if scale is not None:
        window: Window | None = Window(reach, tuple(Fraction(1, f) for f in scale))
    elif any(is_symbolic(n) for n in sizes):
        window = None  # to a fixed size from a symbolic one: no closed-form spacing
    else:
        window = Window(reach, tuple(Fraction(n, o) for n, o in zip(sizes, grid)))
    return Eval(
        (c, *grid),
        window=window,
        formulas=lambda: {"shape": f"{mode}: {shape_text(sizes)} → {shape_text(grid)}" + (f" (×{shape_text(scale)})" if scale else "")},
    )


INTERPOLATION_RANK = {mode: rank for rank, mode in INTERPOLATION.items()}


RULES = [
    Rule("permute", "reorder dimensions (a view), as torch.permute without the batch: [1, 2, 0] makes C×H×W H×W×C",
         (Arg("dims", "ints0", required=True, doc="the new order of the dimensions, 0-based, batch excluded"),),
         _permute, shorthand="dims"),
    Rule("tokens", "read a C×H×W map as a sequence of H·W tokens of C features (a view; C×L and C×T×H×W alike)",
         (), _tokens),
    Rule("token", "one token of an N×D sequence, its D features (ViT's class token, x[:, 0])",
         (Arg("index", "int", 0, "which token, from 0"),), _token, shorthand="index"),
    Rule("split", "split into equal parts along `dim` (views): a map's channels (ShuffleNet's channel split), a "
         "sequence's features; every part, read as split1:0, split1:1 …, or the one `part`",
         (Arg("parts", "pos", 2, "equal parts"),
          Arg("part", "pos", None, "only this part, from 1 (one output); without it every part is an output"),
          Arg("dim", "index", None, DIM_DOC)), _split, resolve=_resolve_split),
    Rule("reshape", "reshape to a shape, batch excluded, one size -1 (a view, as torch.reshape of a contiguous "
         "tensor; after a permute or a slice torch copies, which is not counted): x.reshape(b, c, h*w) is reshape: [C, -1]",
         (Arg("shape", "shape", required=True, doc="the sizes after the batch; one may be -1"),),
         _reshaped("reshape"), shorthand="shape"),
    Rule("view", "x.view(b, …): reshape's figures, torch's view (which needs a contiguous input): view: [-1]",
         (Arg("shape", "shape", required=True, doc="the sizes after the batch; one may be -1"),),
         _reshaped("view"), shorthand="shape"),
    Rule("getitem", "x[:, i] or x[:, a:b] along one dimension, batch excluded (a view): one index drops the dimension",
         (Arg("dim", "int", 0, "the dimension, 0-based, batch excluded"),
          Arg("index", "index", None, "one position (negative from the end); the dimension is dropped"),
          Arg("start", "index", None, "a slice's start (negative from the end)"),
          Arg("stop", "index", None, "a slice's end, excluded (negative from the end)")), _getitem, shorthand="index"),
    Rule("shuffle", "channel shuffle: groups interleaved (ShuffleNet)",
         (Arg("groups", "pos", 2, "channel groups"),), _shuffle, shorthand="groups"),
    Rule("crop", "centre crop of a map to the H×W of another (U-Net's skips): from: [map, reference]",
         (), _crop, inputs=Inputs.MAP_AND_SIZE, spatial=True),
    Rule("upsample", "upsampling of a 1-D, 2-D or 3-D map by an integer scale or to a size, nearest or linear",
         (Arg("scale", "per_axis", None, "integer factor, or one per spatial axis ([height, width])"),
          Arg("size", "per_axis", None, "output size, or one per spatial axis ([height, width])"),
          Arg("mode", "str", "nearest", "nearest, or linear interpolation on every axis: linear (any rank), or "
              "bilinear (2-D) and trilinear (3-D) as torch names them", choices=("nearest", "linear", "bilinear", "trilinear")),
          Arg("align_corners", "bool", False, "linear modes: align the corner pixels (no effect on the figures)")),
         _upsample, shorthand="scale", spatial=True),
]
