"""The bundled graph networks (GoogLeNet, ResNets, plain nets, CIFAR ResNets) against their sources.

Exact equality where the source is exact (torchvision's parameter counts, or
arithmetic from the columns of a paper's table); a tolerance that says itself
where the source rounds (the papers' "3.8×10⁹ FLOPs", "0.27M").
"""

from __future__ import annotations

import difflib
import json
import re
import time
from functools import lru_cache

import pytest

import archcalc
from archcalc.catalog import locate
from archcalc.report import fold


@lru_cache(maxsize=None)
def report(name: str):
    return archcalc.analyze(archcalc.load(name))


def totals(name: str):
    return report(name).totals


def rows(name: str) -> dict:
    return {row.name: row for row in report(name).rows}


# ── torchvision: exact ───────────────────────────────────────────────────────

@pytest.mark.parametrize("name, params", [
    # torchvision.models: sum(p.numel() for p in model.parameters()), as its docs list them
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),  # v1 and v1.5 have the same weights, only strides differ
    ("resnet101", 44_549_160),
    ("resnet152", 60_192_808),
    ("resnet50-tv", 25_557_032),
    ("resnet101-tv", 44_549_160),
    ("resnet152-tv", 60_192_808),
    ("googlenet-tv", 6_624_904),  # aux_logits=False
])
def test_parameters_equal_torchvision(name, params):
    assert totals(name).params == params
    assert totals(name).trainable_params == params


@pytest.mark.parametrize("name, gmacs", [
    # torchvision's docs, "GFLOPS" column (which counts multiply-adds), two decimals
    ("resnet18", 1.81), ("resnet34", 3.66), ("resnet50-tv", 4.09), ("resnet101-tv", 7.80),
    ("resnet152-tv", 11.51), ("googlenet-tv", 1.50),
])
def test_macs_round_to_torchvision_figures(name, gmacs):
    assert round(totals(name).macs / 1e9, 2) == gmacs


# ── He et al. 2015, Table 1: FLOPs (multiply-adds) of the ImageNet networks ──

@pytest.mark.parametrize("name, paper, depth", [
    # Table 1, "FLOPs" row, ×10⁹ multiply-adds; Section 3.3: the plain 34-layer net also has 3.6×10⁹
    ("resnet18", 1.8, 18), ("resnet34", 3.6, 34), ("resnet50", 3.8, 50), ("resnet101", 7.6, 101),
    ("resnet152", 11.3, 152), ("plain18", 1.8, 18), ("plain34", 3.6, 34),
])
def test_resnet_macs_within_2_percent_of_table_1(name, paper, depth):
    macs = totals(name).macs
    assert abs(macs / (paper * 1e9) - 1) < 0.02, f"{name}: {macs:,} MACs vs the paper's {paper}×10⁹"
    assert totals(name).depth == depth


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_v1_strides_the_first_1x1_and_v15_the_3x3(depth):
    v1, v15 = rows(f"resnet{depth}"), rows(f"resnet{depth}-tv")
    # the first block of the second stage: 56×56 in, 28×28 out
    assert v1["conv3_x.bottleneck1.branch1.conv1"].output == (128, 28, 28)
    assert v1["conv3_x.bottleneck1.branch1.conv2"].output == (128, 28, 28)
    assert v15["layer2.bottleneck1.branch1.conv1"].output == (128, 56, 56)
    assert v15["layer2.bottleneck1.branch1.conv2"].output == (128, 28, 28)
    # same weights, more MACs: the 3×3 runs on 56×56 → 28×28 instead of reading a 28×28 subsample
    assert totals(f"resnet{depth}").params == totals(f"resnet{depth}-tv").params
    assert totals(f"resnet{depth}").macs < totals(f"resnet{depth}-tv").macs


