"""What `verify --against` needs of an independent model's source: how to build it, and how to feed it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from ...rules.base import Shape
from ..measure import Probe


def own_shape(owner: nn.Module, tensor: torch.Tensor) -> Shape:
    return tuple(tensor.shape)


def plain_probe(module: nn.Module, input_shape: Shape, count: bool) -> Probe:
    """A probe feeding the model random float inputs of `input_shape` per sample."""
    return Probe(module, dict(module.named_modules()), input_shape, count)


@dataclass(frozen=True)
class Oracle:
    """An independent model to compare a spec with, untrained, built by its own library.

    `make` builds it on the current default device (the meta device, or inside
    fake tensors' mode); `probe` measures it on inputs of a shape per sample;
    `inputs` are the per-sample input shapes it is measured at (None: the
    spec's own). With `fakes`, a model too large or too slow to run for real
    runs on fake tensors (the CPU's kernels, no storage) inside `fake_context`,
    instead of on the meta device. `shape_of` gives a parameter's shape as the
    engine writes it (the owning module, the tensor), where a library stores
    some transposed.
    """

    reference: str  # as given, e.g. torchvision:resnet50
    built: str  # what is built, in its library's words
    make: Callable[[], nn.Module]
    probe: Callable[[nn.Module, Shape, bool], Probe] = plain_probe
    inputs: tuple[Shape | None, ...] = (None,)
    fakes: bool = False
    fake_context: Callable[[], AbstractContextManager[object]] = nullcontext
    shape_of: Callable[[nn.Module, torch.Tensor], Shape] = own_shape
