"""Torch facets of where branches meet: concatenation, sum, product and residual shortcuts (rules/merge.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...rules.base import Shape
from .base import Factory, Readers, of_rank, steps
from .elementwise import inline_act
from .tail import tail


class Concat(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim + 1  # after the batch

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, self.dim)


class Add(nn.Module):
    """Elementwise sum of the inputs, then an inline activation in place."""

    def __init__(self, act: str | None):
        super().__init__()
        self.act = steps(inline_act(act)) if act else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y if self.act is None else self.act(y)


class Mul(nn.Module):
    """Elementwise product of the inputs, broadcast (a squeeze-and-excitation gate times its map)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y = y * x
        return y


class PadShortcut(nn.Module):
    """Option A of the CIFAR ResNets: every s-th position on each spatial axis, extra channels zero (appended)."""

    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = x.dim() - 2
        strided = x[(slice(None), slice(None), *(slice(None, None, self.stride),) * axes)]
        return F.pad(strided, (0, 0) * axes + (0, self.extra))


def _shortcut(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    c = shapes[0][0]
    s, mode, channels = args["s"], args["mode"], args["out"]
    if mode == "identity":
        return nn.Identity()
    if mode == "pad":
        return PadShortcut(s, channels - c)
    return tail([("conv", of_rank("Conv", shapes[0])(c, channels, 1, s, bias=False))], args, out)


FACTORIES: dict[str, Factory] = {
    "concat": lambda args, shapes, out: Concat(args["dim"]),
    "add": lambda args, shapes, out: Add(args["act"]),
    "mul": lambda args, shapes, out: Mul(),
    "shortcut": _shortcut,
}

READERS: Readers = {}  # merges are functions (torch.cat, +, *): the importer maps those
