"""The figures the study notes quote (DESIGN.md, "Figures"), checked against the bundled specs."""

from __future__ import annotations

import json

import pytest

import archcalc


def rows(name: str) -> dict:
    return {row.name: row for row in archcalc.analyze(archcalc.load(name)).rows}


def totals(name: str):
    return archcalc.analyze(archcalc.load(name)).totals


def test_lenet5_sizes_as_in_the_notes(cli):
    data = json.loads(cli("table", "lenet5", "--format", "json").out)
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["C1"]["output"] == [6, 28, 28]
    assert layers["C1"]["formulas"]["shape"] == "(32 − 5 + 2·0)/1 + 1 = 28"
    assert layers["S2"]["output"] == [6, 14, 14]
    assert layers["S2"]["formulas"]["shape"] == "(28 − 2 + 2·0)/2 + 1 = 14"


def test_lenet5_trainable_parameters_equal_the_papers():
    # LeCun et al. 1998, Section II-B, layer by layer; 60,000 in all
    paper = {
        "C1": 5 * 5 * 1 * 6 + 6,  # 156
        "S2": 2 * 6,  # 12
        "C3": 5 * 5 * (6 * 3 + 9 * 4 + 1 * 6) + 16,  # 1,516 (Table I)
        "S4": 2 * 16,  # 32
        "C5": 5 * 5 * 16 * 120 + 120,  # 48,120
        "F6": 120 * 84 + 84,  # 10,164
        "output": 0,  # RBF centres are fixed
    }
    found = {name: row.trainable_params for name, row in rows("lenet5").items()}
    assert found == paper
    assert totals("lenet5").trainable_params == 60_000


def test_alexnet_conv1_and_pool1(cli):
    layers = rows("alexnet")
    assert layers["conv1"].output == (96, 55, 55)
    assert layers["conv1"].params - 96 == 11 * 11 * 3 * 96 == 34_848
    assert layers["pool1"].output == (96, 27, 27)
    assert layers["pool1"].params == 0
    explained = cli("explain", "alexnet", "conv1")
    assert explained.code == 0
    assert "(227 − 11 + 2·0)/4 + 1 = 55" in explained.out
    assert "11·11·3·96 = 34,848" in explained.out


def test_alexnet_about_60m_parameters():
    params = totals("alexnet").params
    assert 60e6 <= params < 61e6  # "60M" in the notes; the true count is printed, not bent


def test_zfnet_conv1_and_wider_variant():
    assert rows("zfnet")["conv1"].output == (96, 110, 110)
    wide = rows("zfnet-512")
    assert [wide[n].output[0] for n in ("conv3", "conv4", "conv5")] == [512, 1024, 512]


@pytest.mark.parametrize("name, millions", [
    # Simonyan & Zisserman 2015, Table 2 (millions, rounded)
    ("vgg11", 133), ("vgg11-lrn", 133), ("vgg13", 133), ("vgg16c", 134), ("vgg16", 138), ("vgg19", 144),
])
def test_vgg_parameters_as_in_table_2(name, millions):
    assert round(totals(name).params / 1e6) == millions


@pytest.mark.parametrize("name, params", [
    # torchvision.models: sum(p.numel() for p in model.parameters())
    ("alexnet-tv", 61_100_840), ("vgg11", 132_863_336), ("vgg13", 133_047_848),
    ("vgg16", 138_357_544), ("vgg19", 143_667_240),
])
def test_torchvision_parameter_counts(name, params):
    assert totals(name).params == params


def test_vgg16_most_parameters_in_fc6():
    layers = rows("vgg16")
    assert layers["fc6"].params == 7 * 7 * 512 * 4096 + 4096
    assert max(layers.values(), key=lambda r: r.params).name == "fc6"
    assert layers["fc6"].params > totals("vgg16").params / 2  # "about 100M of the 138M"


def test_vgg16_memory_is_largest_in_the_early_layers():
    ordered = list(rows("vgg16").values())
    largest = max(ordered, key=lambda r: r.activations)
    assert largest.name in ("conv1_1", "conv1_2")


# The notes' VGG-16 table (CS231n lecture 9), one "memory" figure per row, each
# the product of that row's output size; the notes then quote "24M" in all,
# "24M × 4 ≈ 93MB / image" forward and "about 200MB" with backward.
NOTES_ROWS = [224 * 224 * 3] + [224 * 224 * 64] * 2 + [112 * 112 * 64] + [112 * 112 * 128] * 2 \
    + [56 * 56 * 128] + [56 * 56 * 256] * 3 + [28 * 28 * 256] + [28 * 28 * 512] * 3 \
    + [14 * 14 * 512] + [14 * 14 * 512] * 3 + [7 * 7 * 512] + [4096, 4096, 1000]


def test_vgg16_activation_sum_against_the_notes_quote():
    notes_sum = sum(NOTES_ROWS)
    assert notes_sum == 15_237_608  # what the notes' own rows add up to: 15.2M, not 24M
    t = totals("vgg16")
    # archcalc counts layer outputs (not the input image, 224·224·3) and the softmax (1000)
    assert t.activations == notes_sum - 224 * 224 * 3 + 1000
    assert t.activation_bytes == 4 * t.activations  # 60.4 MB = 57.6 MiB, not 93 MB
    assert t.forward_backward_bytes == 2 * t.activation_bytes  # 115 MiB, not 200 MB
    assert t.activations < 24e6 * 0.65


def test_vgg16_per_layer_activations_equal_the_notes_rows():
    ours = [row.activations for row in rows("vgg16").values() if row.activations]
    assert ours == NOTES_ROWS[1:] + [1000]
