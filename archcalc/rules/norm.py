"""Normalisation: batch norm, layer norm, RMS norm, group norm and local response normalisation.

None of them counts MACs (the convention: only the matrix products of conv, fc, linear,
attention and recurrent layers do). Batch, layer and group norm learn a scale γ and a shift β per
normalised channel or feature; autograd keeps their input and the float32
statistics of each normalised group (mean and 1/σ). RMS norm learns only
the scale γ; torch computes it in float32 from a float32 copy of a
lower-precision input, and keeps that input, each row's 1/rms and the
normalised x/rms for γ's gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from ..symbolic import factor, must_divide
from .base import FP32_ON_CUDA, PROMOTE, Eval, Rule, RuleError, Saved, Shape, elements, num, one_input, shape_text

STATS_ITEMSIZE = 4  # PyTorch keeps normalisation statistics in float32, whatever the activations' type
COUNTER_ITEMSIZE = 8  # BN's num_batches_tracked is an int64, whatever the module's dtype


def batchnorm_stats(channels: int) -> Saved:
    """The per-channel mean and 1/std batch norm keeps for backward (float32)."""
    return Saved("own:bn_stats", 2 * channels, STATS_ITEMSIZE, per_sample=False)


def _affine(c: int, what: str) -> dict[str, str]:
    return {"params": f"2·{c} = {num(2 * c)} (scale γ and shift β per {what})"}


def _bn(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("bn", shapes)
    c = shape[0]
    return Eval(
        shape,
        params=2 * c,
        buffers=2 * c + 1,
        counters=1,
        saved=(Saved("in0", elements(shape)), batchnorm_stats(c)),
        formulas=lambda: {**_affine(c, "channel"),
                  "buffers": f"2·{c} + 1 = {num(2 * c + 1)} (running mean and variance; the batch count, int64)"},
    )


def _layernorm(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("layernorm", shapes)
    over_channels = args["over"] == "channels"
    if over_channels and len(shape) != 3:
        raise RuleError(f"layernorm over channels expects a C×H×W input; received {shape_text(shape)}")
    d = shape[0] if over_channels else shape[-1]
    axis = "channels at each position" if over_channels else "the last dimension"
    # one mean and 1/σ per position (or token)
    rows = elements(shape[1:] if over_channels else shape[:-1])
    return _normalised(shape, d, rows, "feature", f"normalised over {axis}, {d} values")


def _rmsnorm(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("rmsnorm", shapes)
    d, count, rows = shape[-1], elements(shape), elements(shape[:-1])  # rows: one 1/rms each
    return Eval(
        shape,
        params=d,
        saved=(Saved("in0", count, STATS_ITEMSIZE), Saved("own:rstd", rows, STATS_ITEMSIZE),
               Saved("own:normalised", count, STATS_ITEMSIZE)),
        formulas=lambda: {"params": f"{d} (scale γ per feature)",
                          "shape": f"unchanged: {shape_text(shape)} (normalised over the last dimension, {d} values)"},
    )


def _groupnorm(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    shape = one_input("groupnorm", shapes)
    c, groups = shape[0], args["groups"]
    if not must_divide(groups, c, lambda: f"groups={groups} divide the {factor(c)} channels"):
        raise RuleError(f"groups={groups} must divide the input channels ({c})")
    return _normalised(shape, c, groups, "channel", f"{groups} groups of {c // groups} channels")


def _normalised(shape: Shape, features: Any, groups: Any, what: str, how: str) -> Eval:
    """A norm with γ and β per feature: autograd keeps its input, and a mean and 1/σ per normalised group."""
    return Eval(
        shape,
        params=2 * features,
        saved=(Saved("in0", elements(shape)), Saved("own:stats", 2 * groups, STATS_ITEMSIZE)),
        formulas=lambda: {**_affine(features, what), "shape": f"unchanged: {shape_text(shape)} ({how})"},
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
        formulas=lambda: {"shape": f"unchanged: {c}×{h}×{w} (normalised across {size} neighbouring channels)"},
    )


EPS = Arg("eps", "float", 1e-5, "added to the variance", low=0.0)

RULES = [
    Rule("bn", "batch normalisation over channels: γ·(x − μ)/σ + β", (EPS,), _bn),
    Rule("layernorm", "layer normalisation over the last dimension (a token's features), or over channels",
         (EPS, Arg("over", "str", "last", "last: the last dimension (as torch.nn.LayerNorm); channels: each position's "
                   "C channels of a C×H×W map (ConvNeXt's LayerNorm2d)", choices=("last", "channels"))),
         _layernorm, autocast=FP32_ON_CUDA),  # batch norm keeps its input's type on both
    Rule("rmsnorm", "RMS normalisation over the last dimension: γ·x/√(mean(x²) + eps) (torch.nn.RMSNorm, Llama)",
         (EPS,), _rmsnorm, autocast=PROMOTE),
    Rule("groupnorm", "group normalisation: channels in groups, each normalised over its channels and positions",
         (Arg("groups", "pos", required=True, doc="channel groups (must divide the channels)"), EPS),
         _groupnorm, shorthand="groups", autocast=FP32_ON_CUDA),
    Rule("lrn", "local response normalisation across channels (AlexNet)",
         (Arg("size", "pos", 5, "channels in the window"), Arg("alpha", "float", 1e-4, "scale α", low=0.0),
          Arg("beta", "float", 0.75, "exponent β", low=0.0), Arg("k", "float", 2.0, "additive constant k", low=0.0)),
         # its input is not cast; its power runs in float32 under CUDA's autocast, its 3-D average pooling
         # under the CPU's, and the result is float32
         _lrn, shorthand="size", autocast=PROMOTE),
]
