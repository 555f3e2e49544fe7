"""The model a model name names (archcalc.models), built on the meta device, and its default input."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...errors import ArchcalcError
from ...ir import Network
from ..reference.options import options, split
from . import huggingface
from .network import import_module

CLASSIFICATION_INPUT = (3, 224, 224)
VIDEO_FRAMES = 16  # torchvision's video models are trained on 16-frame clips


@dataclass(frozen=True)
class Model:
    """A named model, built on the meta device, with the input it is traced at."""

    module: nn.Module
    input: tuple[int, ...]
    title: str
    reference: str = ""  # what `verify --against` compares a spec with (torchvision's and transformers' names)


def load(text: str, input: tuple[int, ...] | None, allow_opaque: bool) -> Network:
    """The Network of the model `text` names (archcalc.models), at `input` or the model's own."""
    model = build(text, input)
    return import_module(model.module, model.input, text, model.reference, allow_opaque=allow_opaque,
                         title=model.title)


def build(text: str, input: tuple[int, ...] | None) -> Model:
    source = text.partition(":")[0]
    make = {"torchvision": _torchvision, "transformers": _transformers, "timm": _timm}.get(source, _callable)
    return make(text, input)


def _torchvision(text: str, input: tuple[int, ...] | None) -> Model:
    from ..reference.vision import SOURCE, oracle as vision

    oracle = _quoted(text, lambda: vision(text))
    name, inside = split(text, SOURCE, "torchvision:resnet50")
    with torch.device("meta"):
        model = _quoted(text, oracle.make)
    side = options(inside, text, (bool, int, float, type(None))).get("image_size")  # a ViT's own size
    return Model(model, input or ((3, side, side) if isinstance(side, int) else _torchvision_input(name)),
                 f"{oracle.built} (imported)", text)


def _torchvision_input(name: str) -> tuple[int, ...]:
    """The input torchvision's weights for `name` are evaluated at: the smallest crop of its weights (ViT-H/14's
    518 comes with its weights; the untrained model takes 224), a 16-frame clip for video."""
    import torchvision

    try:
        crops = [w.transforms.keywords.get("crop_size", CLASSIFICATION_INPUT[1:])
                 for w in torchvision.models.get_model_weights(name)]
    except ValueError:
        crops = []
    sides = [tuple(crop) if isinstance(crop, (list, tuple)) else (crop, crop) for crop in crops]
    side = min(sides, default=CLASSIFICATION_INPUT[1:])
    if name in torchvision.models.list_models(module=torchvision.models.video):
        return (3, VIDEO_FRAMES, *side)
    return (3, *side)


def _transformers(text: str, input: tuple[int, ...] | None) -> Model:
    from ..reference.hf import oracle as transformers

    oracle = _quoted(text, lambda: transformers(text))
    with torch.device("meta"):
        model = huggingface.traceable(_quoted(text, oracle.make), text)
    return Model(model, input or huggingface.context(model) or oracle.inputs[0], f"{oracle.built} (imported)", text)


def _timm(text: str, input: tuple[int, ...] | None) -> Model:
    try:
        import timm
    except ImportError:
        raise ArchcalcError(f"{text}: timm is not installed (pip install timm)") from None
    name = text.partition(":")[2].strip()
    if name not in timm.list_models():
        raise ArchcalcError(f"{text}: timm has no model '{name}'")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return Model(model, input or tuple(model.pretrained_cfg.get("input_size", CLASSIFICATION_INPUT)), f"timm {name}")


def _callable(text: str, input: tuple[int, ...] | None) -> Model:
    """`package.module:callable`: imported from the working directory or the path, called with no arguments
    on the meta device; its `archcalc_input` is the default input."""
    module_name, _, attribute = text.partition(":")
    here = os.getcwd()  # removed as inserted: the user's module may change the working directory
    sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ArchcalcError(f"{text}: cannot import {module_name}: {err}") from None
    except Exception as err:  # the user's module failed as it ran
        raise ArchcalcError(f"{text}: importing {module_name} failed: {type(err).__name__}: {err}") from None
    finally:
        sys.path.remove(here)
    make = getattr(module, attribute, None)
    if not callable(make):
        raise ArchcalcError(f"{text}: {module_name} has no callable '{attribute}'")
    shape = input or getattr(make, "archcalc_input", None)
    if shape is None:
        raise ArchcalcError(f"{text}: give --input (e.g. --input 3x224x224), or declare the default on the "
                            f"callable: {attribute}.archcalc_input = (3, 224, 224)")
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = make()
        except Exception as err:
            raise ArchcalcError(f"{text}: calling {attribute}() failed: {type(err).__name__}: {err}") from None
    if not isinstance(model, nn.Module):
        raise ArchcalcError(f"{text}: {attribute}() returned {type(model).__name__}, not an nn.Module")
    kind = "class" if inspect.isclass(make) else "function"
    return Model(model, tuple(shape), f"{type(model).__name__} ({kind} {text})")


def _quoted(text: str, make: Any) -> Any:
    """`make()`, its errors about the reference said about the model name (they are worded for --against)."""
    try:
        return make()
    except ArchcalcError as err:
        message = str(err).replace(f"--against {text}: ", f"{text}: ").replace("--against: ", f"{text}: ")
        raise ArchcalcError(message.replace("--against ", "")) from None
