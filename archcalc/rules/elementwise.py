"""Kinds that keep their input's shape: activations, dropout, norms, softmax.

Activations also appear inline (`act: relu` on conv, fc, add …). Inline, the
backend applies them in place where PyTorch can, so they add no tensor; what
autograd keeps then is the result. Standalone, they run out of place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..args import Arg
from .base import Eval, Rule, Saved, Shape, elements, num, one_input


@dataclass(frozen=True)
class Activation:
    """An activation function as autograd sees it."""

    doc: str
    inplace: bool  # can run in place when inline (then autograd keeps the result)
    saves: str  # out of place, autograd keeps "in" (its input) or "out" (its result)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("max(0, x)", inplace=True, saves="out"),
    # In place, PyTorch's hardtanh_ keeps a copy of its input (so do silu_ and hardswish_): no gain.
    "relu6": Activation("min(max(0, x), 6)", inplace=False, saves="in"),
    "leaky_relu": Activation("x if x > 0 else 0.01·x", inplace=True, saves="in"),
    "elu": Activation("x if x > 0 else eˣ − 1", inplace=True, saves="in"),
    "tanh": Activation("hyperbolic tangent", inplace=True, saves="out"),
    "sigmoid": Activation("1 / (1 + e⁻ˣ)", inplace=True, saves="out"),
    "gelu": Activation("x·Φ(x)", inplace=False, saves="in"),
    "silu": Activation("x·sigmoid(x), also called swish", inplace=False, saves="in"),
    "hardswish": Activation("x·relu6(x + 3)/6", inplace=False, saves="in"),
}

ACT_ARG = Arg("act", "str", None, "activation applied after the layer, fused into it", choices=tuple(ACTIVATIONS))


def inline_act(act: str | None, pre: str, count: int) -> tuple[tuple[Saved, ...], int]:
    """What an inline activation saves, and the temporary it needs, on a fresh tensor `pre`."""
    if act is None:
        return (), 0
    if ACTIVATIONS[act].inplace:
        return (Saved("out", count),), 0
    return (Saved(pre if ACTIVATIONS[act].saves == "in" else "out", count),), count


def batchnorm_stats(channels: int) -> Saved:
    """The per-channel mean and 1/std batch norm keeps for backward (float32)."""
    return Saved("own:bn_stats", 2 * channels, 4, per_sample=False)


def _activation_rule(name: str, act: Activation) -> Rule:
    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        shape = one_input(name, shapes)
        ref = "in0" if act.saves == "in" else "out"
        return Eval(shape, saved=(Saved(ref, elements(shape)),))

    return Rule(name, f"activation: {act.doc}", (), evaluate, fused=True)


def _dropout(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    if not 0.0 <= args["p"] < 1.0:
        raise ValueError(f"expected 0 ≤ p < 1 for 'p'; received p={args['p']}")
    shape = one_input("dropout", shapes)
    return Eval(shape, saved=(Saved("own:mask", elements(shape), 1),))


def _bn(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("bn", shapes)
    c = shape[0]
    return Eval(
        shape,
        params=2 * c,
        buffers=2 * c + 1,
        saved=(Saved("in0", elements(shape)), batchnorm_stats(c)),
        formulas={"params": f"2·{c} = {num(2 * c)} (scale γ and shift β per channel)",
                  "buffers": f"2·{c} + 1 = {num(2 * c + 1)} (running mean, variance, batch count)"},
    )


def _lrn(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    c, h, w = one_input("lrn", shapes, 3)
    size, count = args["size"], c * h * w
    # PyTorch's local_response_norm: x², padded across channels, averaged, then
    # (k + α·avg)^β and x / that; autograd keeps x, the padded squares, the base
    # of the power and the denominator.
    padded = (c + size - 1) * h * w
    return Eval(
        (c, h, w),
        temporaries=padded + 2 * count,
        saved=(Saved("in0", count), Saved("own:padded_squares", padded), Saved("own:base", count), Saved("own:denominator", count)),
        formulas={"shape": f"unchanged: {c}×{h}×{w} (normalised across {size} neighbouring channels)"},
    )


def _softmax(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("softmax", shapes)
    return Eval(shape, saved=(Saved("out", elements(shape)),))


RULES = [
    *(_activation_rule(name, act) for name, act in ACTIVATIONS.items()),
    Rule("dropout", "zeroes inputs with probability p while training (identity at inference)",
         (Arg("p", "float", 0.5, "drop probability"),), _dropout, shorthand="p", fused=True),
    Rule("bn", "batch normalisation over channels: γ·(x − μ)/σ + β",
         (Arg("eps", "float", 1e-5, "added to the variance"),), _bn),
    Rule("lrn", "local response normalisation across channels (AlexNet)",
         (Arg("size", "pos", 5, "channels in the window"), Arg("alpha", "float", 1e-4, "scale α"),
          Arg("beta", "float", 0.75, "exponent β"), Arg("k", "float", 2.0, "additive constant k")),
         _lrn, shorthand="size"),
    Rule("softmax", "softmax over channels (the class scores)", (), _softmax),
]
