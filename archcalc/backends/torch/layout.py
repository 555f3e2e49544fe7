"""Torch facets of the kinds that move elements: permute, tokens, split, shuffle, crop, upsample (rules/layout.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from ...rules.layout import INTERPOLATION
from .base import Factory


class Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = (0, *(d + 1 for d in dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class Tokens(nn.Module):
    """N×C×H×W read as N×(H·W)×C, a view (ViT's patches after their convolution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class Token(nn.Module):
    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]


class Split(nn.Module):
    """One of `parts` equal chunks of the channels (a view)."""

    def __init__(self, parts: int, part: int):
        super().__init__()
        self.parts, self.part = parts, part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.parts, 1)[self.part - 1]


class Shuffle(nn.Module):
    """ShuffleNet's channel shuffle: C = groups·k channels read as k×groups and transposed."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class Crop(nn.Module):
    """The centre of the first map, cut to the H×W of the second (a view)."""

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        (h, w), (th, tw) = x.shape[2:], reference.shape[2:]
        top, left = (h - th) // 2, (w - tw) // 2
        return x[:, :, top:top + th, left:left + tw]


def _upsample(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    mode = INTERPOLATION[len(out) - 1] if args["mode"] == "linear" else args["mode"]  # torch names it by rank
    return nn.Upsample(size=out[1:], mode=mode, align_corners=args["align_corners"] if mode != "nearest" else None)


FACTORIES: dict[str, Factory] = {
    "permute": lambda args, shapes, out: Permute(args["dims"]),
    "tokens": lambda args, shapes, out: Tokens(),
    "token": lambda args, shapes, out: Token(args["index"]),
    "split": lambda args, shapes, out: Split(args["parts"], args["part"]),
    "shuffle": lambda args, shapes, out: Shuffle(args["groups"]),
    "crop": lambda args, shapes, out: Crop(),
    "upsample": _upsample,
}
