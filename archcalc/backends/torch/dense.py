"""Torch facets of flatten, fully connected and linear layers, and LeNet-5's RBF output (rules/dense.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Read, Readers, Factory, steps
from .elementwise import inline_act
from .tail import tail


class RBF(nn.Module):
    """LeNet-5's output: squared distance to fixed ±1 centres, ‖x‖² − 2·x·cᵀ + ‖c‖².

    The x·cᵀ products are one matrix product, the MACs the engine counts.
    """

    def __init__(self, features: int, out: int):
        super().__init__()
        self.centres = nn.Parameter(torch.empty(out, features).bernoulli_(0.5) * 2 - 1, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.centres
        return (x * x).sum(1, keepdim=True) - 2 * (x @ c.t()) + (c * c).sum(1)


def _fc(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    n = 1
    for dim in shapes[0]:
        n *= dim
    flatten = [("flatten", nn.Flatten())] if len(shapes[0]) > 1 else []
    return tail([*flatten, ("linear", nn.Linear(n, args["out"], args["bias"]))], args, out)


def _linear(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    return steps([("linear", nn.Linear(shapes[0][-1], args["out"], args["bias"])), *inline_act(args["act"])])


FACTORIES: dict[str, Factory] = {
    "flatten": lambda args, shapes, out: nn.Flatten(),
    "fc": _fc,
    "linear": _linear,
    "rbf": lambda args, shapes, out: RBF(shapes[0][0], args["out"]),
}


def _read_linear(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """A vector's Linear is an fc (the kind a classifier's head is written with), a sequence's a linear."""
    return [Read("fc" if len(shapes[0]) == 1 else "linear", {"out": module.out_features, "bias": module.bias is not None})]


def _read_flatten(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if (module.start_dim, module.end_dim) == (1, -1):
        return [Read("flatten")]
    return [Read("view", {"shape": list(torch.flatten(torch.empty((1, *shapes[0]), device="meta"),
                                                      module.start_dim, module.end_dim).shape[1:])})]


READERS: Readers = {nn.Linear: _read_linear, nn.Flatten: _read_flatten}
