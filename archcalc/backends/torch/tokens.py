"""Torch facets of a transformer's token sequence: class token, position embedding, self-attention (rules/tokens.py)."""

from __future__ import annotations

import torch
from torch import nn

from .base import Factory


class ClassToken(nn.Module):
    """A learned token put before the sequence (ViT's class token)."""

    def __init__(self, dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], 1)


class PosEmbed(nn.Module):
    def __init__(self, tokens: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, tokens, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over N×L×D, as ViT calls torch's module (no attention weights returned)."""

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__(dim, heads, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


FACTORIES: dict[str, Factory] = {
    "class_token": lambda args, shapes, out: ClassToken(shapes[0][-1]),
    "pos_embed": lambda args, shapes, out: PosEmbed(*shapes[0]),
    "attention": lambda args, shapes, out: SelfAttention(shapes[0][-1], args["heads"], args["bias"]),
}
