"""Flatten, fully connected layers and LeNet-5's RBF output.

An fc layer reads its whole input (C×H×W inputs are flattened first, as the
papers' tables do): in·out weights plus out biases, in·out MACs.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from ..args import Arg
from .base import WHOLE, Eval, Rule, Saved, Shape, num, one_input, product, shape_text
from .elementwise import ACT_ARG, batchnorm_stats, inline_act


def _flatten(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("flatten", shapes)
    n = prod(shape)
    return Eval((n,), output="view", formulas={"shape": f"{product(shape)} = {num(n)}"})


def _fc(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("fc", shapes)
    n, n_text = prod(shape), product(shape)
    out, bn = args["out"], args["bn"]
    bias = args["bias"] if args["bias"] is not None else not bn
    weights = n * out
    params = weights + (out if bias else 0) + (2 * out if bn else 0)
    terms = [f"{n_text}·{out}"] + ([str(out)] if bias else []) + ([f"2·{out}"] if bn else [])
    act_saved, act_tmp = inline_act(args["act"], "tmp:bn" if bn else "tmp:fc", out)
    saved = (Saved("in0", n),) + ((Saved("tmp:fc", out), batchnorm_stats(out)) if bn else ()) + act_saved
    return Eval(
        (out,),
        params=params,
        buffers=2 * out + 1 if bn else 0,
        macs=weights,
        window=WHOLE,
        temporaries=(out if bn else 0) + act_tmp,
        saved=saved,
        formulas={
            "shape": f"{shape_text(shape)} → {out}" + (" (flattened)" if len(shape) > 1 else ""),
            "params": f"{' + '.join(terms)} = {num(params)}",
            "macs": f"{n_text}·{out} = {num(weights)}",
        },
    )


def _rbf(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("rbf", shapes, 1)
    n, out = shape[0], args["out"]
    # ‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖²: the x·c products are one in·out matrix product.
    return Eval(
        (out,),
        fixed=n * out,
        macs=n * out,
        window=WHOLE,
        saved=(Saved("in0", n),),
        formulas={
            "shape": f"{n} → {out}",
            "params": f"{n}·{out} = {num(n * out)} (fixed centres, not trained)",
            "macs": f"{n}·{out} = {num(n * out)} (squared distance to each centre)",
        },
    )


RULES = [
    Rule("flatten", "reshape C×H×W to one vector (a view: no new memory)", (), _flatten),
    Rule("fc", "fully connected (linear) layer; flattens a C×H×W input",
         (Arg("out", "pos", required=True, doc="output features"),
          Arg("bias", "bool", None, "learn a bias per output (default: yes, unless bn)"),
          Arg("bn", "bool", False, "batch norm after the layer"), ACT_ARG),
         _fc, shorthand="out", weight_layer=True),
    Rule("rbf", "LeNet-5's output: Euclidean RBF units with fixed centres (squared distances)",
         (Arg("out", "pos", required=True, doc="classes (one centre each)"),), _rbf, shorthand="out", weight_layer=True),
]
