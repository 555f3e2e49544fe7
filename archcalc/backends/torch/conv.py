"""Torch facets of convolution, transposed convolution and patch embedding (rules/conv.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import prod
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from .base import Factory, Read, Readers, ReadError, axes, of_rank
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
    def __init__(self, shape: Shape, dim: int, patch: int | tuple[int, ...]):
        super().__init__()
        self.conv = of_rank("Conv", shape)(shape[0], dim, patch, patch)
        self.tokens = Tokens()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(self.conv(x))


def _conv(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    c = shapes[0][0]
    k, s, d, bias = args["k"], args["s"], args["d"], args["bias"]
    if args["p"] == "same":
        pad: Any = "same"  # torch pads an odd total at the end, as the resolved pads do
    else:
        pad = tuple(before for before, _ in args["pads"])
    if args["table"] is not None:
        conv: nn.Module = TableConv(args["table"], k, bias, stride=s, padding=pad, dilation=d)
    else:
        conv = of_rank("Conv", shapes[0])(c, args["out"], k, s, pad, d, args["groups"], bias)
    return tail([("conv", conv)], args, out)


def _convtranspose(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> nn.Module:
    conv = of_rank("ConvTranspose", shapes[0])(shapes[0][0], args["out"], args["k"], args["s"], args["p"],
                                               args["output_padding"], args["groups"], args["bias"], args["d"])
    return tail([("conv", conv)], args, out)


def _unfolded(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> int:
    """A convolution's column buffer: C_in·K for every output position (im2col, one sample at a time)."""
    return shapes[0][0] * prod(args["k"]) * prod(out[1:])


def _folded(args: Mapping[str, Any], shapes: list[Shape], out: Shape) -> int:
    """A transposed convolution's: C_out·K for every input position, about three such buffers (measured)."""
    return 3 * args["out"] * prod(args["k"]) * prod(shapes[0][1:])


# Elements a kernel allocates for itself, beyond the tensors the engine counts, where PyTorch runs these kinds
# in float16 on the CPU: its slow path unfolds the input (8 GB for a 31×31 conv of a 64×256×256 map that
# the engine sizes at 25 MB). bfloat16 and float32 run oneDNN there, and CUDA cuDNN: no such buffer.
CPU_HALF_WORKSPACE: dict[str, Callable[[Mapping[str, Any], list[Shape], Shape], int]] = {
    "conv": _unfolded,
    "convtranspose": _folded,
}

FACTORIES: dict[str, Factory] = {
    "conv": _conv,
    "convtranspose": _convtranspose,
    "patch_embed": lambda args, shapes, out: PatchEmbed(shapes[0], args["dim"], args["patch"]),
}


def _read_conv(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if module.padding_mode != "zeros":
        raise ReadError(f"padding_mode={module.padding_mode!r} (only zero padding has a kind)")
    pad = module.padding if isinstance(module.padding, str) else axes(module.padding)
    return [Read("conv", {"out": module.out_channels, "k": axes(module.kernel_size), "s": axes(module.stride),
                          "p": 0 if pad == "valid" else pad, "d": axes(module.dilation), "groups": module.groups,
                          "bias": module.bias is not None})]


def _read_convtranspose(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    return [Read("convtranspose", {"out": module.out_channels, "k": axes(module.kernel_size),
                                   "s": axes(module.stride), "p": axes(module.padding),
                                   "output_padding": axes(module.output_padding), "d": axes(module.dilation),
                                   "groups": module.groups, "bias": module.bias is not None})]


READERS: Readers = {
    **{cls: _read_conv for cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d)},
    **{cls: _read_convtranspose for cls in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)},
}
