"""Every bundled spec that names a real model, against that model: torchvision's, built and run here.

An independent oracle: the engine's analysis of the spec is compared with
torchvision's own module (parameters, buffers, each parameter tensor's shape,
MACs by FlopCounterMode, the output shape, and the bytes autograd saves in a
training forward at batch 1 and 2), never with archcalc's build of the spec.
"""

from __future__ import annotations

import json
import os

import pytest

from archcalc import load
from archcalc.catalog import bundled
from conftest import torch_or_fail

# torchvision's models here; the language models' transformers references are checked by their own tests
REFERENCED = sorted(name for name in bundled() if load(name).reference.startswith("torchvision:"))


@pytest.fixture(scope="module", autouse=True)
def _torchvision():
    torch_or_fail()
    try:
        import torchvision  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("torchvision is required in CI (see the README's test command)")
        pytest.skip("torchvision not installed")


def test_the_modern_networks_name_their_reference():
    modern = {"mobilenet-v2", "mobilenet-v3-large", "mobilenet-v3-small", "efficientnet-b0", "densenet121",
              "squeezenet1-0", "shufflenet-v2", "resnext50", "wide-resnet50", "vgg16-bn", "convnext-tiny",
              "vit-b16", "vit-b32", "swin-t"}
    assert modern <= set(REFERENCED)


@pytest.mark.parametrize("name", REFERENCED)
def test_spec_equals_its_reference(name):
    from archcalc.backends.reference import compare

    network = load(name)
    # Batch 1 runs for real; batch 2 for real up to 4G MACs, past that on the meta device, which runs the
    # model's own autograd graph without arithmetic (attention always for real: its kernel differs there).
    result = compare(network, network.reference, real_limit=4 * 10**9)
    assert result.params[0] == result.params[1], result.params
    assert result.buffers[0] == result.buffers[1], result.buffers
    assert result.macs[0] == result.macs[1], result.macs
    assert result.output[0] == result.output[1], result.output
    assert result.tensors == (), result.tensors[:5]
    assert result.layers == (), result.layers[:5]
    assert result.matched > 0 and result.compared > 0
    assert [c.batch for c in result.saved] == [1, 2]
    for check in result.saved:
        assert check.measured is not None, check.note
        assert abs(check.diff) <= 0.05, (check.batch, check.engine, check.measured)
    assert result.ok


WRONG_RESNET18 = """
version: 1
name: almost-resnet18
input: [3, 224, 224]
blocks:
  basic:
    args: [out, stride]
    add:
      - - conv: {out: out, k: 3, s: stride, p: 1, bn: true, act: relu}
        - conv: {out: out, k: 3, p: 1, bn: true}
      - shortcut: {out: out, s: stride}
    act: relu
layers:
  - conv: {out: 64, k: 7, s: 2, p: 3, bn: true, act: relu}
  - maxpool: {k: 3, s: 2, p: 1}
  - basic: [64, 1]
    repeat: 2
  - basic: [128, 2]
  - basic: [128, 1]
  - basic: [256, 2]
  - basic: [256, 1]
  - basic: [512, 2]           # torchvision has a second block here
  - avgpool: global
  - fc: 1000
"""


def test_a_spec_that_describes_another_network_is_caught(write_spec):
    from archcalc.backends.reference import compare

    result = compare(load(write_spec(WRONG_RESNET18, "almost.yaml")), "torchvision:resnet18", batches=(1,))
    missing = 2 * 3 * 3 * 512 * 512 + 4 * 512  # the second block of layer4: two 3×3 convs and their BNs
    assert result.params[1] - result.params[0] == missing
    assert not result.ok
    assert {m.what for m in result.tensors} == {"parameter tensor"}
    assert sorted(m.torch for m in result.tensors) == sorted(["512×512×3×3"] * 2 + ["512"] * 4)


