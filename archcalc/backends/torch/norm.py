"""Torch facets of batch, layer, RMS, group and local response normalisation (rules/norm.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, Read, Readers, ReadError, of_rank


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


def _read_bn(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if not (module.affine and module.track_running_stats):
        raise ReadError("batch norm without affine or running statistics (the bn kind has both)")
    return [Read("bn", {"eps": module.eps})]


def _read_layernorm(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if len(module.normalized_shape) != 1 or not module.elementwise_affine or module.bias is None:
        raise ReadError(f"layer norm over {tuple(module.normalized_shape)}, affine {module.elementwise_affine} "
                        "(the layernorm kind: the last dimension, a weight and a bias)")
    return [Read("layernorm", {"eps": module.eps})]


def _read_rmsnorm(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if len(module.normalized_shape) != 1 or not module.elementwise_affine or module.eps is None:
        raise ReadError("RMS norm over more than the last dimension, without a weight or eps")
    return [Read("rmsnorm", {"eps": module.eps})]


def _read_groupnorm(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if not module.affine:
        raise ReadError("group norm without affine (the groupnorm kind has a weight and bias)")
    return [Read("groupnorm", {"groups": module.num_groups, "eps": module.eps})]


def _read_layernorm2d(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    return [Read("layernorm", {"eps": module.eps, "over": "channels"})]


READERS: Readers = {
    **{cls: _read_bn for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)},
    nn.LayerNorm: _read_layernorm,
    nn.RMSNorm: _read_rmsnorm,
    nn.GroupNorm: _read_groupnorm,
    nn.LocalResponseNorm: lambda module, shapes: [Read("lrn", {"size": module.size, "alpha": module.alpha,
                                                               "beta": module.beta, "k": float(module.k)})],
    LayerNorm2d: _read_layernorm2d,
    "torchvision.models.convnext.LayerNorm2d": _read_layernorm2d,
}
