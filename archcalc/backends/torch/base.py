"""What every torch facet shares: the factory's signature, named steps, the build's error and dtypes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ...errors import ArchcalcError
from ...rules.base import Shape

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# A kind's torch facet: its (resolved) arguments, its input shapes and its output shape → its module.
Factory = Callable[[Mapping[str, Any], list[Shape], Shape], nn.Module]


class BuildError(ArchcalcError):
    """A network the torch backend cannot build."""


def steps(parts: list[tuple[str, nn.Module]]) -> nn.Module:
    """One module when there is one step, else a Sequential with named steps."""
    return parts[0][1] if len(parts) == 1 else nn.Sequential(OrderedDict(parts))
