"""Torch facets of a transformer's token sequence: token embedding, class token, position and token-type embeddings
(rules/tokens.py)."""

from __future__ import annotations

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, Read, Readers, ReadError


class ClassToken(nn.Module):
    """A learned token put before the sequence (ViT's class token)."""

    def __init__(self, dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], 1)


class PosEmbed(nn.Module):
    """A learned vector per position, of a table of `positions` of which the first N are added."""

    def __init__(self, positions: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, positions, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[:, : x.shape[1]]


class TypeEmbed(nn.Module):
    """A table of token-type vectors, type 0's added at every token (BERT's token_type_embeddings, no type ids)."""

    def __init__(self, types: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(types, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[0]


FACTORIES: dict[str, Factory] = {
    "embedding": lambda args, shapes, out: nn.Embedding(args["vocab"], args["dim"], args["padding_idx"]),
    "class_token": lambda args, shapes, out: ClassToken(shapes[0][-1]),
    "pos_embed": lambda args, shapes, out: PosEmbed(args["max"] or shapes[0][0], shapes[0][1]),
    "type_embed": lambda args, shapes, out: TypeEmbed(args["types"], shapes[0][1]),
}


def _read_embedding(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if module.max_norm is not None or module.sparse:
        raise ReadError("an embedding with max_norm or sparse gradients")
    padding = {} if module.padding_idx is None else {"padding_idx": module.padding_idx}
    return [Read("embedding", {"vocab": module.num_embeddings, "dim": module.embedding_dim, **padding})]


READERS: Readers = {nn.Embedding: _read_embedding}
