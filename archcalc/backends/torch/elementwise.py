"""Torch facets of the kinds that keep their input's shape: activations, dropout, stochastic depth,
a learned scale, softmax (rules/elementwise.py). Inline activations run in place where
ACTIVATIONS says so, standalone ones out of place."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ...rules import ACTIVATIONS
from ...rules.base import Shape
from .base import Factory, Read, Readers, ReadError


class InplaceTanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.tanh_()


class InplaceSigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sigmoid_()


# name → module, given whether it may run in place (ACTIVATIONS[name].inplace, when inline).
ACTIVATION_MODULES: dict[str, Callable[[bool], nn.Module]] = {
    "relu": lambda inplace: nn.ReLU(inplace),
    "relu6": lambda inplace: nn.ReLU6(inplace),
    "leaky_relu": lambda inplace: nn.LeakyReLU(0.01, inplace),
    "elu": lambda inplace: nn.ELU(inplace=inplace),
    "tanh": lambda inplace: InplaceTanh() if inplace else nn.Tanh(),
    "sigmoid": lambda inplace: InplaceSigmoid() if inplace else nn.Sigmoid(),
    "gelu": lambda inplace: nn.GELU(),
    "gelu_tanh": lambda inplace: nn.GELU(approximate="tanh"),
    "gelu_new": lambda inplace: GeluNew(),
    "silu": lambda inplace: nn.SiLU(inplace),
    "hardswish": lambda inplace: nn.Hardswish(inplace),
    "hardsigmoid": lambda inplace: nn.Hardsigmoid(inplace),
}


class GeluNew(nn.Module):
    """GPT-2's GELU, the tanh approximation written op by op (transformers' NewGELUActivation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def inline_act(act: str | None) -> list[tuple[str, nn.Module]]:
    """An inline `act:` as a named step: in place where PyTorch can."""
    return [] if act is None else [("act", ACTIVATION_MODULES[act](ACTIVATIONS[act].inplace))]


class Scale(nn.Module):
    """A learned scale per channel (dim 1 of the batch), shaped to broadcast: ConvNeXt's layer scale."""

    def __init__(self, shape: Shape):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape[0], *(1 for _ in shape[1:])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x


class StochasticDepth(nn.Module):
    """torchvision's StochasticDepth, mode 'row': in training, each sample's branch kept with
    probability 1 − p and scaled by 1/(1 − p); the identity at inference or when p = 0."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(survival).div_(survival)


def _activation(name: str) -> Factory:
    return lambda args, shapes, out: ACTIVATION_MODULES[name](False)  # standalone: out of place


FACTORIES: dict[str, Factory] = {
    **{name: _activation(name) for name in ACTIVATION_MODULES},
    "dropout": lambda args, shapes, out: nn.Dropout(args["p"]),
    "stochastic_depth": lambda args, shapes, out: StochasticDepth(args["p"]),
    "scale": lambda args, shapes, out: Scale(shapes[0]),
    "softmax": lambda args, shapes, out: nn.Softmax(dim=1),
}


def _read_gelu(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    return [Read("gelu" if module.approximate == "none" else "gelu_tanh")]


def _read_dropout(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    return [Read("dropout", {"p": module.p})] if module.p else []  # p = 0: the identity


def _read_stochastic_depth(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if getattr(module, "mode", "row") != "row":  # archcalc's own drops rows only
        raise ReadError(f"stochastic depth of mode {module.mode!r} (the kind drops rows)")
    return [Read("stochastic_depth", {"p": module.p})] if module.p else []


def _kind(kind: str) -> Callable[[nn.Module, list[Shape]], list[Read]]:
    return lambda module, shapes: [Read(kind)]


READERS: Readers = {
    nn.ReLU: _kind("relu"), nn.ReLU6: _kind("relu6"), nn.LeakyReLU: _kind("leaky_relu"), nn.ELU: _kind("elu"),
    nn.Tanh: _kind("tanh"), nn.Sigmoid: _kind("sigmoid"), nn.GELU: _read_gelu, nn.SiLU: _kind("silu"),
    nn.Hardswish: _kind("hardswish"), nn.Hardsigmoid: _kind("hardsigmoid"), nn.Softmax: _kind("softmax"),
    nn.Dropout: _read_dropout, nn.Identity: lambda module, shapes: [],
    StochasticDepth: _read_stochastic_depth,
    "torchvision.ops.stochastic_depth.StochasticDepth": _read_stochastic_depth,
}
