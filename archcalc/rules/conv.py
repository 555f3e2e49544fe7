"""2-D convolution and transposed convolution, with optional fused batch norm and activation.

Weights: one K_h·K_w·(C/groups) kernel per output map (or, with a LeNet-style
connection table, K_h·K_w per listed input map); a bias per map unless batch
norm follows, whose γ and β take its place. MACs: every output element of a
convolution does one multiply-accumulate per kernel weight; a transposed
convolution does the same per *input* element, scattering each into a
K_h×K_w patch of every output map in its group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from ..args import Arg
from ..symbolic import require
from .base import (
    LOW, Eval, Picture, Role, Rule, RuleError, Saved, Shape, Window, num, one_input, product, sliding, spatial,
    texts,
)
from .elementwise import ACT_ARG
from .tail import resolve_bias, tail


def padding(arg: Any, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(top, bottom), (left, right) padding; 'same' keeps the size at stride 1, as PyTorch."""
    if arg == "valid":
        return (0, 0), (0, 0)
    if arg == "same":
        if s != (1, 1):
            raise RuleError("padding 'same' needs stride 1 (as in PyTorch); give p explicitly")
        totals = [di * (ki - 1) for ki, di in zip(k, d)]
        return tuple((t // 2, t - t // 2) for t in totals)  # type: ignore[return-value]
    return (arg[0], arg[0]), (arg[1], arg[1])


def _resolve_conv(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """The bias (unless bn), and `pads`: the zero padding per side, ((top, bottom), (left, right))."""
    return {**resolve_bias(args, shapes), "pads": padding(args["p"], args["k"], args["s"], args["d"])}


def _weights(args: Mapping[str, Any], c: int) -> tuple[int, Callable[[], str]]:
    """Kernel weights, and the formula's first term (made on demand)."""
    out, (kh, kw), groups, table = args["out"], args["k"], args["groups"], args.get("table")
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
        return kh * kw * links, lambda: f"{kh}·{kw}·({terms})"
    for name, value in (("input channels", c), ("out", out)):
        if value % groups:
            raise RuleError(f"groups={groups} must divide {name} ({value})")
    return kh * kw * (c // groups) * out, lambda: product((kh, kw, c // groups, out))


def _conv(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, h, w = one_input("conv", shapes, 3)
    out, k, s, d = args["out"], args["k"], args["s"], args["d"]
    pad_h, pad_w = args["pads"]
    eh, ew = sliding(h, k[0], s[0], pad_h, d[0]), sliding(w, k[1], s[1], pad_w, d[1])
    shape_formula, flags = spatial(eh, ew)
    weights, weight_text = _weights(args, c)
    positions = eh.size * ew.size
    macs = positions * weights
    count = out * positions
    fused = tail(out, count, "tmp:conv", bias=args["bias"], bn=args["bn"], act=args["act"])
    params = weights + fused.params
    # Uneven padding ('same' over an even extent): PyTorch convolves a zero-padded copy of the
    # input, and autograd keeps that copy instead of the input.
    uneven = pad_h[0] != pad_h[1] or pad_w[0] != pad_w[1]
    padded = c * (h + sum(pad_h)) * (w + sum(pad_w)) if uneven else 0
    conv_in = Saved("own:padded", padded) if uneven else Saved("in0", c * h * w)
    return Eval(
        (out, eh.size, ew.size),
        params=params,
        buffers=fused.buffers,
        macs=macs,
        window=Window(k, s, d),
        temporaries=padded + fused.temporaries,
        saved=(conv_in, Saved("weight", weights, per_sample=False), *fused.saved),
        formulas=lambda: {
            "shape": shape_formula(),
            "weights": f"{weight_text()} = {num(weights)}",
            "params": f"{' + '.join((weight_text(), *fused.terms))} = {num(params)}",
            "macs": f"{product((eh.size, ew.size))} · {weight_text()} = {num(macs)}",
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


def _convtranspose(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, h, w = one_input("convtranspose", shapes, 3)
    out, k, s, p, d, extra = args["out"], args["k"], args["s"], args["p"], args["d"], args["output_padding"]
    for axis in (0, 1):
        if extra[axis] >= max(s[axis], d[axis]):
            raise RuleError(f"output_padding {extra[axis]} must be smaller than the stride ({s[axis]}) "
                            f"or the dilation ({d[axis]}), as PyTorch requires")
    oh, fh = _transposed_extent(h, k[0], s[0], p[0], d[0], extra[0])
    ow, fw = _transposed_extent(w, k[1], s[1], p[1], d[1], extra[1])
    weights, weight_text = _weights(args, c)
    macs = h * w * weights  # every input element meets every weight of its group once
    fused = tail(out, out * oh * ow, "tmp:conv", bias=args["bias"], bn=args["bn"], act=args["act"])
    params = weights + fused.params
    # An output reads ⌈K_eff/S⌉ neighbouring inputs per axis; outputs are 1/S input steps apart.
    reach = tuple(-(-(d[a] * (k[a] - 1) + 1) // s[a]) for a in (0, 1))
    return Eval(
        (out, oh, ow),
        params=params,
        buffers=fused.buffers,
        macs=macs,
        window=Window(reach, (Fraction(1, s[0]), Fraction(1, s[1]))),  # type: ignore[arg-type]
        temporaries=fused.temporaries,
        saved=(Saved("in0", c * h * w), Saved("weight", weights, per_sample=False), *fused.saved),
        formulas=lambda: {
            "shape": fh() if fh() == fw() else f"H: {fh()}; W: {fw()}",
            "weights": f"{weight_text()} = {num(weights)}",
            "params": f"{' + '.join((weight_text(), *fused.terms))} = {num(params)}",
            "macs": f"{product((h, w))} · {weight_text()} = {num(macs)} (per input position)",
        },
    )


def _patch_embed(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    """A patch×patch convolution of stride patch, its map read as a sequence of tokens."""
    patch = args["patch"]
    conv = _conv(_resolve_conv({"out": args["dim"], "k": patch, "s": patch, "p": (0, 0), "d": (1, 1), "groups": 1,
                                "bias": True, "bn": False, "act": None}, shapes), shapes)
    dim, gh, gw = conv.shape
    return Eval(
        (gh * gw, dim), params=conv.params, macs=conv.macs, window=conv.window, saved=conv.saved, flags=conv.flags,
        grid=(gh, gw),
        formulas=lambda: {**texts(conv.formulas), "shape": f"{texts(conv.formulas)['shape']}; {gh}·{gw} = {num(gh * gw)} tokens of {dim}"},
    )


_STRIDE = Arg("s", "pair", 1, "stride, or [height, width]")
_SHARED = (
    Arg("d", "pair", 1, "dilation"),
    Arg("groups", "pos", 1, "channel groups (AlexNet's two towers: 2; depthwise: the input channels)"),
    Arg("bias", "bool", None, "learn a bias per map (default: yes, unless bn)"),
    Arg("bn", "bool", False, "batch norm after the convolution"),
    ACT_ARG,
)

CONV = Rule(
    "conv",
    "2-D convolution: out maps of k×k kernels, stride s, padding p; optional fused bn and act",
    (
        Arg("out", "pos", required=True, doc="output channels (filters)"),
        Arg("k", "pair", required=True, doc="kernel size, or [height, width]"),
        _STRIDE,
        Arg("p", "pad", 0, "zero padding per side, [height, width], 'same' or 'valid'"),
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
    Rule("convtranspose", "transposed 2-D convolution (U-Net's up-convolution): out maps, k×k kernels, stride s",
         (Arg("out", "pos", required=True, doc="output channels"),
          Arg("k", "pair", required=True, doc="kernel size, or [height, width]"),
          _STRIDE,
          Arg("p", "pair0", 0, "padding removed from each side of the output"),
          Arg("output_padding", "pair0", 0, "extra rows and columns on one side (smaller than s or d)"),
          *_SHARED),
         _convtranspose, role=Role.WEIGHTED, spatial=True, autocast=LOW, resolve=resolve_bias,
         picture=Picture(window=True)),
    Rule("patch_embed", "patch embedding: a patch×patch convolution of stride patch read as N×D tokens (ViT)",
         (Arg("dim", "pos", required=True, doc="embedding dimension D (output channels)"),
          Arg("patch", "pair", required=True, doc="patch size, or [height, width]")),
         _patch_embed, role=Role.WEIGHTED, autocast=LOW),
]
