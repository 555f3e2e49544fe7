"""Geometry over 1, 2 and 3 spatial axes: C×L signals and C×T×H×W clips beside C×H×W images.

Expected values are (N − K + 2P)/S + 1 and the kernel products worked by hand, per axis.
"""

from __future__ import annotations

import json
import random

import pytest

import archcalc
from archcalc import render
from archcalc.errors import ShapeError, SpecError
from archcalc.sizes import at, parse_shape
from archcalc.symbolic import Expr
from helpers import network_of, report_of, row_of

L, T, H, W, N = (Expr.var(name) for name in "LTHWN")
SIGNAL = "{channels: 2, length: 100}"
CLIP = [3, 8, 32, 32]

CASES = [
    # (layer, input, output, params, macs)
    ("conv: {out: 4, k: 5}", SIGNAL, (4, 96), 5 * 2 * 4 + 4, 96 * 5 * 2 * 4),
    ("conv: {out: 4, k: 5, s: 2, p: 2}", SIGNAL, (4, 50), 5 * 2 * 4 + 4, 50 * 5 * 2 * 4),  # (100 − 5 + 4)/2 + 1 = 50.5
    ("conv: {out: 4, k: [5], d: 3}", SIGNAL, (4, 88), 5 * 2 * 4 + 4, 88 * 5 * 2 * 4),  # 100 − (3·4 + 1) + 1
    ("conv: {out: 4, k: 4, p: same}", SIGNAL, (4, 100), 4 * 2 * 4 + 4, 100 * 4 * 2 * 4),
    ("conv: {out: 2, k: 3, groups: 2, bn: true}", SIGNAL, (2, 98), 3 * 1 * 2 + 2 * 2, 98 * 3 * 1 * 2),
    ("conv: {out: 16, k: 3, p: 1}", CLIP, (16, 8, 32, 32), 3 * 3 * 3 * 3 * 16 + 16, 8 * 32 * 32 * 27 * 3 * 16),
    ("conv: {out: 16, k: [3, 7, 7], s: [1, 2, 2], p: [1, 3, 3], bias: false}", CLIP, (16, 8, 16, 16),
     3 * 7 * 7 * 3 * 16, 8 * 16 * 16 * 3 * 7 * 7 * 3 * 16),
    ("convtranspose: {out: 4, k: 2, s: 2}", SIGNAL, (4, 200), 2 * 2 * 4 + 4, 100 * 2 * 2 * 4),  # (100 − 1)·2 + 1 + 1
    ("convtranspose: {out: 4, k: [1, 2, 2], s: [1, 2, 2]}", CLIP, (4, 8, 64, 64), 2 * 2 * 3 * 4 + 4, 8 * 32 * 32 * 4 * 3 * 4),
    ("maxpool: 4", SIGNAL, (2, 25), 0, 0),
    ("maxpool: {k: 3, s: 2, p: 1}", CLIP, (3, 4, 16, 16), 0, 0),  # (8 − 3 + 2)/2 + 1 = 4.5, (32 − 3 + 2)/2 + 1 = 16.5
    ("maxpool: {k: [1, 2, 2]}", CLIP, (3, 8, 16, 16), 0, 0),
    ("avgpool: {k: 4, s: 3}", SIGNAL, (2, 33), 0, 0),  # (100 − 4)/3 + 1
    ("avgpool: global", SIGNAL, (2, 1), 0, 0),
    ("avgpool: global", CLIP, (3, 1, 1, 1), 0, 0),
    ("avgpool: {output: 7}", SIGNAL, (2, 7), 0, 0),
    ("maxpool: {output: [2, 4, 4]}", CLIP, (3, 2, 4, 4), 0, 0),
    ("bn:", SIGNAL, (2, 100), 2 * 2, 0),
    ("bn:", CLIP, (3, 8, 32, 32), 2 * 3, 0),
    ("upsample: 2", SIGNAL, (2, 200), 0, 0),
    ("upsample: {scale: [1, 2, 2], mode: trilinear}", CLIP, (3, 8, 64, 64), 0, 0),
    ("upsample: {size: 150, mode: linear}", SIGNAL, (2, 150), 0, 0),
    ("shortcut: {out: 8, s: 2}", SIGNAL, (8, 50), 2 * 8 + 2 * 8, 50 * 2 * 8),
    ("shortcut: {out: 6, s: 2}", CLIP, (6, 4, 16, 16), 3 * 6 + 2 * 6, 4 * 16 * 16 * 3 * 6),
    ("shortcut: {out: 6, s: 2, mode: pad}", CLIP, (6, 4, 16, 16), 0, 0),
    ("fc: 10", SIGNAL, (10,), 2 * 100 * 10 + 10, 2 * 100 * 10),
    ("flatten:", CLIP, (3 * 8 * 32 * 32,), 0, 0),
    ("tokens:", CLIP, (8 * 32 * 32, 3), 0, 0),
    ("tokens:", SIGNAL, (100, 2), 0, 0),
]


