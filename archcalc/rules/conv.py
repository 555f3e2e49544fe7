"""2-D convolution, with optional fused batch norm and activation.

Weights: one K_h·K_w·(C/groups) kernel per output map (or, with a LeNet-style
connection table, K_h·K_w per listed input map); a bias per map unless batch
norm follows, whose γ and β take its place. MACs: every output element does
one multiply-accumulate per kernel weight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..args import Arg
from .base import Eval, Rule, RuleError, Saved, Shape, Window, num, one_input, product, sliding, spatial
from .elementwise import ACT_ARG, batchnorm_stats, inline_act


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


def _weights(args: Mapping[str, Any], c: int) -> tuple[int, str]:
    """Kernel weights and the formula's first term."""
    out, (kh, kw), groups, table = args["out"], args["k"], args["groups"], args["table"]
    if table is not None:
        if groups != 1:
            raise RuleError("a connection table and groups > 1 cannot be combined")
        if len(table) != out:
            raise RuleError(f"connection table has {len(table)} rows; expected one per output map (out={out})")
        bad = [i for row in table for i in row if i >= c]
        if bad:
            raise RuleError(f"connection table names input map {bad[0]}; the input has maps 0..{c - 1}")
        counts = Counter(len(row) for row in table)
        links = sum(len(row) for row in table)
        terms = " + ".join(f"{n}·{size}" for size, n in sorted(counts.items()))
        return kh * kw * links, f"{kh}·{kw}·({terms})"
    for name, value in (("input channels", c), ("out", out)):
        if value % groups:
            raise RuleError(f"groups={groups} must divide {name} ({value})")
    return kh * kw * (c // groups) * out, product((kh, kw, c // groups, out))


def _conv(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, h, w = one_input("conv", shapes, 3)
    out, k, s, d = args["out"], args["k"], args["s"], args["d"]
    pad_h, pad_w = padding(args["p"], k, s, d)
    eh, ew = sliding(h, k[0], s[0], pad_h, d[0]), sliding(w, k[1], s[1], pad_w, d[1])
    shape_formula, flags = spatial(eh, ew)
    weights, weight_text = _weights(args, c)
    bn, bias = args["bn"], args["bias"] if args["bias"] is not None else not args["bn"]
    terms = [weight_text] + ([str(out)] if bias else []) + ([f"2·{out}"] if bn else [])
    params = weights + (out if bias else 0) + (2 * out if bn else 0)
    positions = eh.size * ew.size
    macs = positions * weights
    count = out * positions
    act_saved, act_tmp = inline_act(args["act"], "tmp:bn" if bn else "tmp:conv", count)
    # Uneven padding ('same' over an even extent): PyTorch convolves a zero-padded copy of the
    # input, and autograd keeps that copy instead of the input.
    uneven = pad_h[0] != pad_h[1] or pad_w[0] != pad_w[1]
    padded = c * (h + sum(pad_h)) * (w + sum(pad_w)) if uneven else 0
    conv_in = Saved("own:padded", padded) if uneven else Saved("in0", c * h * w)
    saved = (conv_in,) + ((Saved("tmp:conv", count), batchnorm_stats(out)) if bn else ()) + act_saved
    return Eval(
        (out, eh.size, ew.size),
        params=params,
        buffers=2 * out + 1 if bn else 0,
        macs=macs,
        window=Window(k, s, d),
        temporaries=padded + (count if bn else 0) + act_tmp,
        saved=saved,
        formulas={
            "shape": shape_formula,
            "weights": f"{weight_text} = {num(weights)}",
            "params": f"{' + '.join(terms)} = {num(params)}",
            "macs": f"{product((eh.size, ew.size))} · {weight_text} = {num(macs)}",
        },
        flags=flags,
    )


CONV = Rule(
    "conv",
    "2-D convolution: out maps of k×k kernels, stride s, padding p; optional fused bn and act",
    (
        Arg("out", "pos", required=True, doc="output channels (filters)"),
        Arg("k", "pair", required=True, doc="kernel size, or [height, width]"),
        Arg("s", "pair", 1, "stride, or [height, width]"),
        Arg("p", "pad", 0, "zero padding per side, [height, width], 'same' or 'valid'"),
        Arg("d", "pair", 1, "dilation"),
        Arg("groups", "pos", 1, "channel groups (AlexNet's two towers: 2)"),
        Arg("bias", "bool", None, "learn a bias per map (default: yes, unless bn)"),
        Arg("bn", "bool", False, "batch norm after the convolution"),
        ACT_ARG,
        Arg("table", "table", None, "connection table: for each output map, the input maps it reads (LeNet-5 C3)"),
    ),
    _conv,
    weight_layer=True,
)
