"""Pooling: max and average (windowed, global or adaptive) and LeNet's subsampling.

Pooling has no parameters and, by the MACs-of-conv-and-fc convention, no
MACs. LeNet-5's subsampling averages 2×2 and then applies one trainable
coefficient and one bias per map: 2 parameters per channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from ..symbolic import is_symbolic
from .base import (
    PROMOTE, WHOLE, Eval, Picture, Rule, RuleError, Saved, Shape, Window, num, one_input, sliding, spatial, texts,
)
from .elementwise import ACT_ARG, inline_act


def _resolve_stride(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """A window's stride, unset, is its size (windows side by side); global and adaptive pools have neither."""
    return {**args, "s": args["k"]} if args["s"] is None and args["k"] is not None else args


def _window(kind: str, args: Mapping[str, Any], c: int, h: int, w: int) -> tuple[Shape, Window, dict[str, str], tuple[str, ...]]:
    k, d = args["k"], args.get("d", (1, 1))
    if k is None:
        raise RuleError(f"{kind} needs k (window size), or global: true, or output: N")
    s = args["s"]
    p = args["p"]
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise RuleError(f"padding p={list(p)} exceeds half the window k={list(k)} (PyTorch refuses it)")
    eh = sliding(h, k[0], s[0], (p[0], p[0]), d[0], args["ceil"])
    ew = sliding(w, k[1], s[1], (p[1], p[1]), d[1], args["ceil"])
    formula, flags = spatial(eh, ew)
    return (c, eh.size, ew.size), Window(k, s, d), lambda: {"shape": formula()}, flags


def _adaptive(args: Mapping[str, Any], c: int, h: int, w: int) -> tuple[Shape, Window, dict[str, str], tuple[str, ...]]:
    oh, ow = (1, 1) if args["global"] else args["output"]
    if args["global"]:
        return (c, 1, 1), WHOLE, {"shape": f"global: {h}×{w} → 1×1 per channel"}, ()
    formulas = {"shape": f"adaptive: {h}×{w} → {oh}×{ow} bins"}
    if is_symbolic(h) or is_symbolic(w):
        return (c, oh, ow), None, formulas, ()  # its bins depend on N mod O: no closed-form field
    # PyTorch's adaptive bins: start ⌊i·N/O⌋, end ⌈(i+1)·N/O⌉; the widest bin is the window.
    kh, kw = -(-h // oh) + (h % oh != 0), -(-w // ow) + (w % ow != 0)
    window = Window((min(kh, h), min(kw, w)), (max(h // oh, 1), max(w // ow, 1)))
    return (c, oh, ow), window, formulas, ()


def _pool(kind: str):
    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        c, h, w = one_input(kind, shapes, 3)
        adaptive = args["global"] or args["output"] is not None
        shape, window, formulas, flags = (_adaptive if adaptive else lambda *a: _window(kind, *a))(args, c, h, w)
        count = shape[0] * shape[1] * shape[2]
        # Average pooling to 1×1 is a mean in PyTorch, whose backward needs only the input's shape.
        saved = () if kind == "avgpool" and adaptive and shape[1:] == (1, 1) else (Saved("in0", c * h * w),)
        if kind == "maxpool":
            saved += (Saved("own:indices", count, 8),)  # int64 argmax positions
        return Eval(shape, window=window, saved=saved, formulas=formulas, flags=flags)

    return evaluate


def _subsample(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, h, w = one_input("subsample", shapes, 3)
    shape, window, formulas, flags = _window("subsample", {**args, "p": (0, 0), "ceil": False}, c, h, w)
    count = shape[0] * shape[1] * shape[2]
    act_saved, act_tmp = inline_act(args["act"], "tmp:scaled", count)
    return Eval(
        shape,
        params=2 * c,
        window=window,
        temporaries=count + act_tmp,
        saved=(Saved("in0", c * h * w), Saved("tmp:pooled", count, input_type=True)) + act_saved,
        formulas=lambda: {**texts(formulas), "params": f"2·{c} = {num(2 * c)} (one coefficient and one bias per map)"},
        flags=flags,
    )


def _pool_args(extra: tuple[Arg, ...] = ()) -> tuple[Arg, ...]:
    return (
        Arg("k", "pair", None, "window size, or [height, width]"),
        Arg("s", "pair", None, "stride (default: the window size)"),
        Arg("p", "pair0", 0, "zero padding per side (at most half the window)"),
        Arg("ceil", "bool", False, "round the output size up, as PyTorch's ceil_mode"),
        Arg("global", "bool", False, "pool each channel's whole map to 1×1"),
        Arg("output", "pair", None, "adaptive pooling to this output size (torchvision's 6×6 / 7×7)"),
    ) + extra


_POOL = Picture("#e0f0dc", window=True)

RULES = [
    Rule("maxpool", "max pooling over k×k windows", _pool_args((Arg("d", "pair", 1, "dilation"),)),
         _pool("maxpool"), shorthand="k", spatial=True, resolve=_resolve_stride, picture=_POOL),
    Rule("avgpool", "average pooling over k×k windows, or global / adaptive", _pool_args(), _pool("avgpool"), shorthand="k",
         spatial=True, resolve=_resolve_stride, picture=_POOL),
    Rule("subsample", "LeNet-5 subsampling: 2×2 average × trainable coefficient + bias per map",
         (Arg("k", "pair", 2, "window size"), Arg("s", "pair", None, "stride (default: the window size)"), ACT_ARG),
         _subsample, spatial=True, autocast=PROMOTE, resolve=_resolve_stride, picture=Picture(window=True)),
]
