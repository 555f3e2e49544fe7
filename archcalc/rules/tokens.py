"""Kinds of a transformer's token sequence (N×D): class token, position embedding, self-attention.

Multi-head self-attention as torch.nn.MultiheadAttention computes it: one
packed Q, K, V projection (3·D·D weights), per head the scores Q·Kᵀ and
their softmax-weighted sum of V, and an output projection (D·D). Its MACs
count all four matrix products: N·D·3D + N·N·D + N·N·D + N·D·D. Some
counters miss the middle two (torch's FlopCounterMode on the CPU, whose
fused attention kernel it does not know).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from .base import LOW, PROMOTE, WHOLE, Eval, Role, Rule, RuleError, Saved, Shape, num, one_input, product, shape_text

STATS_ITEMSIZE = 4  # the attention kernels keep each row's log-sum-exp in float32


def _class_token(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("class_token", shapes, 2)
    return Eval((n + 1, d), params=d,
                formulas=lambda: {"shape": f"{n} + 1 = {n + 1} tokens of {d}", "params": f"{d} (one learned token)"})


def _pos_embed(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("pos_embed", shapes, 2)
    return Eval((n, d), params=n * d,
                formulas=lambda: {"shape": f"unchanged: {shape_text((n, d))} (plus a learned embedding)",
                          "params": f"{product((n, d))} = {num(n * d)} (one learned vector per position)"})


def _attention(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("attention", shapes, 2)
    heads = args["heads"]
    if d % heads:
        raise RuleError(f"heads={heads} must divide the embedding dimension {d}")
    weights = 4 * d * d
    params = weights + (4 * d if args["bias"] else 0)
    projections, scores = 4 * n * d * d, 2 * n * n * d
    # PyTorch's fused attention (flash on the CPU and on CUDA) keeps the packed Q, K, V, the
    # attention output (the output projection's input too) and each row's log-sum-exp;
    # the input is kept by the QKV projection. The N×N scores are never stored.
    saved = (Saved("in0", n * d), Saved("weight", weights, per_sample=False, for_input_grad=True),
             Saved("own:qkv", 3 * n * d), Saved("own:context", n * d), Saved("own:logsumexp", heads * n, STATS_ITEMSIZE))
    return Eval(
        (n, d),
        params=params,
        macs=projections + scores,
        window=WHOLE,
        temporaries=4 * n * d,
        saved=saved,
        formulas=lambda: {
            "shape": f"unchanged: {shape_text((n, d))} ({heads} heads of {d // heads})",
            "params": f"4·{d}·{d}" + (f" + 4·{d}" if args["bias"] else "") + f" = {num(params)} (Q, K, V and output projections)",
            "macs": f"{product((4, n, d, d))} + {product((2, n, n, d))} = {num(projections + scores)} "
                    "(projections; Q·Kᵀ and the weighted sum of V)",
        },
    )


RULES = [
    Rule("class_token", "prepend a learned class token to an N×D sequence (ViT)", (), _class_token, autocast=PROMOTE),
    Rule("pos_embed", "add a learned position embedding, one D vector per token (ViT)", (), _pos_embed,
         autocast=PROMOTE),
    Rule("attention", "multi-head self-attention over an N×D sequence (torch.nn.MultiheadAttention)",
         (Arg("heads", "pos", required=True, doc="attention heads (must divide D)"),
          Arg("bias", "bool", True, "biases of the Q, K, V and output projections")),
         _attention, shorthand="heads", role=Role.WEIGHTED, kernel_by_device=True, autocast=LOW),
]
