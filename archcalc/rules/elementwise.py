"""Kinds that keep their input's shape: activations, dropout, stochastic depth, a learned scale, softmax.

Activations also appear inline (`act: relu` on conv, fc, add …). Inline, the
backend applies them in place where PyTorch can, so they add no tensor; what
autograd keeps then is the result. Standalone, they run out of place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..args import Arg
from .base import FP32_ON_CUDA, PROMOTE, Eval, Role, Rule, Saved, Shape, elements, one_input


class Activation(NamedTuple):
    """An activation function as autograd sees it."""

    doc: str
    inplace: bool  # can run in place when inline (then autograd keeps the result)
    saves: str  # out of place, autograd keeps "in" (its input) or "out" (its result)
    inner: int = 0  # tensors of its shape a composite of several ops keeps besides (GPT-2's gelu_new: 3)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("max(0, x)", inplace=True, saves="out"),
    # In place, PyTorch's hardtanh_ keeps a copy of its input (so do silu_ and hardswish_): no gain.
    "relu6": Activation("min(max(0, x), 6)", inplace=False, saves="in"),
    "leaky_relu": Activation("x if x > 0 else 0.01·x", inplace=True, saves="in"),
    "elu": Activation("x if x > 0 else eˣ − 1", inplace=True, saves="in"),
    "tanh": Activation("hyperbolic tangent", inplace=True, saves="out"),
    "sigmoid": Activation("1 / (1 + e⁻ˣ)", inplace=True, saves="out"),
    "gelu": Activation("x·Φ(x)", inplace=False, saves="in"),
    "gelu_tanh": Activation("the tanh approximation of x·Φ(x), one kernel (GELU(approximate='tanh'); "
                            "transformers' gelu_pytorch_tanh)", inplace=False, saves="in"),
    # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) as separate ops: autograd keeps the tanh, 0.5·x and 1 + tanh too
    "gelu_new": Activation("the tanh approximation of x·Φ(x) written op by op, as GPT-2's code (transformers' "
                           "gelu_new)", inplace=False, saves="in", inner=3),
    "silu": Activation("x·sigmoid(x), also called swish", inplace=False, saves="in"),
    "hardswish": Activation("x·relu6(x + 3)/6", inplace=False, saves="in"),
    "hardsigmoid": Activation("relu6(x + 3)/6", inplace=False, saves="in"),
}

ACT_ARG = Arg("act", "str", None, "activation applied after the layer, fused into it", choices=tuple(ACTIVATIONS))


def inline_act(act: str | None, pre: str, count: int) -> tuple[tuple[Saved, ...], int]:
    """What an inline activation saves, and the temporary it needs, on a fresh tensor `pre`."""
    if act is None:
        return (), 0
    if ACTIVATIONS[act].inplace:
        return (Saved("out", count),), 0
    return (Saved(pre if ACTIVATIONS[act].saves == "in" else "out", count), *_inner(act, count)), count


def _inner(act: str, count: int) -> tuple[Saved, ...]:
    """The inner tensors a composite activation keeps, each of its input's shape."""
    return tuple(Saved(f"tmp:{act}{i}", count) for i in range(1, ACTIVATIONS[act].inner + 1))


def _activation_rule(name: str, act: Activation) -> Rule:
    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        shape = one_input(name, shapes)
        ref = "in0" if act.saves == "in" else "out"
        return Eval(shape, saved=(Saved(ref, elements(shape)), *_inner(name, elements(shape))))

    return Rule(name, f"activation: {act.doc}", (), evaluate, role=Role.ACTIVATION)


def _drop(kind: str, mask: Callable[[Shape], Saved]) -> Callable[[Mapping[str, Any], list[Shape]], Eval]:
    """Dropout and stochastic depth: the identity itself when p = 0 (PyTorch returns its
    input), else a new tensor, autograd keeping the `mask` it multiplied by."""

    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        if not 0.0 <= args["p"] < 1.0:
            raise ValueError(f"expected 0 ≤ p < 1 for 'p'; received p={args['p']}")
        shape = one_input(kind, shapes)
        if args["p"] == 0:
            return Eval(shape, output="view", formulas=lambda: {"shape": "unchanged (p = 0: the input itself)"})
        return Eval(shape, saved=(mask(shape),))

    return evaluate


def _scale(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("scale", shapes)
    c = shape[0]
    # γ·x: autograd keeps x for γ's gradient (and γ itself, a parameter).
    return Eval(shape, params=c, saved=(Saved("in0", elements(shape)),),
                formulas=lambda: {"params": f"{c} (one learned scale per channel)"})


def _softmax(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("softmax", shapes)
    return Eval(shape, saved=(Saved("out", elements(shape)),))


RULES = [
    *(_activation_rule(name, act) for name, act in ACTIVATIONS.items()),
    Rule("dropout", "zeroes inputs with probability p while training (identity at inference)",
         (Arg("p", "float", 0.5, "drop probability"),),
         _drop("dropout", lambda shape: Saved("own:mask", elements(shape), 1, input_type_on_cpu=True)), shorthand="p", role=Role.REGULARISER),
    Rule("stochastic_depth", "drops a whole residual branch per sample with probability p while training "
         "(identity at inference; torchvision's StochasticDepth, mode 'row')",
         (Arg("p", "float", 0.0, "drop probability"),),
         _drop("stochastic_depth", lambda shape: Saved("own:noise", 1, None)), shorthand="p", role=Role.REGULARISER),
    Rule("scale", "a learned scale per channel, γ·x (ConvNeXt's layer scale)", (), _scale, autocast=PROMOTE),
    Rule("softmax", "softmax over channels (the class scores)", (), _softmax, autocast=FP32_ON_CUDA),
]
