"""`torchvision:NAME` and `torchvision:NAME(key=value, …)`: torchvision's model of that name, untrained."""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from ...errors import ArchcalcError, did_you_mean
from . import options
from .oracle import Oracle

SOURCE = "torchvision"


def oracle(text: str) -> Oracle:
    """The model `text` names, checked now (its name and options), built later on whatever device."""
    name, inside = options.split(text, SOURCE, "torchvision:resnet50")
    kwargs = options.options(inside, text, (bool, int, float))  # never a string: weights= would download
    try:
        import torchvision
    except ImportError:
        raise ArchcalcError("--against torchvision needs torchvision, which is not installed "
                            "(pip install torchvision, of the release made for your torch)") from None
    known = torchvision.models.list_models()
    if name not in known:
        raise ArchcalcError(f"--against: torchvision has no model '{name}'{did_you_mean(name, known)}")

    def make() -> nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's notes on future default initialisations
            try:
                return torchvision.models.get_model(name, weights=None, **kwargs)
            except (TypeError, ValueError, RuntimeError, AssertionError, OverflowError) as err:  # options it refuses
                raise ArchcalcError(f"--against {text}: {str(err).splitlines()[0]}") from None

    return Oracle(text, f"torchvision.models.{name}({_call(kwargs)})", make)


def _call(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