@pytest.mark.parametrize("name, projections, shortcuts", [
    # option B: a projection only where the shape changes (channels or stride), identity elsewhere
    ("resnet18", 3, 8), ("resnet34", 3, 16), ("resnet50", 4, 16), ("resnet101", 4, 33),
    ("resnet152", 4, 50), ("resnet50-tv", 4, 16),
])
def test_projection_shortcuts_only_where_shapes_change(name, projections, shortcuts):
    found = [row for row in report(name).rows if row.kind == "shortcut"]
    assert len(found) == shortcuts
    assert sum(row.params > 0 for row in found) == projections


@pytest.mark.parametrize("plain, resnet", [("plain18", "resnet18"), ("plain34", "resnet34")])
def test_plain_nets_are_the_resnets_without_shortcuts(plain, resnet):
    kinds = {row.kind for row in report(plain).rows}
    assert not kinds & {"add", "shortcut"}
    projection_params = sum(row.params for row in report(resnet).rows if row.kind == "shortcut")
    assert projection_params == (64 * 128 + 2 * 128) + (128 * 256 + 2 * 256) + (256 * 512 + 2 * 512)
    assert totals(plain).params == totals(resnet).params - projection_params
    assert rows(plain)["conv5_x.plain1.conv1"].output == (512, 7, 7)


# ── the same structure, one line apart ───────────────────────────────────────

def _body(name: str) -> list[str]:
    """A spec's lines without its header comment and its name, title and reference lines."""
    lines = locate(name).read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return [line for line in lines if not re.match(r"(name|title|reference): ", line)]


