"""Torch facets of the kinds that move elements: permute, tokens, split, reshape, view, getitem, shuffle, crop,
upsample (rules/layout.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from ...rules.layout import INTERPOLATION
from .base import Factory, Read, Readers, ReadError, axes


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
    """One of `parts` equal chunks along `dim` (a view), or all of them (a tuple: several outputs)."""

    def __init__(self, parts: int, part: int | None, dim: int):
        super().__init__()
        self.parts, self.part, self.dim = parts, part, dim + 1  # after the batch

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        chunks = x.chunk(self.parts, self.dim)
        return chunks if self.part is None else chunks[self.part - 1]


class Reshape(nn.Module):
    """x.reshape(batch, *shape), or x.view(…) (`view`: torch refuses a tensor whose layout it cannot view)."""

    def __init__(self, shape: tuple[int, ...], view: bool = False):
        super().__init__()
        self.shape, self.view = tuple(shape), view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape) if self.view else x.reshape(x.shape[0], *self.shape)


class GetItem(nn.Module):
    """x[:, …, index] or x[:, …, start:stop] along one dimension after the batch."""

    def __init__(self, dim: int, index: int | None, start: int | None, stop: int | None):
        super().__init__()
        self.key = (slice(None),) * (dim + 1) + (index if index is not None else slice(start, stop),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.key]


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
    "split": lambda args, shapes, out: Split(args["parts"], args["part"], args["dim"]),
    "reshape": lambda args, shapes, out: Reshape(args["shape"]),
    "view": lambda args, shapes, out: Reshape(args["shape"], view=True),
    "getitem": lambda args, shapes, out: GetItem(args["dim"], args["index"], args["start"], args["stop"]),
    "shuffle": lambda args, shapes, out: Shuffle(args["groups"]),
    "crop": lambda args, shapes, out: Crop(),
    "upsample": _upsample,
}


def _read_upsample(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    mode = "linear" if module.mode in INTERPOLATION.values() else module.mode
    if mode not in ("nearest", "linear"):
        raise ReadError(f"upsampling of mode {module.mode!r} (the kind: nearest or linear)")
    if module.size is not None:
        size = {"size": axes(module.size)}
    else:
        scales = module.scale_factor if isinstance(module.scale_factor, tuple) else (module.scale_factor,)
        if any(not float(n).is_integer() for n in scales):  # each axis's: (1.5, 2.0) is not (1, 2)
            raise ReadError(f"upsampling by {module.scale_factor} (the kind scales by integers)")
        size = {"scale": axes(tuple(int(n) for n in scales))}
    return [Read("upsample", {**size, "mode": mode, "align_corners": bool(module.align_corners)})]


def _read_permute(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """archcalc's Permute and torchvision's: dims of the batched tensor, the batch first."""
    if module.dims[0] != 0:
        raise ReadError("a permutation that moves the batch dimension")
    return [Read("permute", {"dims": [d - 1 for d in module.dims[1:]]})]


READERS: Readers = {
    Permute: _read_permute,
    "torchvision.ops.misc.Permute": _read_permute,
    nn.Upsample: _read_upsample,
    nn.ChannelShuffle: lambda module, shapes: [Read("shuffle", {"groups": module.groups})],
}
