"""Torch facet of the opaque layer (rules/opaque.py): a stand-in of the traced output's shape and the module's
parameter count, computing nothing (what the operation did is what archcalc does not know)."""

from __future__ import annotations

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, Readers


class Opaque(nn.Module):
    def __init__(self, shape: Shape, params: int):
        super().__init__()
        self.shape = tuple(shape)
        self.weight = nn.Parameter(torch.zeros(params)) if params else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((x.shape[0], *self.shape))


FACTORIES: dict[str, Factory] = {"opaque": lambda args, shapes, out: Opaque(args["shape"], args["params"])}

READERS: Readers = {}  # what no reader reads becomes opaque in the importer, with --allow-opaque
