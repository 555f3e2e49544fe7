"""What every torch facet shares: the factory's signature and its inverse (the reader's), named steps,
the build's error and dtypes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...errors import ArchcalcError
from ...rules.base import Shape

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# A kind's torch facet: its (resolved) arguments, its input shapes and its output shape → its module.
Factory = Callable[[Mapping[str, Any], list[Shape], Shape], nn.Module]




@dataclass(frozen=True)
class Read:
    """One spec item a module reads as: its kind and its arguments as a spec writes them (`Builder.add`'s
    `kind` and `args`). `part` names it inside the module: "" is the module's own path (`layer1.0.conv1`),
    else the item is named `path.part` (a composite module read as several items). `residual`: the item
    reads the module's input as well as the item before it (a sum around the module's earlier items)."""

    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    part: str = ""
    residual: bool = False


# A kind's torch facet inverted: a module as torch built it and its input shapes (per sample, batch
# excluded, as the rules take them) → the spec items it computes, in run order, each reading the one before
# (the first reads the module's input); an empty list is the identity (nn.Identity, dropout of p = 0).
# A reader raises ReadError for a module of its class that no kind expresses (a padding mode, an option).
Reader = Callable[[nn.Module, list[Shape]], list[Read]]

# Each facet module's READERS: the nn.Module classes it reads, by class, or by qualified name for a class of
# another library (`torchvision.ops.misc.Permute`), which is then never imported to be read. A subclass is read
# by its nearest class's reader only if it keeps that class's forward (reader_of).
Readers = Mapping[type[nn.Module] | str, Reader]


class ReadError(ArchcalcError):
    """A module whose class has a reader, with options no kind expresses (said with the module's path)."""


def reader_of(module: nn.Module, readers: Readers) -> Reader | None:
    """The reader of `module`'s class, or of its nearest base class in `readers` when the module runs that
    class's forward (torchvision's NonDynamicallyQuantizableLinear is a Linear); None if none reads it."""
    for cls in type(module).__mro__:
        found = readers.get(cls) or readers.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found if cls is type(module) or type(module).forward is cls.forward else None
    return None


def axes(values: Any) -> Any:
    """A module's per-axis option as a spec writes it: one number where every axis has it, else the list."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    return values[0] if len(set(values)) == 1 else list(values)


class BuildError(ArchcalcError):
    """A network the torch backend cannot build."""


def of_rank(family: str, shape: Shape) -> type[nn.Module]:
    """torch's class of `family` for the spatial axes of `shape`: Conv1d for C×L, Conv2d for C×H×W, Conv3d
    for C×T×H×W (a vector or a token sequence: the 1-D class, as BatchNorm1d over N×C)."""
    return getattr(nn, f"{family}{max(len(shape) - 1, 1)}d")


def steps(parts: list[tuple[str, nn.Module]]) -> nn.Module:
    """One module when there is one step, else a Sequential with named steps."""
    return parts[0][1] if len(parts) == 1 else nn.Sequential(OrderedDict(parts))
