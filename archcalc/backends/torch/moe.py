"""Torch facets of a mixture of experts (rules/moe.py): the router, each body layer once per expert, the combine.

Between them travels a `Routed`: every token once for each of its top k
experts, grouped by expert, with where each came from and its weight. The
router routes as Mixtral's does (softmax in float32 over the E logits, the
top k renormalised to sum to 1); a body layer with weights runs each
expert's copy on that expert's tokens (one without weights, an activation
or a product, runs once on all of them); the combine sums each token's k
weighted outputs back into its place. On the meta device and on fake tensors,
where the choice of experts is not known, the tokens are shared evenly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .base import Factory, Readers


class Routed(NamedTuple):
    """Routed tokens: a tuple whose first item is the tensor a node outputs (what verify measures)."""

    tokens: torch.Tensor  # batch × k·T × features: each token once per chosen expert, grouped by expert
    counts: tuple[int, ...]  # how many of the batch's rows each expert takes, in order
    token_index: torch.Tensor  # for each row of the flattened batch, the token (b·T + t) it came from
    weights: torch.Tensor  # for each row, its routing weight
    tokens_per_sample: int  # T


class Router(nn.Module):
    """Mixtral's gate (a linear D → E without bias, `weight` E×D), then the dispatch of each token to its top k."""

    def __init__(self, dim: int, experts: int, top: int):
        super().__init__()
        self.experts, self.top = experts, top
        self.weight = nn.Parameter(torch.empty(experts, dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Linear's

    def forward(self, x: torch.Tensor) -> Routed:
        batch, tokens, dim = x.shape
        flat = x.reshape(-1, dim)
        probs = torch.softmax(F.linear(flat, self.weight).float(), dim=-1)
        top, chosen = torch.topk(probs, self.top, dim=-1)
        weights = top / top.sum(dim=-1, keepdim=True)
        experts_of = chosen.flatten()
        order = torch.argsort(experts_of, stable=True)
        token_index = order // self.top
        routed = flat[token_index].view(batch, self.top * tokens, dim)
        return Routed(routed, _counts(experts_of, self.experts), token_index, weights.flatten()[order], tokens)


def _counts(experts_of: torch.Tensor, experts: int) -> tuple[int, ...]:
    """Rows per expert: counted, or, where values are not known (meta, fake tensors), an even share."""
    if experts_of.is_meta or _fake(experts_of):
        share, extra = divmod(experts_of.numel(), experts)
        return tuple(share + (e < extra) for e in range(experts))
    return tuple(torch.bincount(experts_of, minlength=experts).tolist())


def _fake(t: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor)


class PerExpert(nn.ModuleList):
    """A body layer: one copy per expert, each run on its expert's rows (or, without weights, one on all)."""

    def forward(self, *inputs: Routed) -> Routed:
        first = inputs[0]
        if len(self) == 1:
            out = self[0](*(r.tokens for r in inputs))
            return first._replace(tokens=out)
        parts = [r.tokens.reshape(-1, r.tokens.shape[-1]).split(first.counts) for r in inputs]
        outs = [expert(*rows) for expert, *rows in zip(self, *parts)]
        return first._replace(tokens=torch.cat(outs).view(first.tokens.shape[0], -1, outs[0].shape[-1]))


def per_expert(make: Callable[[], nn.Module], count: int) -> PerExpert:
    """A body layer's module for `count` experts: a copy each where it has weights or buffers, else one."""
    first = make()
    held = any(True for _ in (*first.parameters(), *first.buffers()))
    return PerExpert([first, *(make() for _ in range(count - 1))] if held else [first])


class Combine(nn.Module):
    """Each token's k expert outputs, weighted, summed back into its place: batch × T × features."""

    def forward(self, routed: Routed) -> torch.Tensor:
        batch, _, features = routed.tokens.shape
        flat = routed.tokens.reshape(-1, features)
        weighted = (flat * routed.weights[:, None]).to(flat.dtype)
        out = flat.new_zeros(batch * routed.tokens_per_sample, features).index_add(0, routed.token_index, weighted)
        return out.view(batch, routed.tokens_per_sample, features)


FACTORIES: dict[str, Factory] = {
    "moe": lambda args, shapes, out: Router(shapes[0][-1], args["experts"], args["top"]),
    "combine": lambda args, shapes, out: Combine(),
}

READERS: Readers = {}
