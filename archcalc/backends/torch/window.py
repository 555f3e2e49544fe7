"""Torch facets of Swin's shifted-window attention and patch merging over N×H×W×C maps (rules/window.py).

The modules hold the parameters and buffer torchvision's ShiftedWindowAttention
and PatchMerging hold, under the same names (a state_dict loads either way),
and run the same steps, so that autograd keeps the same tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...rules.base import Shape
from ...rules.window import padded
from .base import Factory, Read, Readers, ReadError

MASKED = -100.0  # torchvision's score for a pair of positions from different regions of a shifted window


def relative_position_index(window: int) -> torch.Tensor:
    """For each pair of positions of a w×w window, the row of their offset in the (2w−1)² bias table
    (w⁴ int64 values)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :] + window - 1  # 2×w²×w², each from 0 to 2w − 2
    return (offsets[0] * (2 * window - 1) + offsets[1]).flatten()


def shift_mask(size: tuple[int, int], window: int, shift: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """nW×w²×w²: 0 between positions of one region of the rolled map, MASKED between regions the roll brought
    together (torchvision's attention mask)."""
    regions = like.new_zeros(size)
    bands = [((0, -window), (-window, -s), (-s, None)) for s in shift]
    for i, (rows, cols) in enumerate((rows, cols) for rows in bands[0] for cols in bands[1]):
        regions[rows[0]:rows[1], cols[0]:cols[1]] = i
    (ph, pw), area = size, window * window
    regions = regions.view(ph // window, window, pw // window, window).permute(0, 2, 1, 3).reshape(-1, area)
    mask = regions.unsqueeze(1) - regions.unsqueeze(2)
    return mask.masked_fill(mask != 0, MASKED).masked_fill(mask == 0, 0.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention within each w×w window of an N×H×W×C map, windows rolled by `shift`, with a
    learned relative position bias: torchvision's ShiftedWindowAttention for a square window."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, bias: bool):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window))

    def position_bias(self) -> torch.Tensor:
        area = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index].view(area, area, -1)
        return bias.permute(2, 0, 1).contiguous().unsqueeze(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        win, heads = self.window, self.heads
        ph, pw = padded(h, win), padded(w, win)
        x = F.pad(x, (0, 0, 0, pw - w, 0, ph - h))
        shift = tuple(0 if win >= n else self.shift for n in (ph, pw))  # no shift along an axis of one window
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows, area = (ph // win) * (pw // win), win * win
        x = x.view(b, ph // win, win, pw // win, win, c).permute(0, 1, 3, 2, 4, 5).reshape(b * windows, area, c)
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias)
        qkv = qkv.reshape(x.size(0), area, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1)) + self.position_bias()
        if sum(shift) > 0:
            mask = shift_mask((ph, pw), win, shift, x).unsqueeze(1).unsqueeze(0)
            attn = attn.view(b, windows, heads, area, area) + mask
            attn = attn.view(-1, heads, area, area)
        x = F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(b * windows, area, c)
        x = F.linear(x, self.proj.weight, self.proj.bias)
        x = x.view(b, ph // win, pw // win, win, win, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class PatchMerging(nn.Module):
    """N×H×W×C → N×⌈H/2⌉×⌈W/2⌉×2C: each 2×2 neighbourhood's features concatenated, LayerNorm, a linear
    map without bias (torchvision's PatchMerging; an odd size padded by one)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


def _window_attention(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    return WindowAttention(shapes[0][-1], args["heads"], args["window"], args["shift"], args["bias"])


FACTORIES: dict[str, Factory] = {
    "window_attention": _window_attention,
    "patch_merging": lambda args, shapes, out: PatchMerging(shapes[0][-1], args["eps"]),
}


def _read_window_attention(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """torchvision's ShiftedWindowAttention (square windows, an equal shift on both axes)."""
    window, shift = tuple(module.window_size), tuple(module.shift_size)
    if len(set(window)) != 1 or len(set(shift)) != 1 or (module.qkv.bias is None) != (module.proj.bias is None):
        raise ReadError(f"window attention of window {window}, shift {shift} (the kind: a square window)")
    return [Read("window_attention", {"heads": module.num_heads, "window": window[0], "shift": shift[0],
                                      "bias": module.qkv.bias is not None})]


READERS: Readers = {
    "torchvision.models.swin_transformer.ShiftedWindowAttention": _read_window_attention,
    "torchvision.models.swin_transformer.PatchMerging":
        lambda module, shapes: [Read("patch_merging", {"eps": module.norm.eps})],
}
