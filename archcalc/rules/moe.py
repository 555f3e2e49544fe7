"""A mixture of experts over a T×D token sequence: the router, and the weighted sum of the experts' outputs.

`moe: {experts: E, top: k, body: BLOCK}` is expanded (archcalc.expand) into
three parts: this router (a linear D → E without bias, as Mixtral's gate; a
softmax over the E logits, each token's top k, their weights renormalised to
sum to 1), which gathers each token once for each of its k experts; the
block's layers, expanded once on those k·T routed tokens and marked as
held once per expert (ir.Experts: parameters ×E, MACs and tensors those of
the k·T tokens); and `combine`, the weighted sum of each token's k outputs.
Every token goes to exactly k experts, so MACs are exact whatever the load;
where one expert's share matters (what one copy of its layers holds at a
time), the load is taken as even: each expert sees k·T/E tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from .base import Eval, Rule, RuleError, Saved, Shape, num, one_input, shape_text

INDEX_ITEMSIZE = 8  # int64 indices (top-k choices, the gather's token order)
ROUTING_ITEMSIZE = 4  # the router's softmax runs in float32 (Mixtral's `router_logits.float()`), so do its weights


def _moe(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    tokens, dim = one_input("moe", shapes, 2)
    experts, top = args["experts"], args["top"]
    if experts < 2:
        raise RuleError(f"a mixture needs at least 2 experts; received experts={experts}")
    if not 1 <= top <= experts:
        raise RuleError(f"top must be between 1 and experts={experts}; received top={top}")
    routed = top * tokens
    params, macs = dim * experts, tokens * dim * experts
    # The router's linear keeps its input; softmax its output; topk its indices; the renormalisation
    # both its operands; the gathers of the tokens and of their weights their int64 indices.
    saved = (Saved("in0", tokens * dim), Saved("weight", params, per_sample=False, for_input_grad=True),
             Saved("own:probs", tokens * experts, ROUTING_ITEMSIZE),
             Saved("own:top_index", tokens * top, INDEX_ITEMSIZE),
             Saved("own:top", tokens * top, ROUTING_ITEMSIZE), Saved("own:top_sum", tokens, ROUTING_ITEMSIZE),
             Saved("own:token_index", routed, INDEX_ITEMSIZE), Saved("own:order", routed, INDEX_ITEMSIZE))
    return Eval(
        (routed, dim),
        params=params,
        macs=macs,
        temporaries=2 * tokens * experts,  # the logits and their softmax
        saved=saved,
        formulas=lambda: {
            "shape": f"each of {tokens} tokens to its top {top} of {experts} experts: {top}·{tokens} = "
                     f"{shape_text((routed, dim))} routed tokens (even load: {top}·{tokens}/{experts} per expert)",
            "params": f"{dim}·{experts} = {num(params)} (the router: a linear {dim} → {experts} without bias)",
            "macs": f"{tokens}·{dim}·{experts} = {num(macs)} (the router's logits)",
        },
    )


def _combine(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    routed, dim = one_input("combine", shapes, 2)
    top = args["top"]
    tokens = routed // top
    if tokens * top != routed:
        raise RuleError(f"combine reads top·T routed tokens; {shape_text((routed,))} is not a multiple of top={top}")
    # out = Σ weight·output over each token's k experts: the product keeps both its factors, and the sum
    # into each token's place (index_add, as Mixtral's) keeps the weighted outputs (its backward reads their shape).
    saved = (Saved("in0", routed * dim), Saved("own:weights", routed, ROUTING_ITEMSIZE),
             Saved("tmp:weighted", routed * dim))
    return Eval(
        (tokens, dim),
        temporaries=routed * dim,  # the weighted outputs, before they are summed into their tokens
        saved=saved,
        formulas=lambda: {
            "shape": f"{shape_text((routed,))} routed tokens / {top} = {shape_text((tokens, dim))}",
            "macs": f"0 (the weighted sum of each token's {top} expert outputs: {top}·{shape_text((tokens,))}·{dim} "
                    "products and sums, counted 0 as mul and add count theirs)",
        },
    )


RULES = [
    Rule("moe", "mixture of experts over a T×D sequence: a router sends each token to its top k of E experts, "
                "each a copy of a block; parameters count all E, MACs the k active",
         (Arg("experts", "pos", required=True, doc="experts E (copies of the body)"),
          Arg("top", "pos", required=True, doc="experts k that each token goes to"),
          Arg("body", "str", required=True, doc="the block each expert is (one that takes no arguments)")),
         _moe),
    Rule("combine", "the weighted sum of each token's k expert outputs (made by moe, not written alone)",
         (Arg("top", "pos", required=True, doc="experts each token went to"),), _combine),
]