@pytest.mark.parametrize("base, other", [
    ("resnet50", "resnet101"), ("resnet50", "resnet152"), ("resnet50-tv", "resnet101-tv"),
    ("resnet50-tv", "resnet152-tv"), ("resnet18", "resnet34"), ("plain18", "plain34"),
    ("resnet20", "resnet32"), ("resnet20", "resnet56"), ("resnet20", "resnet1202"),
])
def test_deeper_variants_differ_in_one_line(base, other):
    diff = [line for line in difflib.unified_diff(_body(base), _body(other), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(diff) == 2, "\n".join(diff)  # one line out, one line in
    assert diff[0].startswith("-vars: ") and diff[1].startswith("+vars: ")


# ── CIFAR-10 ResNets, Section 4.2 and Table 6 ────────────────────────────────

def cifar_params(n: int) -> int:
    """Section 4.2 worked by hand: conv 3×3·16, three stages of n two-conv blocks, fc 10; BN γ, β; option A."""
    def conv(c_in: int, c_out: int) -> int:
        return 3 * 3 * c_in * c_out + 2 * c_out  # no bias: BN's shift takes its place

    total = conv(3, 16) + 64 * 10 + 10
    for c_in, c_out in ((16, 16), (16, 32), (32, 64)):
        total += conv(c_in, c_out) + conv(c_out, c_out)  # the first block (zero-padding shortcut: no weights)
        total += (n - 1) * 2 * conv(c_out, c_out)
    return total


@pytest.mark.parametrize("name, n, paper, digits", [
    # Table 6, "# params": 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M
    ("resnet20", 3, 0.27, 2), ("resnet32", 5, 0.46, 2), ("resnet44", 7, 0.66, 2),
    ("resnet56", 9, 0.85, 2), ("resnet110", 18, 1.7, 1), ("resnet1202", 200, 19.4, 1),
])
def test_cifar_resnets_parameters_as_in_table_6(name, n, paper, digits):
    params = totals(name).params
    assert params == cifar_params(n)  # e.g. resnet20: 269,722
    assert round(params / 1e6, digits) == paper  # the paper's rounding of the same count
    assert totals(name).depth == 6 * n + 2


def test_cifar_option_a_shortcuts_pad_with_zeros():
    layers = rows("resnet20")
    assert layers["conv1"].output == (16, 32, 32)
    shortcuts = {name: row for name, row in layers.items() if row.kind == "shortcut"}
    assert len(shortcuts) == 9 and all(row.params == 0 and row.macs == 0 for row in shortcuts.values())
    assert shortcuts["stage2.basic1.branch2.shortcut1"].output == (32, 16, 16)
    assert shortcuts["stage3.basic1.branch2.shortcut1"].output == (64, 8, 8)
    net = archcalc.load("resnet20")
    modes = {layer.name: layer.args["mode"] for layer in net.layers if layer.kind == "shortcut"}
    assert sorted(name for name, mode in modes.items() if mode == "pad") == [
        "stage2.basic1.branch2.shortcut1", "stage3.basic1.branch2.shortcut1"]
    assert layers["fc"].output == (10,)


def test_resnet1202_table_is_quick(cli):
    started = time.perf_counter()
    ran = cli("table", "resnet1202")
    elapsed = time.perf_counter() - started
    assert ran.code == 0, ran.err
    assert "19,421,274" in ran.out  # the parameter total
    assert elapsed < 5  # a loose sanity bound, not a benchmark


# ── GoogLeNet, Szegedy et al. 2014, Table 1 ──────────────────────────────────

INCEPTION = [
    # Table 1: name, output size, depth; #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj; ops (M)
    ("3a", 28, 256, (64, 96, 128, 16, 32, 32), 128),
    ("3b", 28, 480, (128, 128, 192, 32, 96, 64), 304),
    ("4a", 14, 512, (192, 96, 208, 16, 48, 64), 73),
    ("4b", 14, 512, (160, 112, 224, 24, 64, 64), 88),
    ("4c", 14, 512, (128, 128, 256, 24, 64, 64), 100),
    ("4d", 14, 528, (112, 144, 288, 32, 64, 64), 119),
    ("4e", 14, 832, (256, 160, 320, 32, 128, 128), 170),
    ("5a", 7, 832, (256, 160, 320, 32, 128, 128), 54),
    ("5b", 7, 1024, (384, 192, 384, 48, 128, 128), 71),
]
MODULES = [name for name, *_ in INCEPTION]


@pytest.mark.parametrize("net", ["googlenet", "googlenet-tv"])
def test_googlenet_depth_1_has_one_row_per_inception_module(cli, net):
    ran = cli("table", net, "--depth", "1", "--format", "json")
    assert ran.code == 0, ran.err
    layers = json.loads(ran.out)["layers"]
    names = [layer["name"] for layer in layers]
    assert [n for n in names if n in MODULES] == MODULES  # each once, in the table's order
    shapes = {layer["name"]: layer["output"] for layer in layers}
    for name, size, depth, *_ in INCEPTION:
        assert shapes[name] == [depth, size, size], name  # e.g. 3a → 256×28×28, 5b → 1024×7×7


def _inception_figures(c_in: int, size: int, columns: tuple[int, ...], five: int = 5) -> tuple[int, int]:
    """Weights and MACs of one module from Table 1's columns (the "5×5" is 3×3 in torchvision)."""
    c1, r3, c3, r5, c5, pp = columns
    weights = c_in * c1 + c_in * r3 + 9 * r3 * c3 + c_in * r5 + five * five * r5 * c5 + c_in * pp
    return weights, weights * size * size


def test_googlenet_modules_from_the_columns_of_table_1():
    layers = rows("googlenet")
    found = {row.name: row for row in fold(report("googlenet"), 1).rows}
    c_in = 192
    for name, size, depth, columns, ops in INCEPTION:
        weights, macs = _inception_figures(c_in, size, columns)
        assert found[name].params == weights + sum(columns)  # one bias per filter
        assert found[name].macs == macs
        if name != "5a":
            # Table 1's ops column rounds to millions; 5a's entry (54M) does not follow from its
            # own columns: (832·256 + 832·160 + 9·160·320 + 832·32 + 25·32·128 + 832·128)·7·7
            # = 51,079,168
            assert abs(macs / 1e6 - ops) < 1, name
        c_in = depth
    assert found["5a"].macs == 51_079_168
    assert layers["conv1"].output == (64, 112, 112)
    assert layers["pool1"].output == (64, 56, 56)
    assert layers["conv2"].output == (192, 56, 56)
    assert layers["pool2"].output == (192, 28, 28)
    assert layers["pool5"].output == (1024, 1, 1)
    assert [row.kind for row in report("googlenet").rows].count("lrn") == 2  # Figure 3
    assert layers["drop"].kind == "dropout" and layers["linear"].output == (1000,)


def test_googlenet_parameters_the_true_count_of_about_5m():
    # The notes quote "about 5M" (the paper: 12× fewer than AlexNet's 60M). The true count of
    # Table 1's network, biases included, is 6,998,552; the table's params column sums to ~6.8M.
    params = totals("googlenet").params
    assert params == 6_998_552
    assert 5e6 < params < 7e6
    assert params < totals("alexnet").params / 8 and params < totals("vgg16").params / 19
    # the paper: "about 1.5 billion multiply-adds"; Table 1's conv1 entry (34M) is 118M in truth
    assert rows("googlenet")["conv1"].macs == 112 * 112 * 7 * 7 * 3 * 64
    assert abs(totals("googlenet").macs / 1.5e9 - 1) < 0.06


def test_googlenet_aux_heads_are_dead_end_outputs():
    main, aux = rows("googlenet"), rows("googlenet-aux")
    # Section 5: 5×5/3 average pool, 1×1 conv 128, fc 1024, dropout 70%, fc 1000, softmax
    for head, c_in in (("loss1", 512), ("loss2", 528)):
        assert aux[f"{head}.pool"].output == (c_in, 4, 4)
        assert aux[f"{head}.conv"].output == (128, 4, 4)
        assert aux[f"{head}.fc"].params == 128 * 4 * 4 * 1024 + 1024
        assert aux[f"{head}.classifier"].output == (1000,)
        assert aux[f"{head}.prob"].kind == "softmax"
    heads = sum(c_in * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c_in in (512, 528))
    assert totals("googlenet-aux").params == totals("googlenet").params + heads == 13_378_280
    net = archcalc.load("googlenet-aux")
    readers = net.consumers()
    assert readers["loss1.prob"] == [] and readers["loss2.prob"] == []  # dead ends
    assert net.layers[-1].name == "prob"
    assert {layer.name: layer.inputs for layer in net.layers}["loss1.pool"] == ("4a.concat1",)
    # the main path is googlenet's, untouched
    assert {n: r.output for n, r in aux.items() if n in main} == {n: r.output for n, r in main.items()}


def test_googlenet_tv_is_torchvisions():
    net = archcalc.load("googlenet-tv")
    kinds = [layer.kind for layer in net.layers]
    assert "lrn" not in kinds and "softmax" not in kinds
    convs = [layer for layer in net.layers if layer.kind == "conv"]
    bns = [layer for layer in net.layers if layer.kind == "bn"]
    assert len(convs) == len(bns) == 57
    assert all(layer.args["bias"] is False and not layer.args["bn"] for layer in convs)
    assert all(layer.args["eps"] == 0.001 for layer in bns)
    assert all(layer.args["ceil"] for layer in net.layers if layer.kind == "maxpool")
    assert [layer.args["p"] for layer in net.layers if layer.kind == "dropout"] == [0.2]
    # the "5×5" branch is 3×3, so each module is lighter than the paper's by 16·r5·c5 weights
    found = {row.name: row for row in fold(report("googlenet-tv"), 1).rows}
    c_in = 192
    for name, size, depth, columns, _ in INCEPTION:
        weights, macs = _inception_figures(c_in, size, columns, five=3)
        assert found[name].params == weights + 2 * sum(columns)  # BN γ and β, no bias
        assert found[name].macs == macs
        c_in = depth
