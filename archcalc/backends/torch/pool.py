"""Torch facets of pooling and LeNet's subsampling (rules/pool.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, steps
from .elementwise import inline_act


class Subsample(nn.Module):
    """LeNet-5 subsampling: average pool, then one trainable coefficient and bias per map."""

    def __init__(self, channels: int, k: tuple[int, int], s: tuple[int, int], act: str | None):
        super().__init__()
        self.pool = nn.AvgPool2d(k, s)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = steps(inline_act(act)) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y if self.act is None else self.act(y)


def _pool(kind: str) -> Factory:
    def make(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
        if args["global"] or args["output"] is not None:
            size = 1 if args["global"] else args["output"]
            return nn.AdaptiveMaxPool2d(size) if kind == "maxpool" else nn.AdaptiveAvgPool2d(size)
        k, s, p, ceil = args["k"], args["s"], args["p"], args["ceil"]
        if kind == "maxpool":
            return nn.MaxPool2d(k, s, p, args["d"], ceil_mode=ceil)
        return nn.AvgPool2d(k, s, p, ceil_mode=ceil)

    return make


FACTORIES: dict[str, Factory] = {
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "subsample": lambda args, shapes, out: Subsample(shapes[0][0], args["k"], args["s"], args["act"]),
}
