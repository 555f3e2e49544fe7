"""Torch facets of attention (rules/attention.py): torch's nn.MultiheadAttention where the attention is the
plain self-attention it computes (ViT, BERT), else Q, K, V and output projections around
scaled_dot_product_attention (causal, grouped-query, rotary, cross-attention, dropout)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...rules.base import Shape
from .base import Factory, Read, Readers, ReadError

ROPE_THETA = 10_000.0  # the rotary base (Llama 3 uses 500,000): it changes values, never what is counted or kept


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over N×L×D, as ViT calls torch's module (no attention weights returned)."""

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__(dim, heads, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


class Attention(nn.Module):
    """Q, K, V and output projections around torch's SDPA: causal, grouped-query (K and V of kv_heads heads,
    read by SDPA as they are), rotary, after `past` cached tokens (zeros here: their values change nothing
    counted or kept), keys and values from a memory of `memory_dim` features (cross-attention), and dropout of
    the probabilities while training."""

    def __init__(self, dim: int, heads: int, kv_heads: int, head_dim: int, *, causal: bool, rope: bool,
                 qkv_bias: bool, out_bias: bool, past: int, dropout: float, memory_dim: int):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.causal, self.rope, self.past, self.dropout = causal, rope, past, dropout
        self.q_proj = nn.Linear(dim, heads * head_dim, qkv_bias)
        self.k_proj = nn.Linear(memory_dim, kv_heads * head_dim, qkv_bias)
        self.v_proj = nn.Linear(memory_dim, kv_heads * head_dim, qkv_bias)
        self.o_proj = nn.Linear(heads * head_dim, dim, out_bias)

    def _split(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        return x.view(*x.shape[:2], heads, self.head_dim).transpose(1, 2)

    def _cached(self, x: torch.Tensor) -> torch.Tensor:
        if not self.past:
            return x
        b, h, _, d = x.shape
        return torch.cat([x.new_zeros(b, h, self.past, d), x], 2)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        b, s, _ = x.shape
        source = x if memory is None else memory
        q = self._split(self.q_proj(x), self.heads)
        k = self._split(self.k_proj(source), self.kv_heads)
        v = self._split(self.v_proj(source), self.kv_heads)
        if self.rope:
            cos, sin = rotary_tables(self.past, s, self.head_dim, q.dtype, q.device)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k, v = self._cached(k), self._cached(v)
        mask = None
        if self.causal and self.past:  # queries after the cache: the lower-right triangle
            mask = torch.ones(s, s + self.past, dtype=torch.bool, device=x.device).tril(self.past)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal and not self.past,
                                             dropout_p=self.dropout if self.training else 0.0,
                                             enable_gqa=self.kv_heads != self.heads)
        return self.o_proj(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))


def rotary_tables(start: int, length: int, dim: int, dtype: torch.dtype, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of positions start … start+length−1 at dim/2 frequencies, each repeated for both halves."""
    inv_freq = 1.0 / ROPE_THETA ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    positions = torch.arange(start, start + length, device=device, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq)
    angles = torch.cat([angles, angles], -1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x·cos + rotate_half(x)·sin, as Llama applies its rotary embedding."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


def _attention(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    dim = shapes[0][-1]
    heads, kv_heads, head_dim = args["heads"], args["kv_heads"], args["head_dim"]
    plain = (len(shapes) == 1 and kv_heads == heads and heads * head_dim == dim and args["qkv_bias"] == args["out_bias"]
             and not (args["causal"] or args["rope"] or args["past"] or args["dropout"]))
    if plain:
        return SelfAttention(dim, heads, args["qkv_bias"])
    return Attention(dim, heads, kv_heads, head_dim, causal=args["causal"], rope=args["rope"],
                     qkv_bias=args["qkv_bias"], out_bias=args["out_bias"], past=args["past"],
                     dropout=args["dropout"], memory_dim=shapes[-1][-1])


FACTORIES: dict[str, Factory] = {"attention": _attention}


def _read_multihead(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """torch.nn.MultiheadAttention as self-attention over a batch-first sequence (its query, key and value
    one tensor: the importer gives a module one input per distinct tensor)."""
    if not module.batch_first or len(shapes) != 1 or not module._qkv_same_embed_dim:
        raise ReadError("multi-head attention other than batch-first self-attention (query = key = value)")
    if module.bias_k is not None or module.add_zero_attn:
        raise ReadError("multi-head attention with add_bias_kv or add_zero_attn")
    return [Read("attention", {"heads": module.num_heads, "qkv_bias": module.in_proj_bias is not None,
                               "out_bias": module.out_proj.bias is not None})]


READERS: Readers = {nn.MultiheadAttention: _read_multihead}
