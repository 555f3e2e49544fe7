"""Convolution and transposed convolution over 1, 2 or 3 spatial axes, with optional fused batch norm and activation.

Weights: one K_h·K_w·(C/groups) kernel per output map (K_l in 1-D, K_t·K_h·K_w
in 3-D; with a LeNet-style connection table, K_h·K_w per listed input map); a
bias per map unless batch norm follows, whose γ and β take its place. MACs:
every output element of a convolution does one multiply-accumulate per kernel
weight; a transposed convolution does the same per *input* element, scattering
each into a K_h×K_w patch of every output map in its group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from fractions import Fraction
from math import prod
from typing import Any

from ..args import Arg
from ..symbolic import factor, must_divide, require
from .base import (LOW, Eval, Picture, Role, Rule, RuleError, Saved, Shape, Window, num, one_map, per_axis,
                   per_axis_text, product, sliding, spatial, texts)
from .elementwise import ACT_ARG
from .tail import resolve_bias, tail


def padding(arg: Any, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(before, after) padding per spatial axis; 'same' keeps the size at stride 1, as PyTorch."""
    if arg == "valid":
        return ((0, 0),) * len(k)
    if arg == "same":
        if any(si != 1 for si in s):
            raise RuleError("padding 'same' needs stride 1 (as in PyTorch); give p explicitly")
        totals = [di * (ki - 1) for ki, di in zip(k, d)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in per_axis("p", arg, len(k)))


def geometry(args: Mapping[str, Any], rank: int, *names: str) -> tuple[tuple[Any, ...], ...]:
    """The named per-axis arguments (k, s, d …) of a window over `rank` spatial axes, each one per axis."""
    return tuple(per_axis(name, args[name], rank) for name in names)


