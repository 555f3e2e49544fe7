"""Model names: a network named by the library or the code that builds it, analysed by importing the model.

    torchvision:NAME, torchvision:NAME(key=value, …)   torchvision's model, untrained (nothing is downloaded)
    transformers:CONFIG, transformers:CONFIG(k=v, …)   a transformers model from its config, random weights
    timm:NAME                                          timm's model, when timm is installed
    package.module:callable                            a function or class of your code returning an nn.Module
    model.onnx                                         an ONNX file

`catalog.load` resolves these through `load_model`; this module imports no torch until a model is loaded.
A callable's default input is its `archcalc_input` attribute (`make.archcalc_input = (3, 32, 32)`); without
one, `--input` is required.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ArchcalcError
from .ir import Network

SOURCES = ("torchvision", "transformers", "timm")
ONNX_SUFFIX = ".onnx"
_CALLABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def is_model(name: str) -> bool:
    """Whether a network name names a model (above) rather than a bundled network or a spec file."""
    text = name.strip()
    return (text.lower().endswith(ONNX_SUFFIX) or (":" in text and text.partition(":")[0] in SOURCES)
            or bool(_CALLABLE.fullmatch(text)))


def load_model(name: str, input: tuple[Any, ...] | None = None, *, allow_opaque: bool = False) -> Network:
    """The Network of the model `name` names, traced at one sample of `input` (C×H×W, or S token ids), or at
    the model's own default input; `allow_opaque` keeps what no kind expresses as opaque layers."""
    text = name.strip()
    if text.lower().endswith(ONNX_SUFFIX):
        try:
            from . import onnxfile
        except ImportError as err:
            raise ArchcalcError(f"{text}: this archcalc reads no ONNX files ({err})") from None
        return onnxfile.load(text, input)
    if input is not None and not all(isinstance(n, int) for n in input):
        raise ArchcalcError(f"{text}: a model is traced at a numeric --input (e.g. 3x224x224); received a "
                            "symbolic one (import it with `archcalc import`, then give the spec a symbolic input)")
    try:
        from .backends.importer import sources
    except ImportError as err:
        raise ArchcalcError(f"{text}: analysing a model needs torch, which is not installed ({err})") from None
    return sources.load(text, input, allow_opaque)
