"""Today's building blocks worked by hand: SE gates, in_channels, U-Net's crops, upsampling, tokens.

Each figure is written as the arithmetic that gives it, so a reader can
check it without running anything.
"""

from __future__ import annotations

import pytest

from archcalc import SpecError, analyze, load
from archcalc.errors import ShapeError
from helpers import report_of

SE = """
    input: [16, 8, 8]
    blocks:
      se:
        args: [ratio]
        mul:
          - []
          - - avgpool: global
            - conv: {out: in_channels // ratio, k: 1, act: relu}
            - conv: {out: in_channels, k: 1}
            - sigmoid:
    layers:
      - conv: {out: 32, k: 3, p: 1, name: stem}
      - se: [4]
"""


def test_squeeze_and_excitation_reads_its_input_channels():
    rows = {r.name: r for r in report_of(SE).rows}
    # in_channels is the block input's 32 channels: squeeze to 32 // 4 = 8, excite back to 32
    assert rows["se1.branch2.conv1"].output == (8, 1, 1)
    assert rows["se1.branch2.conv1"].params == 32 * 8 + 8
    assert rows["se1.branch2.conv2"].params == 8 * 32 + 32
    assert rows["se1.mul1"].output == (32, 8, 8)  # 32×1×1 gate broadcast over 32×8×8


def test_se_gate_sees_the_whole_image_and_its_product_keeps_both_factors():
    report = report_of(SE)
    rows = {r.name: r for r in report.rows}
    # stem RF 3; the gate pools the whole 8×8 grid: 3 + (8 − 1)·1 = 10, and the product takes the larger field
    assert rows["se1.mul1"].receptive_field == (3 + 7, 3 + 7)
    # …but its positions stay 1 pixel apart: the broadcast 32×1×1 gate gives no jump of its own
    assert rows["se1.mul1"].jump == (1, 1)
    # the product keeps both factors: the gate is the sigmoid's output, which the sigmoid already
    # keeps; the map (32·8·8 floats) is the stem's output, which no one kept before
    assert rows["se1.branch2.sigmoid1"].saved_bytes == 32 * 4
    assert rows["se1.mul1"].saved_bytes == 32 * 8 * 8 * 4


def test_in_channels_follows_an_overridden_input():
    net = load_text_net(SE)
    wide = analyze(net, input_shape=(16, 8, 8))
    assert {r.name: r.output for r in wide.rows}["se1.branch2.conv1"] == (8, 1, 1)


def load_text_net(text: str):
    import textwrap

    from archcalc.expand import build
    from archcalc.source import load_text

    return build(load_text(textwrap.dedent(text).lstrip("\n"), "net.yaml"), "net.yaml", "net")


def test_a_late_argument_is_checked_when_the_shapes_are_known():
    net = load_text_net("""
        input: [6, 8, 8]
        blocks:
          bad:
            layers:
              - conv: {out: in_channels - 6, k: 1}
        layers:
          - bad:
    """)
    with pytest.raises(ShapeError, match=r"net.yaml:5:21: .*'bad1.conv1': in 'in_channels - 6': expected an integer ≥ 1 for 'out'"):
        analyze(net)


@pytest.mark.parametrize("text, message", [
    ("vars: {in_channels: 3}", "'in_channels' is reserved"),
    ("blocks: {b: {args: [in_features], layers: [relu:]}}", "'in_features' is reserved"),
])
def test_shape_names_are_reserved(text, message):
    with pytest.raises(SpecError, match=message):
        load_text_net(f"input: [3, 8, 8]\n{text}\nlayers:\n  - relu:\n")


def test_repeat_cannot_depend_on_shapes():
    with pytest.raises(SpecError, match="repeat cannot depend on tensor shapes"):
        load_text_net("""
            input: [3, 8, 8]
            blocks:
              b:
                layers:
                  - relu:
                    repeat: in_channels
            layers:
              - b:
        """)


UNET_LEVEL = """
    input: [1, 68, 68]
    layers:
      - conv: {out: 4, k: 3, act: relu, name: enc}         # 66
      - maxpool: {k: 2, name: down}                        # 33
      - conv: {out: 8, k: 3, act: relu, name: bottom}      # 31
      - convtranspose: {out: 4, k: 2, s: 2, name: up}      # (31 − 1)·2 + 1 + 1 = 62
      - crop: {from: [enc, up], name: skip}                # centre 62×62 of 66×66
      - concat: {from: [skip, up], name: cat}
      - conv: {out: 4, k: 3, act: relu, name: dec}         # 60
"""


def test_unet_crop_and_up_convolution():
    rows = {r.name: r for r in report_of(UNET_LEVEL).rows}
    assert rows["up"].output == (4, (31 - 1) * 2 + (2 - 1) + 1, 62)
    assert rows["skip"].output == (4, 62, 62)
    assert rows["cat"].output == (8, 62, 62)
    assert rows["skip"].activations == 0  # a view of the encoder's map
    assert rows["up"].macs == 31 * 31 * 2 * 2 * 8 * 4  # per input position


def test_receptive_field_through_an_up_convolution_and_a_crop():
    rows = {r.name: r for r in report_of(UNET_LEVEL).rows}
    # enc 3 (jump 1); pool 3 + 1·1 = 4 (jump 2); bottom 4 + 2·2 = 8 (jump 2);
    # a 2×2 stride-2 up-convolution reads ⌈2/2⌉ = 1 input per output: RF 8, jump 2/2 = 1
    assert (rows["up"].receptive_field, rows["up"].jump) == ((8, 8), (1, 1))
    # the crop keeps the encoder's field (its second input only gives a size)
    assert rows["skip"].receptive_field == (3, 3)
    assert rows["cat"].receptive_field == (8, 8)
    assert rows["dec"].receptive_field == (8 + 2 * 1, 8 + 2 * 1)