def _resolve_conv(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """The bias (unless bn); k, s and d one per spatial axis of the input; and `pads`, the zero padding
    (before, after) of each axis."""
    _, sizes = one_map("conv", shapes)
    k, s, d = geometry(args, len(sizes), "k", "s", "d")
    return {**resolve_bias(args, shapes), "k": k, "s": s, "d": d, "pads": padding(args["p"], k, s, d)}


def _weights(args: Mapping[str, Any], c: int, k: tuple[int, ...]) -> tuple[int, Callable[[], str]]:
    """Kernel weights, and the formula's first term (made on demand)."""
    out, groups, table = args["out"], args["groups"], args.get("table")
    kernel = prod(k)
    if table is not None:
        if groups != 1:
            raise RuleError("a connection table and groups > 1 cannot be combined")
        if len(table) != out:
            raise RuleError(f"connection table has {len(table)} rows; expected one per output map (out={out})")
        bad = [i for row in table for i in row if i >= c]
        if bad:
            raise RuleError(f"connection table names input map {bad[0]}; the input has maps 0..{c - 1}")
        twice = next((row for row in table if len(set(row)) != len(row)), None)
        if twice is not None:
            raise RuleError(f"connection table row {list(twice)} lists an input map twice; each map is read once")
        counts = Counter(len(row) for row in table)
        links = sum(len(row) for row in table)
        terms = " + ".join(f"{n}·{size}" for size, n in sorted(counts.items()))
        return kernel * links, lambda: f"{product(k)}·({terms})"
    for name, value in (("input channels", c), ("out", out)):
        if not must_divide(groups, value, lambda: f"groups={groups} divide {name} ({factor(value)})"):
            raise RuleError(f"groups={groups} must divide {name} ({value})")
    return kernel * (c // groups) * out, lambda: product((*k, c // groups, out))


def _conv(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, sizes = one_map("conv", shapes)
    out, k, s, d, pads = args["out"], args["k"], args["s"], args["d"], args["pads"]
    extents = tuple(sliding(n, *axis) for n, axis in zip(sizes, zip(k, s, pads, d)))
    shape_formula, flags = spatial(*extents)
    weights, weight_text = _weights(args, c, k)
    grid = tuple(e.size for e in extents)
    positions = prod(grid)
    macs = positions * weights
    count = out * positions
    fused = tail(out, count, "tmp:conv", bias=args["bias"], bn=args["bn"], act=args["act"])
    params = weights + fused.params
    # Uneven padding ('same' over an even extent): PyTorch convolves a zero-padded copy of the
    # input, and autograd keeps that copy instead of the input.
    uneven = any(before != after for before, after in pads)
    padded = c * prod(n + sum(pad) for n, pad in zip(sizes, pads)) if uneven else 0
    conv_in = Saved("own:padded", padded) if uneven else Saved("in0", c * prod(sizes))
    return Eval(
        (out, *grid),
        params=params,
        buffers=fused.buffers,
        counters=fused.counters,
        macs=macs,
        window=Window(k, s, d),
        temporaries=padded + fused.temporaries,
        saved=(conv_in, Saved("weight", weights, per_sample=False), *fused.saved),
        formulas=lambda: {
            "shape": shape_formula(),
            "weights": f"{weight_text()} = {num(weights)}",
            "params": f"{' + '.join((weight_text(), *fused.terms))} = {num(params)}",
            "macs": f"{product(grid)} · {weight_text()} = {num(macs)}",
        },
        flags=flags,
    )


def _transposed_extent(n: int, k: int, s: int, p: int, d: int, extra: int) -> tuple[int, str]:
    """Output size of a transposed convolution, as PyTorch: (N − 1)·S − 2P + D·(K − 1) + OP + 1."""
    size = (n - 1) * s - 2 * p + d * (k - 1) + extra + 1
    k_text = f"({k} − 1)" if d == 1 else f"{d}·({k} − 1)"

    def formula() -> str:
        return f"({n} − 1)·{s} − 2·{p} + {k_text} + {extra} + 1 = {size}"

    if not require(size - 1, formula):
        raise RuleError(f"output size {size} ≤ 0: {formula()}")
    return size, formula


_TRANSPOSED = ("k", "s", "p", "d", "output_padding")


def _resolve_transposed(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """The bias (unless bn), and k, s, p, d and output_padding one per spatial axis of the input."""
    _, sizes = one_map("convtranspose", shapes)
    return {**resolve_bias(args, shapes), **dict(zip(_TRANSPOSED, geometry(args, len(sizes), *_TRANSPOSED)))}


def _convtranspose(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, sizes = one_map("convtranspose", shapes)
    out = args["out"]
    k, s, p, d, extra = (args[name] for name in _TRANSPOSED)
    for axis in range(len(sizes)):
        if extra[axis] >= max(s[axis], d[axis]):
            raise RuleError(f"output_padding {extra[axis]} must be smaller than the stride ({s[axis]}) "
                            f"or the dilation ({d[axis]}), as PyTorch requires")
    grid, shape_texts = zip(*(_transposed_extent(*axis) for axis in zip(sizes, k, s, p, d, extra)))
    weights, weight_text = _weights(args, c, k)
    macs = prod(sizes) * weights  # every input element meets every weight of its group once
    fused = tail(out, out * prod(grid), "tmp:conv", bias=args["bias"], bn=args["bn"], act=args["act"])
    params = weights + fused.params
    # An output reads ⌈K_eff/S⌉ neighbouring inputs per axis; outputs are 1/S input steps apart.
    reach = tuple(-(-(da * (ka - 1) + 1) // sa) for ka, sa, da in zip(k, s, d))
    return Eval(
        (out, *grid),
        params=params,
        buffers=fused.buffers,
        counters=fused.counters,
        macs=macs,
        window=Window(reach, tuple(Fraction(1, sa) for sa in s)),
        temporaries=fused.temporaries,
        saved=(Saved("in0", c * prod(sizes)), Saved("weight", weights, per_sample=False), *fused.saved),
        formulas=lambda: {
            "shape": per_axis_text(tuple(text() for text in shape_texts)),
            "weights": f"{weight_text()} = {num(weights)}",
            "params": f"{' + '.join((weight_text(), *fused.terms))} = {num(params)}",
            "macs": f"{product(sizes)} · {weight_text()} = {num(macs)} (per input position)",
        },
    )


def _patch_embed(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    """A patch×patch convolution of stride patch, its map read as a sequence of tokens."""
    patch = args["patch"]
    conv = _conv(_resolve_conv({"out": args["dim"], "k": patch, "s": patch, "p": 0, "d": 1, "groups": 1,
                                "bias": True, "bn": False, "act": None}, shapes), shapes)
    dim, *grid = conv.shape
    tokens = prod(grid)
    return Eval(
        (tokens, dim), params=conv.params, macs=conv.macs, window=conv.window, saved=conv.saved, flags=conv.flags,
        grid=tuple(grid),
        formulas=lambda: {**texts(conv.formulas), "shape": f"{texts(conv.formulas)['shape']}; {product(grid)} = {num(tokens)} tokens of {dim}"},
    )


_STRIDE = Arg("s", "per_axis", 1, "stride, or one per spatial axis ([height, width])")
_SHARED = (
    Arg("d", "per_axis", 1, "dilation"),
    Arg("groups", "pos", 1, "channel groups (AlexNet's two towers: 2; depthwise: the input channels)"),
    Arg("bias", "bool", None, "learn a bias per map (default: yes, unless bn)"),
    Arg("bn", "bool", False, "batch norm after the convolution"),
    ACT_ARG,
)

CONV = Rule(
    "conv",
    "convolution (1-D, 2-D or 3-D, by its input): out maps of k×k kernels, stride s, padding p; optional fused bn and act",
    (
        Arg("out", "pos", required=True, doc="output channels (filters)"),
        Arg("k", "per_axis", required=True, doc="kernel size, or one per spatial axis ([height, width])"),
        _STRIDE,
        Arg("p", "pad", 0, "zero padding per side, one per spatial axis, 'same' or 'valid'"),
        *_SHARED,
        Arg("table", "table", None, "connection table: for each output map, the input maps it reads (LeNet-5 C3)"),
    ),
    _conv,
    role=Role.WEIGHTED,
    spatial=True,
    autocast=LOW,
    resolve=_resolve_conv,
    picture=Picture("#dbe8f6", window=True),
)

RULES = [
    CONV,
    Rule("convtranspose", "transposed convolution, 1-D to 3-D (U-Net's up-convolution): out maps, k×k kernels, stride s",
         (Arg("out", "pos", required=True, doc="output channels"),
          Arg("k", "per_axis", required=True, doc="kernel size, or one per spatial axis ([height, width])"),
          _STRIDE,
          Arg("p", "per_axis0", 0, "padding removed from each side of the output"),
          Arg("output_padding", "per_axis0", 0, "extra rows and columns on one side (smaller than s or d)"),
          *_SHARED),
         _convtranspose, role=Role.WEIGHTED, spatial=True, autocast=LOW, resolve=_resolve_transposed,
         picture=Picture(window=True)),
    Rule("patch_embed", "patch embedding: a patch×patch convolution of stride patch read as N×D tokens (ViT)",
         (Arg("dim", "pos", required=True, doc="embedding dimension D (output channels)"),
          Arg("patch", "per_axis", required=True, doc="patch size, or [height, width]")),
         _patch_embed, role=Role.WEIGHTED, autocast=LOW),
]
