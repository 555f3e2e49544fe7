"""`torchvision:NAME` and `torchvision:NAME(key=value, …)`: torchvision's model of that name, untrained."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ...errors import ArchcalcError, did_you_mean
from . import options
from .oracle import Oracle

SOURCE = "torchvision"


def oracle(text: str) -> Oracle:
    """The model `text` names, checked now (its name and options), built later on whatever device."""
    name, inside = options.split(text, SOURCE, "torchvision:resnet50")
    kwargs = options.options(inside, text, (bool, int, float, type(None)))  # never a string: weights= would download
    for key, value in kwargs.items():
        if key.startswith("weights") and value is not None:
            raise ArchcalcError(f"--against {text}: {key} takes only None (archcalc never downloads weights)")
    try:
        import torchvision
    except ImportError:
        raise ArchcalcError("--against torchvision needs torchvision, which is not installed "
                            "(pip install torchvision, of the release made for your torch)") from None
    known = torchvision.models.list_models()
    if name not in known:
        raise ArchcalcError(f"--against: torchvision has no model '{name}'{did_you_mean(name, known)}")

    builder = torchvision.models.get_model_builder(name)
    kwargs = {**_untrained(builder, text), **kwargs}

    def make() -> nn.Module:
        with warnings.catch_warnings(), _no_download(text):
            warnings.simplefilter("ignore")  # torchvision's notes on future default initialisations
            try:
                try:
                    return builder(**kwargs)
                except NotImplementedError:  # on meta, a builder that computes with tensors (RegNet's widths)
                    with torch.device("cpu"), _parameters_on_meta():
                        return builder(**kwargs)
            except (TypeError, ValueError, RuntimeError, AssertionError, OverflowError) as err:  # options it refuses
                raise ArchcalcError(f"--against {text}: {str(err).splitlines()[0]}") from None

    return Oracle(text, f"torchvision.models.{name}({_call(kwargs)})", make)


def _untrained(builder: Callable[..., nn.Module], text: str) -> dict[str, None]:
    """None for every argument of `builder` that names weights (`weights`, `weights_backbone`): nothing
    is downloaded. A builder with another argument whose default is a set of weights is refused."""
    from torchvision.models import WeightsEnum

    nothing: dict[str, None] = {}
    for parameter in inspect.signature(builder).parameters.values():
        if parameter.name.startswith("weights"):
            nothing[parameter.name] = None
        elif isinstance(parameter.default, WeightsEnum):
            raise ArchcalcError(f"--against {text}: its builder's argument {parameter.name} loads trained weights "
                                "by default, which would be downloaded; archcalc never downloads (give "
                                f"{parameter.name}=None)")
    return nothing


@contextmanager
def _no_download(text: str) -> Iterator[None]:
    """Inside: torchvision's one way to fetch weights (WeightsEnum.get_state_dict) refuses, before any
    connection or cache directory is made."""
    from torchvision.models import WeightsEnum

    def refuse(weights: Any, *args: Any, **kwargs: Any) -> None:
        raise ArchcalcError(f"--against {text}: the model would download {weights} weights; archcalc never "
                            "downloads: pass weights=None (and weights_backbone=None) or choose another model")

    saved = WeightsEnum.get_state_dict
    WeightsEnum.get_state_dict = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        WeightsEnum.get_state_dict = saved  # type: ignore[method-assign]


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Inside: each parameter and buffer a module registers goes to the meta device (made real first, one
    tensor at a time); the builder's own arithmetic on tensors runs for real."""
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = type(param)(param.to("meta"), param.requires_grad)
        register_parameter(module, name, param)

    def buffer(module: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        register_buffer(module, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer  # type: ignore[method-assign]


def _call(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
