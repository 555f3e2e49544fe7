"""Torch facets of pooling and LeNet's subsampling (rules/pool.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, Read, Readers, ReadError, axes, of_rank, steps
from .elementwise import inline_act


class Subsample(nn.Module):
    """LeNet-5 subsampling: average pool, then one trainable coefficient and bias per map."""

    def __init__(self, shape: Shape, k: int | tuple[int, ...], s: int | tuple[int, ...], act: str | None):
        super().__init__()
        channels = shape[0]
        self.pool = of_rank("AvgPool", shape)(k, s)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = steps(inline_act(act)) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_map = (1, -1, *(1,) * (x.dim() - 2))
        y = self.pool(x) * self.weight.view(per_map) + self.bias.view(per_map)
        return y if self.act is None else self.act(y)


def _pool(kind: str) -> Factory:
    def make(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
        if args["global"] or args["output"] is not None:
            size = 1 if args["global"] else args["output"]
            return of_rank("AdaptiveMaxPool" if kind == "maxpool" else "AdaptiveAvgPool", shapes[0])(size)
        k, s, p, ceil = args["k"], args["s"], args["p"], args["ceil"]
        if kind == "maxpool":
            return of_rank("MaxPool", shapes[0])(k, s, p, args["d"], ceil_mode=ceil)
        return of_rank("AvgPool", shapes[0])(k, s, p, ceil_mode=ceil)

    return make


FACTORIES: dict[str, Factory] = {
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "subsample": lambda args, shapes, out: Subsample(shapes[0], args["k"], args["s"], args["act"]),
}


def _read_pool(kind: str) -> Callable[[nn.Module, list[Shape]], list[Read]]:
    def read(module: nn.Module, shapes: list[Shape]) -> list[Read]:
        if getattr(module, "return_indices", False):
            raise ReadError("max pooling that returns its indices")
        args = {"k": axes(module.kernel_size), "s": axes(module.stride), "p": axes(module.padding),
                "ceil": module.ceil_mode}
        if kind == "maxpool" and axes(module.dilation) != 1:
            args["d"] = axes(module.dilation)
        return [Read(kind, args)]
    return read


def _read_adaptive(kind: str) -> Callable[[nn.Module, list[Shape]], list[Read]]:
    def read(module: nn.Module, shapes: list[Shape]) -> list[Read]:
        if getattr(module, "return_indices", False):
            raise ReadError("max pooling that returns its indices")
        size = module.output_size
        if any(n is None for n in (size if isinstance(size, tuple) else (size,))):
            raise ReadError("adaptive pooling that keeps an axis (an output size of None)")
        return [Read(kind, {"output": axes(size)})]
    return read


READERS: Readers = {
    **{getattr(nn, f"MaxPool{n}d"): _read_pool("maxpool") for n in (1, 2, 3)},
    **{getattr(nn, f"AvgPool{n}d"): _read_pool("avgpool") for n in (1, 2, 3)},
    **{getattr(nn, f"AdaptiveMaxPool{n}d"): _read_adaptive("maxpool") for n in (1, 2, 3)},
    **{getattr(nn, f"AdaptiveAvgPool{n}d"): _read_adaptive("avgpool") for n in (1, 2, 3)},
}