@pytest.mark.parametrize("layer, shape_in, shape_out, params, macs", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_rule(layer, shape_in, shape_out, params, macs):
    row = row_of(layer, shape_in)
    assert (row.output, row.params, row.macs) == (shape_out, params, macs)


def test_a_list_of_the_wrong_rank_is_one_clear_error():
    with pytest.raises(ShapeError, match=r"k=\[3, 3\] has 2 items; the input's map is L \(1 spatial axis\): "
                                         r"give an integer or a list of 1"):
        row_of("conv: {out: 4, k: [3, 3]}", SIGNAL)
    with pytest.raises(ShapeError, match=r"s=\[1, 2\] has 2 items; the input's map is T×H×W \(3 spatial axes\)"):
        row_of("maxpool: {k: 2, s: [1, 2]}", CLIP)


def test_a_mode_of_another_rank_is_refused():
    with pytest.raises(ShapeError, match="mode bilinear interpolates a C×H×W map; the input is 2×100: use nearest, "
                                         "linear$"):
        row_of("upsample: {scale: 2, mode: bilinear}", SIGNAL)


def test_formulas_name_the_axes_and_group_the_alike():
    row = row_of("conv: {out: 16, k: [3, 7, 7], s: [1, 2, 2], p: [1, 3, 3]}", CLIP)
    assert row.formulas["shape"] == "T: (8 − 3 + 2·1)/1 + 1 = 8; H, W: ⌊(32 − 7 + 2·3)/2⌋ + 1 = 16"
    assert row.flags == ("H, W: (32 − 7 + 2·3)/2 = 15.5 is not whole; rounded down",)
    assert row.formulas["receptive_field"] == "T: 1 + (3 − 1)·1 = 3; H, W: 1 + (7 − 1)·1 = 7"
    assert row.formulas["macs"] == "8·16·16 · 3·7·7·3·16 = " + f"{8 * 16 * 16 * 3 * 7 * 7 * 3 * 16:,}"
    one = row_of("conv: {out: 4, k: 5, s: 2, p: 2}", SIGNAL)
    assert one.formulas["shape"] == "⌊(100 − 5 + 2·2)/2⌋ + 1 = 50"


def test_receptive_field_per_axis():
    rows = report_of("""
        input: [3, 8, 32, 32]
        layers:
          - conv: {out: 4, k: [3, 7, 7], s: [1, 2, 2], p: [1, 3, 3]}
          - maxpool: {k: 3, s: 2, p: 1}
          - avgpool: global
    """).rows
    # T: 3, then 3 + (3 − 1)·1 = 5 at jump 2; H, W: 7, then 7 + (3 − 1)·2 = 11 at jump 4
    assert [(r.receptive_field, r.jump) for r in rows[:2]] == [((3, 7, 7), (1, 2, 2)), ((5, 11, 11), (2, 4, 4))]
    # global over a 4×8×8 grid: T 5 + (4 − 1)·2 = 11; H, W 11 + (8 − 1)·4 = 39
    assert rows[2].receptive_field == (11, 39, 39)
    signal = report_of("input: {channels: 1, length: 64}\nlayers:\n  - conv: {out: 2, k: 9, s: 4}\n  - maxpool: 2\n").rows
    assert [(r.receptive_field, r.jump) for r in signal] == [((9,), (4,)), ((9 + 1 * 4,), (8,))]


def test_tokens_and_signals_are_told_apart():
    tokens, signal = network_of("input: [5, 8]\nlayers: [linear: 8]\n"), network_of(f"input: {SIGNAL}\nlayers: [relu: ]\n")
    named_tokens = network_of("input: {tokens: 5, dim: 8}\nlayers: [linear: 8]\n")
    assert (tokens.input, tokens.input_rank()) == ((5, 8), 0)
    assert (named_tokens.input, named_tokens.input_rank()) == ((5, 8), 0)
    assert (signal.input, signal.input_rank()) == ((2, 100), 1)
    assert network_of("input: {channels: 3, frames: 8, height: 32, width: 32}\nlayers: [relu: ]\n").input == (3, 8, 32, 32)
    assert network_of("input: [3, 8, 32, 32]\nlayers: [relu: ]\n").input_rank() == 3
    # the same sizes: a token sequence has no positions a window could widen; a signal has L of them
    assert report_of("input: [5, 8]\nlayers: [avgpool: global]\n").rows[0].receptive_field == (1, 1)
    assert report_of(f"input: {SIGNAL}\nlayers: [avgpool: global]\n").rows[0].receptive_field == (100,)


@pytest.mark.parametrize("value", ["{channels: 1}", "{channels: 1, width: 8}", "{channels: 1, length: 0}",
                                   "{tokens: N, dim: 8}", "[3, 8, 8, 8, 8]", "[5, N]"])
def test_bad_inputs_are_one_line(value):
    with pytest.raises(SpecError, match=r"expected input: \[C, H, W\], \[C, T, H, W\], \[N, D\] tokens"):
        network_of(f"input: {value}\nlayers: [relu: ]\n")


def test_the_csv_names_its_axes():
    signal = archcalc.analyze(network_of(f"input: {SIGNAL}\nlayers: [conv: {{out: 2, k: 3}}]\n"))
    header, row = render.to_csv(signal).splitlines()[:2]
    assert "receptive_field_l,saved_bytes" in header and ",3," in row
    clip = archcalc.analyze(network_of("input: [3, 8, 32, 32]\nlayers: [conv: {out: 2, k: [1, 3, 3]}]\n"))
    header, row = render.to_csv(clip).splitlines()[:2]
    assert "receptive_field_t,receptive_field_h,receptive_field_w" in header and ",1,3,3," in row


# ── the bundled 1-D and 3-D networks ─────────────────────────────────────────

def test_m5():
    report = archcalc.analyze("m5")
    sizes = [(16000 - 80) // 4 + 1]  # 3,981
    sizes.append((sizes[-1] - 4) // 4 + 1)  # 995
    for _ in range(3):
        sizes.append(sizes[-1] - 3 + 1)  # 3-tap convolution, unpadded
        sizes.append((sizes[-1] - 4) // 4 + 1)  # 4× max pooling
    assert [r.output[1] for r in report.rows if r.kind in ("conv", "maxpool")] == sizes
    convs = [(1, 128, 80), (128, 128, 3), (128, 256, 3), (256, 512, 3)]
    params = sum(k * c * out + out + 2 * out for c, out, k in convs) + 512 * 35 + 35  # conv bias, BN γ and β, fc
    macs = sum(k * c * out * n for (c, out, k), n in zip(convs, sizes[0::2])) + 512 * 35
    assert (report.totals.params, report.totals.macs, report.rows[-1].output) == (params, macs, (35,))


def test_r3d_18_is_torchvision_s_count():
    report = archcalc.analyze("r3d-18")
    assert report.totals.params == 33_371_472  # torchvision.models.video.r3d_18's parameters
    projection = [r for r in report.rows if r.kind == "shortcut"][2]  # layer2's first: 1×1×1, stride 2 on every axis
    assert (projection.output, projection.params) == ((128, 8, 28, 28), 64 * 128 + 2 * 128)
    assert report.rows[-1].output == (400,)


# ── symbolic sizes: 1×L and 3×T×H×W ──────────────────────────────────────────

@pytest.mark.parametrize("text_in, shape", [("1xL", (1, L)), ("3xTxHxW", (3, T, H, W)), ("3x16x112x112", (3, 16, 112, 112)),
                                            ("3xTxNxN", (3, T, N, N))])
def test_parse_shape(text_in, shape):
    assert parse_shape(text_in) == shape


def test_another_size_keeps_the_spec_s_layout():
    m5 = archcalc.load("m5")
    assert m5.input_rank((1, 8000)) == 1 and m5.input_rank((1, 8000, 2)) == 2
    half = archcalc.analyze(m5, input_shape=(1, 8000))
    assert half.rows[0].output == (128, (8000 - 80) // 4 + 1) and half.rows[0].receptive_field == (80,)
    tokens = network_of("input: [5, 8]\nlayers: [linear: 8]\n")
    assert tokens.input_rank((7, 8)) == 0


def test_a_symbolic_length_is_a_signal_even_without_a_named_input():
    net = network_of("input: [1, 64]\nlayers: [conv: {out: 2, k: 9, s: 4}]\n")
    assert (net.input_rank(), net.input_rank((1, L))) == (0, 1)


FIGURES = ("output", "params", "macs", "backward_macs", "activations", "receptive_field", "saved_bytes", "peak_bytes")


@pytest.mark.parametrize("name, shape, sizes", [
    ("m5", (1, L), [{"L": n} for n in random.Random(5).sample(range(1772, 40000), 12)] + [{"L": 16000}]),
    ("r3d-18", (3, T, H, W), [{"T": 16, "H": 112, "W": 112}, {"T": 9, "H": 40, "W": 57}, {"T": 1, "H": 17, "W": 16}]),
])
def test_symbolic_figures_equal_the_concrete_engine(name, shape, sizes):
    net = archcalc.load(name)
    report = archcalc.analyze(net, batch=2, input_shape=shape)
    for env in sizes:
        concrete = archcalc.analyze(net, batch=2, input_shape=(shape[0], *(env[str(d)] for d in shape[1:])))
        evaluated = at(report, env, net)
        for mine, theirs in zip(evaluated.rows, concrete.rows, strict=True):
            assert [getattr(mine, f) for f in FIGURES] == [getattr(theirs, f) for f in FIGURES], (env, mine.name)
        assert (evaluated.totals.params, evaluated.totals.macs, evaluated.totals.inference_peak_bytes) == \
               (concrete.totals.params, concrete.totals.macs, concrete.totals.inference_peak_bytes), env


def test_symbolic_cli(cli):
    ran = cli("table", "m5", "--input", "1xL", "--at", "L=16000", "-f", "json")
    assert ran.code == 0, ran.err
    concrete = json.loads(cli("table", "m5", "-f", "json").out)
    assert json.loads(ran.out)["totals"] == concrete["totals"]
    ran = cli("table", "r3d-18", "--input", "3xTxNxN")
    assert ran.code == 0, ran.err
    assert "512×⌈T/8⌉×⌈N/16⌉×⌈N/16⌉" in ran.out
    at_size = json.loads(cli("table", "r3d-18", "--input", "3xTxNxN", "--at", "T=16,N=112", "-f", "json").out)
    assert at_size["totals"]["macs"] == json.loads(cli("table", "r3d-18", "-f", "json").out)["totals"]["macs"]
