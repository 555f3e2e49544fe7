"""Model names (archcalc.models) told from bundled names and spec paths, without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archcalc.models import is_model


@pytest.mark.parametrize("name", ["torchvision:resnet50", "torchvision:resnet50(num_classes=10)", "timm:vit_small",
                                  "transformers:GPT2Config()", "mypackage.models:make", "net:Net", "model.onnx",
                                  "exports/model.ONNX"])
def test_model_names(name):
    assert is_model(name)


@pytest.mark.parametrize("name", ["resnet50", "specs/resnet50.yaml", "./vgg16", "net.yml", "a:b:c", "my model:make",
                                  "C:\\nets\\net.yaml", "other:thing(x=1)"])
def test_networks_and_paths_are_not_models(name):
    assert not is_model(name)


def test_telling_them_apart_imports_no_torch():
    code = "import sys; from archcalc import catalog; catalog.models.is_model('torchvision:resnet50'); " \
           "print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
