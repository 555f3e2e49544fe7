"""Pooling over 1, 2 or 3 spatial axes: max and average (windowed, global or adaptive) and LeNet's subsampling.

Pooling has no parameters and, by the MACs-of-conv-and-fc convention, no
MACs. LeNet-5's subsampling averages 2×2 and then applies one trainable
coefficient and one bias per map: 2 parameters per channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from ..args import Arg
from ..symbolic import is_symbolic
from .base import (PROMOTE, WHOLE, Eval, Picture, Rule, RuleError, Saved, Shape, Window, num, one_map, per_axis,
                   shape_text, sliding, spatial, texts)
from .elementwise import ACT_ARG, inline_act


def _resolve_window(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """A windowed pool's k, s, p and d one per spatial axis of its input, the stride, unset, its size (windows
    side by side); a global or adaptive pool has neither, and an input that is no map is left to evaluate."""
    if args["k"] is None or args.get("global") or args.get("output") is not None or len(shapes[0]) < 2:
        return args
    rank = len(shapes[0]) - 1
    k = per_axis("k", args["k"], rank)
    axes = {name: per_axis(name, args[name], rank) for name in ("p", "d") if name in args}
    return {**args, **axes, "k": k, "s": k if args["s"] is None else per_axis("s", args["s"], rank)}


def _window(kind: str, args: Mapping[str, Any], c: int, sizes: tuple[Any, ...]) -> tuple[Shape, Window, Any, tuple[str, ...]]:
    if args["k"] is None:
        raise RuleError(f"{kind} needs k (window size), or global: true, or output: N")
    rank = len(sizes)
    k, s = per_axis("k", args["k"], rank), per_axis("s", args["s"], rank)  # one per axis already, once resolved
    p, d = per_axis("p", args["p"], rank), per_axis("d", args.get("d", 1), rank)
    if any(pa * 2 > ka for pa, ka in zip(p, k)):
        raise RuleError(f"padding p={list(p)} exceeds half the window k={list(k)} (PyTorch refuses it)")
    extents = tuple(sliding(n, ka, sa, (pa, pa), da, args["ceil"]) for n, ka, sa, pa, da in zip(sizes, k, s, p, d))
    formula, flags = spatial(*extents)
    return (c, *(e.size for e in extents)), Window(k, s, d), lambda: {"shape": formula()}, flags


def _adaptive(args: Mapping[str, Any], c: int, sizes: tuple[Any, ...]) -> tuple[Shape, Window | None, Any, tuple[str, ...]]:
    rank = len(sizes)
    if args["global"]:
        return (c, *(1,) * rank), WHOLE, {"shape": f"global: {shape_text(sizes)} → {shape_text((1,) * rank)} per channel"}, ()
    bins = per_axis("output", args["output"], rank)
    formulas = {"shape": f"adaptive: {shape_text(sizes)} → {shape_text(bins)} bins"}
    if any(is_symbolic(n) for n in sizes):
        return (c, *bins), None, formulas, ()  # its bins depend on N mod O: no closed-form field
    # PyTorch's adaptive bins: start ⌊i·N/O⌋, end ⌈(i+1)·N/O⌉; the widest bin is the window.
    k = tuple(min(-(-n // o) + (n % o != 0), n) for n, o in zip(sizes, bins))
    window = Window(k, tuple(max(n // o, 1) for n, o in zip(sizes, bins)))
    return (c, *bins), window, formulas, ()


def _pool(kind: str):
    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        c, sizes = one_map(kind, shapes)
        adaptive = args["global"] or args["output"] is not None
        shape, window, formulas, flags = _adaptive(args, c, sizes) if adaptive else _window(kind, args, c, sizes)
        count = prod(shape)
        # Average pooling to 1×1 is a mean in PyTorch, whose backward needs only the input's shape.
        ones = all(n == 1 for n in shape[1:])
        saved = () if kind == "avgpool" and adaptive and ones else (Saved("in0", c * prod(sizes)),)
        if kind == "maxpool":
            saved += (Saved("own:indices", count, 8),)  # int64 argmax positions
        return Eval(shape, window=window, saved=saved, formulas=formulas, flags=flags)

    return evaluate


def _subsample(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, sizes = one_map("subsample", shapes)
    shape, window, formulas, flags = _window("subsample", {**args, "p": 0, "ceil": False}, c, sizes)
    count = prod(shape)
    act_saved, act_tmp = inline_act(args["act"], "tmp:scaled", count)
    return Eval(
        shape,
        params=2 * c,
        window=window,
        temporaries=count + act_tmp,
        saved=(Saved("in0", c * prod(sizes)), Saved("tmp:pooled", count, input_type=True)) + act_saved,
        formulas=lambda: {**texts(formulas), "params": f"2·{c} = {num(2 * c)} (one coefficient and one bias per map)"},
        flags=flags,
    )


def _pool_args(extra: tuple[Arg, ...] = ()) -> tuple[Arg, ...]:
    return (
        Arg("k", "per_axis", None, "window size, or one per spatial axis ([height, width])"),
        Arg("s", "per_axis", None, "stride (default: the window size)"),
        Arg("p", "per_axis0", 0, "zero padding per side (at most half the window)"),
        Arg("ceil", "bool", False, "round the output size up, as PyTorch's ceil_mode"),
        Arg("global", "bool", False, "pool each channel's whole map to 1×1 (1 in 1-D, 1×1×1 in 3-D)"),
        Arg("output", "per_axis", None, "adaptive pooling to this output size (torchvision's 6×6 / 7×7)"),
    ) + extra


_POOL = Picture("#e0f0dc", window=True)

RULES = [
    Rule("maxpool", "max pooling over k×k windows", _pool_args((Arg("d", "per_axis", 1, "dilation"),)),
         _pool("maxpool"), shorthand="k", spatial=True, resolve=_resolve_window, picture=_POOL),
    Rule("avgpool", "average pooling over k×k windows, or global / adaptive", _pool_args(), _pool("avgpool"), shorthand="k",
         spatial=True, resolve=_resolve_window, picture=_POOL),
    Rule("subsample", "LeNet-5 subsampling: 2×2 average × trainable coefficient + bias per map",
         (Arg("k", "per_axis", 2, "window size"), Arg("s", "per_axis", None, "stride (default: the window size)"), ACT_ARG),
         _subsample, spatial=True, autocast=PROMOTE, resolve=_resolve_window, picture=Picture(window=True)),
]
