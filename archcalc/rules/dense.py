"""Flatten, fully connected and linear layers, and LeNet-5's RBF output.

An fc layer reads its whole input (C×H×W inputs are flattened first, as the
papers' tables do): in·out weights plus out biases, in·out MACs. A linear
layer maps only the last dimension (a token's features), as torch.nn.Linear
does, at every index of the others: its MACs are in·out per such index.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from ..args import Arg
from .base import LOW, TIE_ARG, WHOLE, Eval, Picture, Role, Rule, Saved, Shape, num, one_input, product, shape_text
from .elementwise import ACT_ARG
from .tail import resolve_bias, tail


def _flatten(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("flatten", shapes)
    n = prod(shape)
    return Eval((n,), output="view", formulas=lambda: {"shape": f"{product(shape)} = {num(n)}"})


def _fc(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("fc", shapes)
    n, n_text = prod(shape), product(shape)
    out = args["out"]
    weights = n * out
    fused = tail(out, out, "tmp:fc", bias=args["bias"], bn=args["bn"], act=args["act"])
    params = weights + fused.params
    return Eval(
        (out,),
        params=params,
        buffers=fused.buffers,
        macs=weights,
        window=WHOLE,
        temporaries=fused.temporaries,
        saved=(Saved("in0", n), Saved("weight", weights, per_sample=False, for_input_grad=True), *fused.saved),
        weight=(out, n),
        formulas=lambda: {
            "shape": f"{shape_text(shape)} → {out}" + (" (flattened)" if len(shape) > 1 else ""),
            "params": f"{' + '.join((f'{n_text}·{out}', *fused.terms))} = {num(params)}",
            "macs": f"{n_text}·{out} = {num(weights)}",
        },
    )


def _linear(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    """A linear map of the last dimension, at every other index (every token, every position)."""
    shape = one_input("linear", shapes)
    *rows, n = shape
    out, positions = args["out"], prod(rows)
    fused = tail(out, positions * out, "tmp:linear", bias=args["bias"], bn=False, act=args["act"])
    params = n * out + fused.params
    macs = positions * n * out
    row_text = f"{product(rows)} · " if rows else ""
    return Eval(
        (*rows, out),
        params=params,
        macs=macs,
        temporaries=fused.temporaries,
        saved=(Saved("in0", prod(shape)), Saved("weight", n * out, per_sample=False, for_input_grad=True), *fused.saved),
        weight=(out, n),
        formulas=lambda: {
            "shape": f"{shape_text(shape)} → {shape_text((*rows, out))} (the last dimension, {n} → {out})",
            "params": f"{' + '.join((f'{n}·{out}', *fused.terms))} = {num(params)}",
            "macs": f"{row_text}{n}·{out} = {num(macs)}",
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
        saved=(Saved("in0", n), Saved("weight", n * out, per_sample=False, for_input_grad=True)),
        formulas=lambda: {
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
          Arg("bn", "bool", False, "batch norm after the layer"), ACT_ARG, TIE_ARG),
         _fc, shorthand="out", role=Role.WEIGHTED, autocast=LOW, resolve=resolve_bias, picture=Picture("#fbe3cf")),
    Rule("linear", "linear layer over the last dimension (each token's features), keeping the others",
         (Arg("out", "pos", required=True, doc="output features"),
          Arg("bias", "bool", True, "learn a bias per output"), ACT_ARG, TIE_ARG),
         _linear, shorthand="out", role=Role.WEIGHTED, autocast=LOW),
    Rule("rbf", "LeNet-5's output: Euclidean RBF units with fixed centres (squared distances)",
         (Arg("out", "pos", required=True, doc="classes (one centre each)"),), _rbf, shorthand="out", role=Role.WEIGHTED,
         autocast=LOW),
]
