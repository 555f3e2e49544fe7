"""Kinds of a transformer's token sequence (N×D): token embedding, class token, position and token-type embeddings.

An embedding looks up one D vector per token id (S ids → S×D): V·D
parameters, no MACs; autograd keeps only the ids (its gradient scatters
into the rows they name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from .base import PROMOTE, TIE_ARG, Eval, Role, Rule, RuleError, Saved, Shape, factor, num, one_input, require, shape_text


def _class_token(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("class_token", shapes, 2)
    return Eval((n + 1, d), params=d,
                formulas=lambda: {"shape": f"{n} + 1 = {n + 1} tokens of {d}", "params": f"{d} (one learned token)"})


def _embedding(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    (s,) = one_input("embedding", shapes, 1)
    vocab, d = args["vocab"], args["dim"]
    padding = args["padding_idx"]
    if padding is not None and not -vocab <= padding < vocab:
        raise RuleError(f"padding_idx={padding} is outside the vocabulary of {vocab} ids")
    return Eval(
        (s, d),
        params=vocab * d,
        saved=(Saved("in0", s),),  # the ids: the weight's gradient adds each token's into the row it names
        weight=(vocab, d),
        formulas=lambda: {"shape": f"{factor(s)} ids → {shape_text((s, d))} (one {d} vector per id)",
                          "params": f"{vocab}·{d} = {num(vocab * d)} (one learned vector per id)",
                          "macs": "0 (a lookup)"},
    )


def _pos_embed(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("pos_embed", shapes, 2)
    table = n if args["max"] is None else args["max"]
    if not require(table - n, lambda: f"{factor(n)} tokens ≤ max={table} positions"):
        raise RuleError(f"{n} tokens, but the table has max={table} positions")
    first = f" (the first {factor(n)} added)" if args["max"] is not None else ""
    return Eval((n, d), params=table * d,
                formulas=lambda: {"shape": f"unchanged: {shape_text((n, d))} (plus a learned embedding)",
                                  "params": f"{factor(table)}·{d} = {num(table * d)} (one learned vector per "
                                            f"position{first})"})


def _type_embed(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    n, d = one_input("type_embed", shapes, 2)
    types = args["types"]
    return Eval((n, d), params=types * d,
                formulas=lambda: {"shape": f"unchanged: {shape_text((n, d))} (plus type 0's learned vector)",
                                  "params": f"{types}·{d} = {num(types * d)} (one learned vector per token type)"})


RULES = [
    Rule("embedding", "look up one learned D vector per token id: S ids → S×D (torch.nn.Embedding)",
         (Arg("vocab", "pos", required=True, doc="token ids (the table's rows)"),
          Arg("dim", "pos", required=True, doc="features per token (D)"),
          Arg("padding_idx", "index", None, "an id whose vector stays zero and gets no gradient"), TIE_ARG),
         _embedding, role=Role.WEIGHTED, ids=True, autocast=PROMOTE),
    Rule("class_token", "prepend a learned class token to an N×D sequence (ViT)", (), _class_token, autocast=PROMOTE),
    Rule("pos_embed", "add a learned position embedding, one D vector per token (ViT, GPT-2)",
         (Arg("max", "pos", None, "positions in the table, of which the first N are added (default: N, one per "
                                  "token; GPT-2: 1024)"),),
         _pos_embed, shorthand="max", autocast=PROMOTE),
    Rule("type_embed", "add a learned token-type (segment) vector from a table of `types`: type 0 at every token, "
                       "as BERT without token_type_ids",
         (Arg("types", "pos", 2, "token types in the table (BERT: 2, sentences A and B)"),),
         _type_embed, shorthand="types", autocast=PROMOTE),
]
