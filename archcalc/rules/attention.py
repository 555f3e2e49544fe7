"""Multi-head attention over a token sequence (S×D): self or cross, causal or not, grouped-query, rotary.

Q has `heads` heads of `head_dim` (default D/heads); K and V have `kv_heads`
heads (default: heads; fewer is grouped-query attention, one is multi-query),
each shared by heads/kv_heads query heads. Cross-attention (`from: [x,
memory]`) reads its queries from the first input (S×D) and its keys and
values from the second, a memory of its own length and width (S_kv×D_kv),
as a decoder reads its encoder. Parameters: Q D·heads·hd, K and V
D_kv·kv·hd each, the output projection heads·hd·D, and the biases flagged.
`past` tokens already sit in the KV cache: the S new tokens' queries score
S×(S+past) keys. MACs count every matrix product as torch's SDPA math does:
the projections, then Q·Kᵀ and the weighted sum of V, 2·heads·S·S_kv·hd
(S_kv: the memory's length, or S+past), causal or not (a fused causal
kernel skips the masked half, about heads·S·S_kv·hd of them). Some counters
miss the middle two (torch's FlopCounterMode on the CPU, whose fused
attention kernel it does not know). Rotary embeddings (`rope`) learn
nothing: their cos and sin tables are made again at each forward, as the
torch facet does. Dropout of the attention probabilities (`dropout`, GPT-2's
attn_pdrop) changes what training keeps, by device: CUDA's fused kernels
draw the mask again in backward from the random generator's state, the
CPU's has none and runs SDPA's math path, which keeps the S×S_kv
probabilities, the dropout's mask and their product.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from .base import LOW, WHOLE, Eval, Inputs, Role, Rule, RuleError, Saved, Shape, factor, num, one_input, shape_text

STATS_ITEMSIZE = 4  # the attention kernels keep each row's log-sum-exp in float32


def _sequences(shapes: list[Shape]) -> tuple[Any, Any, Any, Any]:
    """(S, D) of the queries and (S_kv, D_kv) of the keys and values: the memory's, or the queries' own."""
    if not 1 <= len(shapes) <= 2:
        raise RuleError(f"attention reads one input, or two (queries, memory); received {len(shapes)}")
    s, d = one_input("attention", shapes[:1], 2)
    s_kv, d_kv = one_input("attention", shapes[1:], 2) if len(shapes) == 2 else (s, d)
    return s, d, s_kv, d_kv


def _resolve(args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
    """kv_heads (heads), head_dim (D/heads), qkv_bias and out_bias (bias), filled in and checked."""
    _, d, _, _ = _sequences(shapes)
    heads = args["heads"]
    kv_heads = args["kv_heads"] or heads
    if heads % kv_heads:
        raise RuleError(f"kv_heads={kv_heads} must divide heads={heads} (each K, V head serves heads/kv_heads queries)")
    head_dim = args["head_dim"]
    if head_dim is None:
        if d % heads:
            raise RuleError(f"heads={heads} must divide the embedding dimension {d} (or give head_dim)")
        head_dim = d // heads
    if args["rope"] and head_dim % 2:
        raise RuleError(f"rope rotates pairs of features: head_dim={head_dim} must be even")
    if len(shapes) == 2:
        given = [name for name in ("causal", "rope", "past") if args[name]]
        if given:
            raise RuleError(f"{given[0]} reads keys and values from the queries' own sequence: not with a memory "
                            "(cross-attention's second input)")
    if args["dropout"] > 1:
        raise RuleError(f"dropout={args['dropout']:g} is a probability: at most 1")
    bias = args["bias"]
    return {**args, "kv_heads": kv_heads, "head_dim": head_dim,
            "qkv_bias": bias if args["qkv_bias"] is None else args["qkv_bias"],
            "out_bias": bias if args["out_bias"] is None else args["out_bias"]}


def _saved(args: Mapping[str, Any], s: Any, d: Any, keys: Any, weights: Any, memory: Shape | None) -> tuple[Saved, ...]:
    """What autograd keeps: the inputs (kept by the projections), the weights and what SDPA keeps.

    PyTorch's fused attention (flash on the CPU and on CUDA) keeps Q, K and V (kv_heads heads, the cached
    keys included), its output (the output projection's input too) and each row's log-sum-exp; the S×S_kv
    scores are never stored. With dropout, CUDA's fused kernels keep the same (and the random generator's
    seed and offset, 16 bytes a layer, which no figure counts). The CPU's flash kernel takes no dropout:
    SDPA's math path keeps Q and Kᵀ scaled (K and V repeated to every query head under grouped-query
    attention), the probabilities, the dropout's noise (in their type: F.dropout's on the CPU), their
    product and V; the output projection keeps its own copy of the heads' outputs. Rotary embeddings keep
    their cos and sin tables (one per position, shared by the batch); a causal mask after a cache is kept
    by the fused kernels as they read it, converted to the queries' type (the math path adds it in place
    and keeps none).
    """
    heads, kv, hd = args["heads"], args["kv_heads"], args["head_dim"]
    q_width, kv_width = heads * hd, kv * hd
    inputs = (Saved("in0", s * d),) + ((Saved("in1", memory[0] * memory[1]),) if memory else ())
    kept = (Saved("own:context", s * q_width),)  # the output projection's input: SDPA's output, or its copy
    fused = (Saved("own:q", s * q_width), Saved("own:k", keys * kv_width), Saved("own:v", keys * kv_width),
             Saved("own:logsumexp", heads * s, STATS_ITEMSIZE))
    if args["causal"] and args["past"]:
        fused += (Saved("own:mask", s * keys, per_sample=False),)
    if args["dropout"]:
        expanded = keys * (q_width if kv != heads else kv_width)
        probabilities = heads * s * keys
        math = (Saved("own:q_scaled", s * q_width), Saved("own:k_scaled", expanded),
                Saved("own:v" if kv == heads else "own:v_expanded", expanded), Saved("own:probabilities", probabilities),
                Saved("own:noise", probabilities), Saved("own:dropped", probabilities))
        fused = (*(item._replace(device="cuda") for item in fused), *(item._replace(device="cpu") for item in math))
    saved = (*inputs, Saved("weight", weights, per_sample=False, for_input_grad=True), *kept, *fused)
    if args["rope"]:
        saved += (Saved("own:rope", 2 * s * hd, per_sample=False),)
    return saved


def _attention(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    s, d, s_kv, d_kv = _sequences(shapes)
    cross = len(shapes) == 2
    heads, kv, hd, past = args["heads"], args["kv_heads"], args["head_dim"], args["past"]
    q_width, kv_width = heads * hd, kv * hd
    keys = s_kv + past  # the keys and values each query scores: the cached ones and the new (or the memory's)
    weights = d * q_width + 2 * d_kv * kv_width + q_width * d
    biases = (q_width + 2 * kv_width if args["qkv_bias"] else 0) + (d if args["out_bias"] else 0)
    projections = s * 2 * d * q_width + s_kv * 2 * d_kv * kv_width
    scores = 2 * heads * s * keys * hd
    cache = 2 * keys * kv_width

    def formulas() -> dict[str, str]:
        k_v = f"2·{d_kv}·{kv}·{hd}"
        bias_terms = ((f"{heads}·{hd} + 2·{kv}·{hd}",) if args["qkv_bias"] else ()) + ((str(d),) if args["out_bias"] else ())
        keys_text = f"({factor(s)} + {past})" if past else factor(s_kv)
        grouped = f", {kv} K, V heads" if kv != heads else ""
        read = (f"2·{factor(s)}·{d}·{heads}·{hd} + 2·{factor(s_kv)}·{d_kv}·{kv}·{hd}" if cross
                else f"{factor(s)}·{num(weights)}")
        return {
            "shape": f"unchanged: {shape_text((s, d))} ({heads} heads of {hd}{grouped}"
                     + (", causal" if args["causal"] else "") + (", rotary" if args["rope"] else "")
                     + (f", keys and values from the memory {shape_text((s_kv, d_kv))}" if cross else "") + ")",
            "params": " + ".join((f"{d}·{heads}·{hd}", k_v, f"{heads}·{hd}·{d}", *bias_terms))
                      + f" = {num(weights + biases)} (Q, K, V and output projections)",
            "macs": f"{read} + 2·{heads}·{factor(s)}·{keys_text}·{hd} = {num(projections + scores)} "
                    "(projections; Q·Kᵀ and the weighted sum of V"
                    + ("; a fused causal kernel skips about half of these two" if args["causal"] else "") + ")",
            "cache": f"2 × kv_heads × head_dim × {'S_kv' if cross else '(S + past)' if past else 'S'} = "
                     f"2·{kv}·{hd}·{keys_text} = {num(cache)} elements (K and V of every "
                     + ("memory token" if cross else "token") + ", kept for later decode steps)",
        }

    return Eval(
        (s, d),
        params=weights + biases,
        macs=projections + scores,
        window=WHOLE,
        temporaries=2 * s * q_width + 2 * keys * kv_width,
        saved=_saved(args, s, d, keys, weights, (s_kv, d_kv) if cross else None),
        cache=cache,
        formulas=formulas,
    )


BIAS_DOC = "(default: bias)"
RULES = [
    Rule("attention", "multi-head attention over an S×D sequence: self-attention or cross-attention reading a "
                      "memory (`from: [x, memory]`), causal, grouped-query, rotary "
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
          Arg("past", "int", 0, "tokens already in the KV cache before this input: scores are S×(S+past)"),
          Arg("dropout", "float", 0.0, "dropout of the attention probabilities while training (GPT-2's attn_pdrop)",
              low=0.0)),
         _attention, shorthand="heads", role=Role.WEIGHTED, inputs=Inputs.QUERIES_AND_MEMORY, kernel_by_device=True,
         autocast=LOW, resolve=_resolve),
]
