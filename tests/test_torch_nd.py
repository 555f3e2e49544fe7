"""The torch facets over 1 and 3 spatial axes: Conv1d/3d, BatchNorm1d/3d, pools, upsampling and shortcuts,
built and run; M5 against a torch M5 written here, R3D-18 against torchvision's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archcalc
from conftest import module_or_fail, torch_or_fail

SPECS = Path(__file__).resolve().parent.parent / "specs"


@pytest.fixture(autouse=True)
def _torch():
    torch_or_fail()


SIGNAL_KINDS = """
    version: 1
    name: signal-kinds
    input: {channels: 2, length: 64}
    layers:
      - conv: {out: 8, k: 5, s: 2, p: 2, bn: true, act: relu}
      - conv: {out: 8, k: 4, p: same, d: 2}
      - add:
          - - conv: {out: 16, k: 3, s: 2, p: 1, bn: true}
          - shortcut: {out: 16, s: 2}
      - maxpool: {k: 3, s: 2, p: 1, ceil: true}
      - convtranspose: {out: 4, k: 3, s: 2, p: 1, output_padding: 1, bn: true}
      - upsample: {scale: 2, mode: linear}
      - bn:
      - avgpool: {k: 4, s: 3}
      - maxpool: {output: 3}
      - avgpool: global
      - fc: 5
"""

CLIP_KINDS = """
    version: 1
    name: clip-kinds
    input: [3, 4, 12, 12]
    layers:
      - conv: {out: 8, k: [3, 5, 5], s: [1, 2, 2], p: [1, 2, 2], act: relu}
      - add:
          - - conv: {out: 16, k: 3, s: 2, p: 1, bn: true}
          - shortcut: {out: 16, s: 2}
      - shortcut: {out: 24, s: 2, mode: pad}
      - upsample: {scale: [1, 2, 2], mode: trilinear}
      - upsample: {size: [2, 6, 6]}
      - avgpool: {k: [1, 2, 2], p: [0, 1, 1]}
      - bn:
      - maxpool: {k: 2, ceil: true}
      - avgpool: {output: [1, 2, 2]}
      - maxpool: global
      - tokens:
      - fc: 3
"""


@pytest.mark.parametrize("spec", [SIGNAL_KINDS, CLIP_KINDS], ids=["1-D", "3-D"])
def test_every_node_agrees_with_torch(cli, write_spec, spec):
    ran = cli("verify", write_spec(spec), "--batch", "1", "--batch", "2", "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    result = json.loads(ran.out)[0]
    assert result["ok"] and result["mismatches"] == [], result["mismatches"]
    assert result["params"]["engine"] == result["params"]["torch"]
    assert result["macs"]["engine"] == result["macs"]["torch"]


def test_the_torch_classes_follow_the_input_s_rank():
    from torch import nn

    from archcalc.backends.torch import build
    from helpers import network_of

    signal = build(network_of(SIGNAL_KINDS))
    clip = build(network_of(CLIP_KINDS))
    assert isinstance(signal.node("conv1").conv, nn.Conv1d) and isinstance(signal.node("conv1").bn, nn.BatchNorm1d)
    assert isinstance(signal.node("upsample1"), nn.Upsample) and signal.node("upsample1").mode == "linear"
    assert isinstance(signal.node("maxpool2"), nn.AdaptiveMaxPool1d)
    assert isinstance(clip.node("conv1"), nn.Sequential) and isinstance(clip.node("conv1").conv, nn.Conv3d)
    assert isinstance(clip.node("add1.branch2.shortcut1").conv, nn.Conv3d)
    assert isinstance(clip.node("avgpool1"), nn.AvgPool3d) and isinstance(clip.node("bn1"), nn.BatchNorm3d)


def _torch_m5():
    """M5 written out in torch: unpadded Conv1d, BatchNorm1d, ReLU and MaxPool1d(4) four times, a global
    average, Linear(512, 35)."""
    from torch import nn

    layers, c = [], 1
    for out, k, s in ((128, 80, 4), (128, 3, 1), (256, 3, 1), (512, 3, 1)):
        layers += [nn.Conv1d(c, out, k, s), nn.BatchNorm1d(out), nn.ReLU(), nn.MaxPool1d(4)]
        c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(512, 35))


def test_m5_is_the_torch_m5():
    torch = torch_or_fail()
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.backends.torch import build

    report = archcalc.analyze("m5")
    mine, theirs = build("m5"), _torch_m5()
    x = torch.randn(2, 1, 16000)
    with FlopCounterMode(display=False) as counted:
        out = theirs(x)
    assert out.shape == mine(x).shape == (2, 35)
    assert report.totals.params == sum(p.numel() for p in theirs.parameters())
    assert report.totals.buffers == sum(b.numel() for b in theirs.buffers())
    assert 2 * report.totals.macs == counted.get_total_flops() // 2  # batch 2; FLOPs = 2 × MACs
    shapes = sorted(tuple(p.shape) for p in theirs.parameters())
    assert sorted(tuple(p.shape) for p in mine.parameters()) == shapes


def test_r3d_18_against_torchvision_through_the_cli(cli, write_spec):
    """The bundled spec at a short small clip (torchvision's r3d_18 pools adaptively: any clip), against the
    video model that `--against` finds in torchvision.models.video, untrained."""
    module_or_fail("torchvision")
    text = (SPECS / "r3d-18.yaml").read_text(encoding="utf-8").replace("input: [3, 16, 112, 112]", "input: [3, 4, 32, 32]")
    ran = cli("verify", write_spec(text), "--against", "torchvision:r3d_18", "--batch", "1", "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    result = json.loads(ran.out)[0]
    against = result["against"]
    assert result["ok"] and against["ok"], against
    assert against["params"]["engine"] == against["params"]["model"] == 33_371_472
    assert against["macs"]["engine"] == against["macs"]["model"] == archcalc.analyze(
        archcalc.load("r3d-18"), input_shape=(3, 4, 32, 32)).totals.macs
    assert against["output"]["model"] == [400]
    assert against["layers_matched"] == against["layers_compared"] > 0 and against["differences"] == []
