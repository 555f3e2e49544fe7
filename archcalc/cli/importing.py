"""`import`: a model (or a spec) written as a readable spec, its repeated module subtrees as blocks."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated, Optional

from .. import catalog
from ..analysis import analyze
from ..fold import fold
from . import streams
from .command import argument, command, option
from .common import ALLOW_OPAQUE, INPUT


@command("import")
def import_command(
    model: Annotated[str, argument("MODEL", "A model (torchvision:resnet50, package.module:callable, model.onnx), "
                                            "a bundled network or a path to a .yaml spec.")],
    input_shape: INPUT = None,
    output: Annotated[Optional[str], option("--output", "-o", metavar="FILE",
                                            help="The spec to write (- or none: stdout).")] = None,
    allow_opaque: ALLOW_OPAQUE = False,
) -> None:
    """Write a model as a readable spec.

    Module paths are the layer names (layer1.0.conv1); subtrees the same up to their integers are one block,
    those integers its arguments. The spec's reference names the model, so `archcalc verify --against spec`
    checks it; it loads back to the model's figures.

    Examples: archcalc import torchvision:resnet50 -o resnet50.yaml · archcalc import resnet50 ·
    archcalc import my.yaml --input 3x160x160 -o small.yaml
    """
    network = catalog.load(model, input_shape, allow_opaque=allow_opaque)
    if input_shape is not None:  # a spec's input, taken as the model's is traced
        network = replace(network, input=input_shape)
    analyze(network)  # a layer its input does not fit is an error here, not in the spec written
    text = fold(network)  # its reference the model's, where verify can build that model (torchvision's, transformers')
    if output in (None, "-"):
        sys.stdout.write(text)
    else:
        out = streams.output_path(output, catalog.SUFFIXES)
        streams.write_file(out, lambda path: path.write_text(text, encoding="utf-8"))
