"""Multi-head attention over a token sequence (S×D): self-attention, causal or not, grouped-query, rotary.

Q has `heads` heads of `head_dim` (default D/heads); K and V have `kv_heads`
heads (default: heads; fewer is grouped-query attention, one is multi-query),
each shared by heads/kv_heads query heads. Parameters: Q D·heads·hd, K and V
D·kv·hd each, the output projection heads·hd·D, and the biases flagged.
`past` tokens already sit in the KV cache: the S new tokens' queries score
S×(S+past) keys. MACs count every matrix product as torch's SDPA math does:
the projections, then Q·Kᵀ and the weighted sum of V, 2·heads·S·(S+past)·hd,
causal or not (a fused causal kernel skips the masked half, about
heads·S·(S+past)·hd of them). Some counters miss the middle two (torch's
FlopCounterMode on the CPU, whose fused attention kernel it does not know).
Rotary embeddings (`rope`) learn nothing: their cos and sin tables are made
again at each forward, as the torch facet does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from ..symbolic import must_divide
from .base import LOW, WHOLE, Eval, Role, Rule, RuleError, Saved, Shape, factor, num, one_input, shape_text

STATS_ITEMSIZE = 4  # the attention kernels keep each row's log-sum-exp in float32


def _resolve(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """kv_heads (heads), head_dim (D/heads), qkv_bias and out_bias (bias), filled in and checked."""
    _, d = one_input("attention", shapes, 2)
    heads = args["heads"]
    kv_heads = args["kv_heads"] or heads
    if heads % kv_heads:
        raise RuleError(f"kv_heads={kv_heads} must divide heads={heads} (each K, V head serves heads/kv_heads queries)")
    head_dim = args["head_dim"]
    if head_dim is None:
        if not must_divide(heads, d, lambda: f"heads={heads} divide the embedding dimension {factor(d)}"):
            raise RuleError(f"heads={heads} must divide the embedding dimension {d} (or give head_dim)")
        head_dim = d // heads
    if args["rope"] and not must_divide(2, head_dim, lambda: f"head_dim={factor(head_dim)} is even (rope)"):
        raise RuleError(f"rope rotates pairs of features: head_dim={head_dim} must be even")
    bias = args["bias"]
    return {**args, "kv_heads": kv_heads, "head_dim": head_dim,
            "qkv_bias": bias if args["qkv_bias"] is None else args["qkv_bias"],
            "out_bias": bias if args["out_bias"] is None else args["out_bias"]}


def _attention(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    s, d = one_input("attention", shapes, 2)
    heads, kv, hd, past = args["heads"], args["kv_heads"], args["head_dim"], args["past"]
    q_width, kv_width = heads * hd, kv * hd
    keys = s + past  # the keys and values each query scores: the cached ones and the new
    weights = d * q_width + 2 * d * kv_width + q_width * d
    biases = (q_width + 2 * kv_width if args["qkv_bias"] else 0) + (d if args["out_bias"] else 0)
    projections = s * weights
    scores = 2 * heads * s * keys * hd
    # PyTorch's fused attention (flash on the CPU and on CUDA) keeps Q, K and V (kv_heads heads, the cached
    # keys included), its output (the output projection's input too) and each row's log-sum-exp; the input
    # is kept by the projections. The S×(S+past) scores are never stored. Rotary embeddings keep their cos
    # and sin tables (one per position, for every sample); a causal mask after a cache is kept as the
    # kernel reads it, converted to the queries' type.
    saved = (Saved("in0", s * d), Saved("weight", weights, per_sample=False, for_input_grad=True),
             Saved("own:q", s * q_width), Saved("own:k", keys * kv_width), Saved("own:v", keys * kv_width),
             Saved("own:context", s * q_width), Saved("own:logsumexp", heads * s, STATS_ITEMSIZE))
    if args["rope"]:
        saved += (Saved("own:rope", 2 * s * hd, per_sample=False),)
    if args["causal"] and past:
        saved += (Saved("own:mask", s * keys, per_sample=False),)
    cache = 2 * keys * kv_width

    def formulas() -> dict[str, str]:
        k_v = f"2·{d}·{kv}·{hd}"
        bias_terms = ((f"{heads}·{hd} + 2·{kv}·{hd}",) if args["qkv_bias"] else ()) + ((str(d),) if args["out_bias"] else ())
        keys_text = factor(s) if not past else f"({factor(s)} + {past})"
        grouped = f", {kv} K, V heads" if kv != heads else ""
        return {
            "shape": f"unchanged: {shape_text((s, d))} ({heads} heads of {hd}{grouped}"
                     + (", causal" if args["causal"] else "") + (", rotary" if args["rope"] else "") + ")",
            "params": " + ".join((f"{d}·{heads}·{hd}", k_v, f"{heads}·{hd}·{d}", *bias_terms))
                      + f" = {num(weights + biases)} (Q, K, V and output projections)",
            "macs": f"{factor(s)}·{num(weights)} + 2·{heads}·{factor(s)}·{keys_text}·{hd} = {num(projections + scores)} "
                    "(projections; Q·Kᵀ and the weighted sum of V"
                    + ("; a fused causal kernel skips about half of these two" if args["causal"] else "") + ")",
            "cache": f"2·{keys_text}·{kv}·{hd} = {num(cache)} (K and V of every token, for later decode steps)",
        }

    return Eval(
        (s, d),
        params=weights + biases,
        macs=projections + scores,
        window=WHOLE,
        temporaries=2 * s * q_width + 2 * keys * kv_width,
        saved=saved,
        cache=cache,
        formulas=formulas,
    )


BIAS_DOC = "(default: bias)"
RULES = [
    Rule("attention", "multi-head attention over an S×D sequence: self-attention, causal, grouped-query, rotary "
                      "(torch.nn.MultiheadAttention, or Q, K, V and output projections around SDPA)",
         (Arg("heads", "pos", required=True, doc="query heads"),
          Arg("kv_heads", "pos", None, "K and V heads, dividing heads (default: heads; fewer: grouped-query, "
                                       "1: multi-query)"),
          Arg("head_dim", "pos", None, "features per head (default: D/heads, which heads must then divide)"),
          Arg("causal", "bool", False, "each token attends to itself and those before it (a decoder)"),
          Arg("rope", "bool", False, "rotary position embedding of Q and K (no parameters)"),
          Arg("bias", "bool", True, "biases of the Q, K, V and output projections"),
          Arg("qkv_bias", "bool", None, f"biases of the Q, K and V projections {BIAS_DOC}"),
          Arg("out_bias", "bool", None, f"bias of the output projection {BIAS_DOC}"),
          Arg("past", "int", 0, "tokens already in the KV cache before this input: scores are S×(S+past)")),
         _attention, shorthand="heads", role=Role.WEIGHTED, kernel_by_device=True, autocast=LOW, resolve=_resolve),
]
