"""Torch facets of convolution, transposed convolution and patch embedding (rules/conv.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory
from .layout import Tokens
from .tail import tail


class TableConv(nn.Module):
    """LeNet-5's C3: each output map convolves only the input maps its table row lists.

    One conv per run of consecutive input maps (a slice of the input is a view,
    so nothing is copied); a row's runs are summed, the rows concatenated.
    Parameters: K·K per link plus one bias per map, as the engine counts.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], k: tuple[int, int], bias: bool, **conv: Any):
        super().__init__()
        self.runs: list[list[tuple[int, int]]] = []
        self.rows = nn.ModuleList()
        for row in table:
            runs = _runs(sorted(set(row)))
            self.runs.append(runs)
            self.rows.append(nn.ModuleList(
                nn.Conv2d(stop - start, 1, k, bias=bias and i == 0, **conv) for i, (start, stop) in enumerate(runs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one low-precision copy for every run, as one conv casts (the meta device has no autocast to ask)
        if x.device.type != "meta" and torch.is_autocast_enabled(x.device.type):
            x = x.to(torch.get_autocast_dtype(x.device.type))
        maps = []
        for runs, convs in zip(self.runs, self.rows, strict=True):
            total = None
            for (start, stop), conv in zip(runs, convs, strict=True):
                part = conv(x[:, start:stop])
                total = part if total is None else total + part
            maps.append(total)
        return torch.cat(maps, 1)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """[0, 1, 2, 5] → [(0, 3), (5, 6)]: maximal runs of consecutive indices, as slices."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


class PatchEmbed(nn.Module):
    def __init__(self, channels: int, dim: int, patch: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(channels, dim, patch, patch)
        self.tokens = Tokens()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(self.conv(x))


def _conv(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    c = shapes[0][0]
    k, s, d, bias = args["k"], args["s"], args["d"], args["bias"]
    if args["p"] == "same":
        pad: Any = "same"  # torch pads an odd total at the end, as the resolved pads do
    else:
        (top, _), (left, _) = args["pads"]
        pad = (top, left)
    if args["table"] is not None:
        conv: nn.Module = TableConv(args["table"], k, bias, stride=s, padding=pad, dilation=d)
    else:
        conv = nn.Conv2d(c, args["out"], k, s, pad, d, args["groups"], bias)
    return tail([("conv", conv)], args)


def _convtranspose(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    conv = nn.ConvTranspose2d(shapes[0][0], args["out"], args["k"], args["s"], args["p"], args["output_padding"],
                              args["groups"], args["bias"], args["d"])
    return tail([("conv", conv)], args)


FACTORIES: dict[str, Factory] = {
    "conv": _conv,
    "convtranspose": _convtranspose,
    "patch_embed": lambda args, shapes, out: PatchEmbed(shapes[0][0], args["dim"], args["patch"]),
}
