"""The round trip as the oracle, one model of each torchvision family: imported, analysed, and compared with
torch exactly (parameters, FlopCounterMode's MACs / 2, the output shape); small inputs where a model allows.
benchmarks/import_all.py runs every model."""

from __future__ import annotations

import pytest

from conftest import module_or_fail, torch_or_fail

torch_or_fail()
module_or_fail("torchvision", "pip install torchvision")

from archcalc.backends.importer.roundtrip import round_trip  # noqa: E402

FAMILIES = [
    ("torchvision:resnet18", (3, 64, 64)),
    ("torchvision:vgg11_bn", (3, 32, 32)),
    ("torchvision:alexnet", (3, 64, 64)),
    ("torchvision:densenet121", (3, 32, 32)),
    ("torchvision:mobilenet_v3_small", (3, 64, 64)),
    ("torchvision:efficientnet_b0", (3, 32, 32)),
    ("torchvision:regnet_y_400mf", (3, 64, 64)),
    ("torchvision:convnext_tiny", (3, 64, 64)),
    ("torchvision:vit_b_32(image_size=64)", None),
    ("torchvision:swin_t", (3, 64, 64)),
    ("torchvision:shufflenet_v2_x0_5", (3, 64, 64)),
    ("torchvision:squeezenet1_1", (3, 64, 64)),
    ("torchvision:googlenet(aux_logits=False)", (3, 64, 64)),
    ("torchvision:mnasnet0_5", (3, 64, 64)),
    ("torchvision:r3d_18", (3, 4, 32, 32)),
    ("torchvision:lraspp_mobilenet_v3_large", (3, 64, 64)),
]


@pytest.mark.parametrize("model, input", FAMILIES, ids=[model.partition(":")[2] for model, _ in FAMILIES])
def test_an_imported_model_has_torchs_figures(model, input):
    result = round_trip(model, input)
    assert result.exact, result.reason
    assert result.params[0] > 0 and result.macs[0] > 0
