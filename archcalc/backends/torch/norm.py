"""Torch facets of batch, layer, RMS, group and local response normalisation (rules/norm.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, of_rank


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position of an N×C×H×W map (torchvision's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _bn(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    return of_rank("BatchNorm", shapes[0])(shapes[0][0], eps=args["eps"])


def _layernorm(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    if args["over"] == "channels":
        return LayerNorm2d(shapes[0][0], eps=args["eps"])
    return nn.LayerNorm(shapes[0][-1], eps=args["eps"])


FACTORIES: dict[str, Factory] = {
    "bn": _bn,
    "layernorm": _layernorm,
    "rmsnorm": lambda args, shapes, out: nn.RMSNorm(shapes[0][-1], eps=args["eps"]),
    "groupnorm": lambda args, shapes, out: nn.GroupNorm(args["groups"], shapes[0][0], eps=args["eps"]),
    "lrn": lambda args, shapes, out: nn.LocalResponseNorm(args["size"], args["alpha"], args["beta"], args["k"]),
}