def test_upsampling_makes_a_fractional_jump():
    rows = report_of("""
        input: [1, 8, 8]
        layers:
          - upsample: {scale: 2, mode: bilinear}
          - conv: {out: 1, k: 3}
    """).rows
    from fractions import Fraction

    # bilinear reads 2 neighbours: RF 1 + (2 − 1)·1 = 2; outputs 1/2 input apart
    assert (rows[0].receptive_field, rows[0].jump) == ((2, 2), (Fraction(1, 2), Fraction(1, 2)))
    assert rows[1].receptive_field == (2 + 2 * Fraction(1, 2),) * 2  # = 3


def test_nothing_is_saved_before_the_first_layer_that_needs_a_gradient():
    # maxpool → relu → bn → conv: the pool and relu make no autograd node at all; bn (trained)
    # keeps its input (the relu's output) and its statistics; the conv keeps the bn's output.
    report = report_of("""
        input: [2, 8, 8]
        layers:
          - maxpool: 2
          - relu:
          - bn:
          - conv: {out: 2, k: 1}
    """)
    pool, relu, bn, conv = report.rows
    assert (pool.saved_bytes, relu.saved_bytes) == (0, 0)
    assert bn.saved_bytes == 2 * 4 * 4 * 4 + 2 * 2 * 4  # input 2·4·4 floats + mean and 1/σ per channel
    assert conv.saved_bytes == 2 * 4 * 4 * 4
    assert report_of("input: [2, 8, 8]\nlayers:\n  - maxpool: 2\n  - relu:\n").totals.train_saved_bytes == 0


def test_a_saved_view_keeps_its_whole_storage():
    # token 0 is a view of the 5×8 sequence; the linear layer keeps it, so all 5·8 floats stay
    report = report_of("""
        input: [5, 8]
        layers:
          - linear: {out: 8, name: mix}
          - token: 0
          - linear: {out: 2, name: head}
    """)
    assert {r.name: r.saved_bytes for r in report.rows}["head"] == 5 * 8 * 4


def test_dropout_of_zero_is_the_identity():
    rows = report_of("input: [4]\nlayers:\n  - fc: 4\n  - dropout: 0.0\n  - fc: 2\n").rows
    assert (rows[1].saved_bytes, rows[1].activations) == (0, 0)
    assert rows[2].saved_bytes == 4 * 4  # its input is the first fc's output itself
    first = report_of("input: [4]\nlayers:\n  - fc: 4\n  - dropout: 0.5\n  - fc: 2\n").rows
    assert first[1].saved_bytes == 4 * 1  # the mask, a byte per element


def test_attention_saves_qkv_context_and_row_statistics():
    # N = 5 tokens of D = 8, 2 heads: input 5·8, packed Q, K, V 3·5·8, context 5·8 (activations' type),
    # log-sum-exp 2·5 in float32
    row = report_of("input: [5, 8]\nlayers:\n  - linear: 8\n  - attention: 2\n").rows[1]
    assert row.saved_bytes == (5 * 8 + 3 * 5 * 8 + 5 * 8) * 4 + 2 * 5 * 4


def test_vision_transformer_tokens():
    rows = report_of("""
        input: [3, 32, 32]
        layers:
          - patch_embed: {dim: 16, patch: 8}   # 32/8 = 4, 4·4 = 16 tokens
          - class_token:
          - pos_embed:
          - attention: 4
          - token: 0
    """).rows
    assert [r.output for r in rows] == [(16, 16), (17, 16), (17, 16), (17, 16), (16,)]
    assert rows[2].params == 17 * 16
    # the patches' RF is 8 (jump 8); attention mixes the 4×4 grid: 8 + (4 − 1)·8 = 32
    assert (rows[0].receptive_field, rows[3].receptive_field) == ((8, 8), (32, 32))


@pytest.mark.parametrize("layer, shape, message", [
    ("mul: {from: [a, b]}", None, "mul needs shapes that broadcast"),
    ("split: {parts: 3}", [4, 2, 2], "3 parts must divide the 4 channels"),
    ("permute: [0, 0, 1]", [4, 2, 2], "must order the 3 dimensions"),
    ("attention: 3", [5, 8], "heads=3 must divide the embedding dimension 8"),
    ("convtranspose: {out: 2, k: 2, s: 2, output_padding: 2}", [1, 4, 4], "output_padding 2 must be smaller"),
    ("upsample: {mode: bilinear}", [1, 4, 4], "upsample takes scale"),
    ("layernorm: {eps: -1}", [4, 2, 2], "expected a number ≥ 0 for 'eps'"),
    ("lrn: {beta: -0.5}", [4, 2, 2], "expected a number ≥ 0 for 'beta'"),
    ("conv: {out: 2, k: 1, table: [[0, 0], [1]]}", [2, 2, 2], "lists an input map twice"),
])
def test_impossible_modern_layers_are_one_clear_error(layer, shape, message):
    text = (f"input: {shape}\nlayers:\n  - {layer}\n" if shape else
            f"input: [2, 4, 4]\nlayers:\n  - conv: {{out: 3, k: 1, name: a}}\n  - conv: {{out: 2, k: 1, from: input, name: b}}\n  - {layer}\n")
    with pytest.raises(SpecError, match=message):
        report_of(text)