def test_unknown_reference_is_one_clear_error():
    from archcalc.backends.reference import reference_model
    from archcalc.errors import ArchcalcError

    with pytest.raises(ArchcalcError, match="torchvision has no model 'resnet51'; did you mean 'resnet50'"):
        reference_model("torchvision:resnet51")
    with pytest.raises(ArchcalcError, match="expected torchvision:NAME"):
        reference_model("timm:resnet50")


def test_verify_against_through_the_command_line(cli):
    ran = cli("verify", "alexnet-tv", "--against", "spec", "--batch", "1", "--format", "json")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)
    against = result["against"]
    assert against["reference"] == "torchvision:alexnet" and against["ok"]
    assert against["params"] == {"engine": 61_100_840, "model": 61_100_840}
    assert against["layers_compared"] == against["layers_matched"] == 8  # five convs, three fcs


def test_the_wrong_reference_is_a_mismatch_exit_1(cli):
    ran = cli("verify", "resnet18", "--against", "torchvision:resnet34", "--batch", "1")
    assert ran.code == 1
    assert "MISMATCH" in ran.out and "engine ≠ torchvision:resnet34" in ran.out


def test_a_spec_without_a_reference_says_it_was_not_compared(cli):
    ran = cli("verify", "lenet5", "--against", "spec", "--batch", "1")
    assert ran.code == 0, ran.err
    assert "lenet5: ok" in ran.err and "not compared: its spec names no reference" in ran.err


def test_a_builder_that_computes_with_tensors_is_built_on_meta():
    import torchvision

    from archcalc.backends.reference import reference_model

    model = reference_model("torchvision:regnet_y_400mf")  # its widths are tensor arithmetic, meta has no data
    assert {p.device.type for p in (*model.parameters(), *model.buffers())} == {"meta"}
    real = torchvision.models.regnet_y_400mf(weights=None)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in real.parameters())


def test_verify_against_regnet_runs(cli):
    ran = cli("verify", "resnet18", "--against", "torchvision:regnet_y_400mf", "--batch", "1")
    assert ran.code == 1, ran.err  # another network: a mismatch, not an error
    assert "internal error" not in ran.err and "engine ≠ torchvision:regnet_y_400mf" in ran.out


def test_a_backbone_is_built_untrained_and_weights_take_only_none():
    import torchvision

    from archcalc.backends.reference import reference_model
    from archcalc.errors import ArchcalcError

    real = torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None)
    for text in ("torchvision:deeplabv3_resnet50", "torchvision:deeplabv3_resnet50(weights_backbone=None)"):
        model = reference_model(text)
        assert {p.device.type for p in model.parameters()} == {"meta"}
        assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in real.parameters())
    with pytest.raises(ArchcalcError, match="weights takes only None"):
        reference_model("torchvision:resnet18(weights=true)")
    with pytest.raises(ArchcalcError, match="weights_backbone takes only None"):
        reference_model("torchvision:fcn_resnet50(weights_backbone=1)")


def test_a_download_is_refused_before_any_connection():
    from torchvision.models import ResNet18_Weights

    from archcalc.backends.reference.vision import _no_download
    from archcalc.errors import ArchcalcError

    with _no_download("torchvision:resnet18"), pytest.raises(ArchcalcError, match="never downloads"):
        ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_buffers_take_their_real_dtypes(dtype):
    import torch
    import torchvision

    from archcalc import analyze

    model = torchvision.models.resnet18().to(getattr(torch, dtype))
    report = analyze("resnet18", dtype=dtype)  # the bundled spec is torchvision's resnet18
    assert report.totals.buffer_bytes == sum(b.numel() * b.element_size() for b in model.buffers())
    counts = [b for name, b in model.named_buffers() if name.endswith("num_batches_tracked")]
    assert report.totals.counter_bytes == sum(b.numel() * b.element_size() for b in counts) == 8 * len(counts)
    assert report.train_breakdown()["buffers (int64)"] == 8 * len(counts)
