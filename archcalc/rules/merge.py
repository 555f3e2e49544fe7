"""Where branches meet: channel concatenation, elementwise sum and product, residual shortcuts.

Shortcuts follow He et al. 2015: identity when the shapes already match; a
strided 1×1 projection (option B, with batch norm by default) when they do
not; or option A of the CIFAR networks, a strided identity whose extra
channels are zero padding, with no parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from ..args import Arg
from ..symbolic import is_symbolic
from .base import (DIM_DOC, LOW, Eval, Inputs, Picture, Role, Rule, RuleError, Saved, Shape, Window, dim_name, elements,
                   factor, layout_dim, num, one_map, product, shape_text)
from .elementwise import ACT_ARG, inline_act
from .tail import tail


def _shapes_text(shapes: list[Shape]) -> str:
    return ", ".join(shape_text(s) for s in shapes)


def _resolve_concat(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    return {**args, "dim": layout_dim("concat", args["dim"], shapes)}


def _concat(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    if len(shapes) < 2:
        raise RuleError(f"concat needs at least two inputs; received {len(shapes)}")
    dim = args["dim"]
    if len({len(s) for s in shapes}) != 1 or len({(*s[:dim], *s[dim + 1:]) for s in shapes}) != 1:
        raise RuleError(f"concat needs equal sizes apart from {dim_name(shapes[0], dim)}; received {_shapes_text(shapes)}")
    total = sum(s[dim] for s in shapes)
    shape = (*shapes[0][:dim], total, *shapes[0][dim + 1:])
    return Eval(shape, formulas=lambda: {"shape": f"{' + '.join(factor(s[dim]) for s in shapes)} = {factor(total)} "
                                                  f"{dim_name(shape, dim)}"})


def _add(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    if len(shapes) < 2:
        raise RuleError(f"add needs at least two inputs; received {len(shapes)}")
    if len(set(shapes)) != 1:
        raise RuleError(f"add needs equal shapes; received {_shapes_text(shapes)}")
    act_saved, act_tmp = inline_act(args["act"], "tmp:sum", elements(shapes[0]))
    return Eval(shapes[0], saved=act_saved, temporaries=act_tmp,
                formulas=lambda: {"shape": f"{' + '.join(shape_text(s) for s in shapes)} (elementwise)"})


def _broadcast(shapes: list[Shape]) -> Shape:
    """NumPy's (and PyTorch's) broadcast: dimensions aligned from the right, 1 stretches."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        wide = {n for n in sizes if n != 1}
        if len(wide) > 1:
            raise RuleError(f"mul needs shapes that broadcast (each dimension equal, or 1); received {_shapes_text(shapes)}")
        out.append(wide.pop() if wide else 1)
    return tuple(out)


def _mul(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    if len(shapes) < 2:
        raise RuleError(f"mul needs at least two inputs; received {len(shapes)}")
    shape = _broadcast(shapes)
    # a·b: autograd keeps each factor for the other's gradient.
    saved = tuple(Saved(f"in{i}", elements(s)) for i, s in enumerate(shapes))
    return Eval(shape, saved=saved, formulas=lambda: {"shape": f"{' · '.join(shape_text(s) for s in shapes)} = {shape_text(shape)} "
                                                       "(elementwise, broadcast)"})


def _resolve_shortcut(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """`out` unset keeps the input's channels; mode auto is the identity when the shape is kept, else a projection."""
    c = one_map("shortcut", shapes)[0]
    out = args["out"] or c
    if args["mode"] == "auto" and is_symbolic(out - c):
        raise RuleError(f"shortcut out={out}: whether it keeps the {c} channels (an identity) depends on the input's "
                        "size; give mode")
    mode = args["mode"] if args["mode"] != "auto" else "identity" if (out, args["s"]) == (c, 1) else "projection"
    return {**args, "out": out, "mode": mode}


def _shortcut(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, sizes = one_map("shortcut", shapes)
    out, s, mode = args["out"], args["s"], args["mode"]
    grid = tuple((n - 1) // s + 1 for n in sizes)
    shape = (out, *grid)
    if mode == "identity":
        if (out, s) != (c, 1):
            raise RuleError(f"identity shortcut needs out = {c} and s = 1; received out={out}, s={s}")
        return Eval(shapes[0], output="view", formulas=lambda: {"shape": f"identity: {shape_text(shapes[0])}"})
    strided = Window(s=(s,) * len(sizes))
    if mode == "pad":
        if out < c:
            raise RuleError(f"zero-padding shortcut cannot shrink channels {c} → {out}")
        return Eval(shape, window=strided,
                    formulas=lambda: {"shape": f"every {s}th position, {c} channels + {out - c} zeros = {shape_text(shape)}"})
    weights, count = c * out, prod(shape)
    fused = tail(out, count, "tmp:conv", bias=False, bn=args["bn"], act=None)
    params = weights + fused.params
    ones = "·".join("1" * len(sizes))
    return Eval(
        shape,
        params=params,
        buffers=fused.buffers,
        counters=fused.counters,
        macs=prod(grid) * weights,
        window=strided,
        temporaries=fused.temporaries,
        saved=(Saved("in0", c * prod(sizes)), Saved("weight", weights, per_sample=False), *fused.saved),
        formulas=lambda: {
            "shape": f"{'×'.join('1' * len(sizes))} projection, stride {s}: ({sizes[0]} − 1)/{s} + 1 = {grid[0]}",
            "params": f"{' + '.join((f'{ones}·{c}·{out}', *fused.terms))} = {num(params)}",
            "macs": f"{product(grid)} · {ones}·{c}·{out} = {num(prod(grid) * weights)}",
        },
    )


_MERGE: dict[str, Any] = {"role": Role.MERGE, "inputs": Inputs.MANY}

RULES = [
    Rule("concat", "concatenate inputs along `dim`: a map's channels (inception, U-Net, DenseNet), a sequence's features",
         (Arg("dim", "index", None, DIM_DOC),), _concat, **_MERGE, resolve=_resolve_concat),
    Rule("add", "elementwise sum of inputs (residual connections)", (ACT_ARG,), _add, **_MERGE, picture=Picture(symbol="+")),
    Rule("mul", "elementwise product of inputs, broadcast (a squeeze-and-excitation gate: C×1×1 times C×H×W)",
         (), _mul, **_MERGE),
    Rule("shortcut", "residual shortcut of a 1-D, 2-D or 3-D map: identity, 1×1 projection (option B) or zero-padding (option A)",
         (Arg("out", "pos", None, "output channels (default: the input's)"),
          Arg("s", "pos", 1, "stride"),
          Arg("mode", "str", "auto", "auto: identity if shapes match, else projection", choices=("auto", "identity", "projection", "pad")),
          Arg("bn", "bool", True, "batch norm after a projection")),
         _shortcut, spatial=True, autocast=LOW,  # a projection convolves
         resolve=_resolve_shortcut, picture=Picture(shortcut=True)),
]
