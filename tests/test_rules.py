"""Every kind's rule, table-driven; expected values written as arithmetic."""

from __future__ import annotations

import pytest

from archcalc import analyze
from archcalc.rules import RULES, Role, kinds
from archcalc.rules.base import Inputs
from helpers import row_of

CASES = [
    # (layer, input, output, params, macs)
    ("conv: {out: 96, k: 11, s: 4}", [3, 227, 227], (96, 55, 55), 11 * 11 * 3 * 96 + 96, 55 * 55 * 96 * 11 * 11 * 3),
    ("conv: {out: 64, k: 3, p: 1}", [3, 224, 224], (64, 224, 224), 3 * 3 * 3 * 64 + 64, 224 * 224 * 64 * 3 * 3 * 3),
    ("conv: {out: 64, k: 3, p: same}", [3, 17, 17], (64, 17, 17), 3 * 3 * 3 * 64 + 64, 17 * 17 * 64 * 27),
    ("conv: {out: 8, k: 4, p: same}", [2, 10, 10], (8, 10, 10), 4 * 4 * 2 * 8 + 8, 10 * 10 * 8 * 32),
    ("conv: {out: 8, k: 3, p: valid}", [2, 10, 10], (8, 8, 8), 3 * 3 * 2 * 8 + 8, 8 * 8 * 8 * 18),
    ("conv: {out: 64, k: 7, s: 2, p: 3, bn: true}", [3, 224, 224], (64, 112, 112),
     7 * 7 * 3 * 64 + 2 * 64, 112 * 112 * 64 * 7 * 7 * 3),
    ("conv: {out: 16, k: 3, bias: false}", [4, 8, 8], (16, 6, 6), 3 * 3 * 4 * 16, 6 * 6 * 16 * 36),
    ("conv: {out: 16, k: 3, bn: true, bias: true}", [4, 8, 8], (16, 6, 6), 3 * 3 * 4 * 16 + 16 + 2 * 16, 6 * 6 * 16 * 36),
    ("conv: {out: 8, k: 3, d: 2}", [1, 9, 9], (8, 5, 5), 3 * 3 * 1 * 8 + 8, 5 * 5 * 8 * 9),  # 9 − (2·2+1) + 1 = 5
    ("conv: {out: 256, k: 5, p: 2, groups: 2}", [96, 27, 27], (256, 27, 27), 5 * 5 * 48 * 256 + 256, 27 * 27 * 256 * 5 * 5 * 48),
    ("conv: {out: 32, k: 3, p: 1, groups: 32}", [32, 8, 8], (32, 8, 8), 3 * 3 * 1 * 32 + 32, 8 * 8 * 32 * 9),
    ("conv: {out: 4, k: [1, 7], p: [0, 3]}", [2, 9, 9], (4, 9, 9), 1 * 7 * 2 * 4 + 4, 9 * 9 * 4 * 7 * 2),
    ("conv: {out: 4, k: 3, s: [1, 2]}", [2, 9, 9], (4, 7, 4), 3 * 3 * 2 * 4 + 4, 7 * 4 * 4 * 18),
    ("conv: {out: 3, k: 2, table: [[0], [0, 1], [0, 1, 2]]}", [3, 4, 4], (3, 3, 3), 2 * 2 * (1 + 2 + 3) + 3, 3 * 3 * 2 * 2 * 6),
    ("maxpool: {k: 3, s: 2}", [96, 55, 55], (96, 27, 27), 0, 0),
    ("maxpool: 2", [8, 28, 28], (8, 14, 14), 0, 0),
    ("maxpool: {k: 3, s: 2, ceil: true}", [96, 110, 110], (96, 55, 55), 0, 0),  # ⌈107/2⌉ + 1
    ("maxpool: {k: 3, s: 2, p: 1}", [64, 112, 112], (64, 56, 56), 0, 0),
    ("maxpool: {k: 2, s: 2, ceil: true}", [4, 5, 5], (4, 3, 3), 0, 0),
    # ⌈(5 − 2 + 2)/2⌉ + 1 = 4, but the 4th window would start in the right padding: 3, as PyTorch
    ("maxpool: {k: 2, s: 2, ceil: true, p: 1}", [1, 5, 5], (1, 3, 3), 0, 0),
    ("avgpool: global", [1024, 7, 7], (1024, 1, 1), 0, 0),
    ("avgpool: {output: 6}", [256, 13, 13], (256, 6, 6), 0, 0),
    ("avgpool: {k: 5, s: 3}", [512, 14, 14], (512, 4, 4), 0, 0),
    ("subsample: {k: 2}", [6, 28, 28], (6, 14, 14), 2 * 6, 0),
    ("lrn: {size: 5}", [96, 27, 27], (96, 27, 27), 0, 0),
    ("bn:", [64, 8, 8], (64, 8, 8), 2 * 64, 0),
    ("relu:", [64, 8, 8], (64, 8, 8), 0, 0),
    ("dropout: 0.5", [4096], (4096,), 0, 0),
    ("stochastic_depth: 0.1", [96, 56, 56], (96, 56, 56), 0, 0),
    ("flatten:", [512, 7, 7], (512 * 7 * 7,), 0, 0),
    ("fc: {out: 4096}", [512, 7, 7], (4096,), 7 * 7 * 512 * 4096 + 4096, 7 * 7 * 512 * 4096),
    ("fc: 10", [84], (10,), 84 * 10 + 10, 84 * 10),
    ("fc: {out: 10, bias: false}", [84], (10,), 84 * 10, 84 * 10),
    ("fc: {out: 10, bn: true}", [84], (10,), 84 * 10 + 2 * 10, 84 * 10),
    ("rbf: 10", [84], (10,), 84 * 10, 84 * 10),
    ("softmax:", [1000], (1000,), 0, 0),
    ("shortcut: {out: 64}", [64, 56, 56], (64, 56, 56), 0, 0),
    ("shortcut: {out: 512, s: 2}", [256, 56, 56], (512, 28, 28), 1 * 1 * 256 * 512 + 2 * 512, 28 * 28 * 512 * 256),
    ("shortcut: {out: 512, s: 2, bn: false}", [256, 56, 56], (512, 28, 28), 256 * 512, 28 * 28 * 512 * 256),
    ("shortcut: {out: 32, s: 2, mode: pad}", [16, 32, 32], (32, 16, 16), 0, 0),
    # U-Net's up-convolution: (28 − 1)·2 − 2·0 + (2 − 1) + 0 + 1 = 56; MACs per input position
    ("convtranspose: {out: 64, k: 2, s: 2}", [128, 28, 28], (64, 56, 56), 2 * 2 * 128 * 64 + 64, 28 * 28 * 2 * 2 * 128 * 64),
    # (5 − 1)·2 − 2·1 + (3 − 1) + 1 + 1 = 10
    ("convtranspose: {out: 8, k: 3, s: 2, p: 1, output_padding: 1}", [4, 5, 5], (8, 10, 10), 3 * 3 * 4 * 8 + 8, 5 * 5 * 3 * 3 * 4 * 8),
    ("convtranspose: {out: 8, k: 3, groups: 2, bn: true}", [4, 5, 5], (8, 7, 7), 3 * 3 * 2 * 8 + 2 * 8, 5 * 5 * 3 * 3 * 2 * 8),
    # ViT-B/16: 224/16 = 14, 14·14 = 196 tokens of 768
    ("patch_embed: {dim: 768, patch: 16}", [3, 224, 224], (196, 768), 16 * 16 * 3 * 768 + 768, 14 * 14 * 16 * 16 * 3 * 768),
    ("linear: {out: 3072}", [197, 768], (197, 3072), 768 * 3072 + 3072, 197 * 768 * 3072),
    ("linear: 4", [7, 7, 96], (7, 7, 4), 96 * 4 + 4, 7 * 7 * 96 * 4),  # ConvNeXt's channels-last MLP
    ("linear: {out: 10, bias: false}", [64], (10,), 64 * 10, 64 * 10),
    ("layernorm:", [197, 768], (197, 768), 2 * 768, 0),
    ("layernorm: {over: channels, eps: 1e-6}", [96, 56, 56], (96, 56, 56), 2 * 96, 0),
    ("rmsnorm:", [197, 768], (197, 768), 768, 0),  # γ only
    ("groupnorm: 32", [64, 8, 8], (64, 8, 8), 2 * 64, 0),
    ("scale:", [96, 56, 56], (96, 56, 56), 96, 0),
    ("permute: [1, 2, 0]", [96, 56, 56], (56, 56, 96), 0, 0),
    ("tokens:", [768, 14, 14], (196, 768), 0, 0),
    ("token: 0", [197, 768], (768,), 0, 0),
    ("split: {parts: 2, part: 2}", [116, 28, 28], (58, 28, 28), 0, 0),
    ("split: {parts: 2, dim: 1}", [197, 768], (197, 768 // 2), 0, 0),  # a sequence: its features, as linear reads them
    ("split: {parts: 4, dim: 0, part: 1}", [196, 768], (196 // 4, 768), 0, 0),  # its tokens, asked for
    ("split: {parts: 2, dim: -1}", [64, 8, 6], (64, 8, 6 // 2), 0, 0),  # a map's width
    ("reshape: [512, -1]", [512, 7, 7], (512, 7 * 7), 0, 0),  # x.reshape(b, c, h*w)
    ("view: [-1]", [512, 7, 7], (512 * 7 * 7,), 0, 0),  # x.view(b, -1)
    ("getitem: 0", [197, 768], (768,), 0, 0),  # x[:, 0]
    ("shuffle: 2", [116, 28, 28], (116, 28, 28), 0, 0),
    ("upsample: 2", [64, 28, 28], (64, 56, 56), 0, 0),
    ("upsample: {size: [7, 9], mode: bilinear}", [4, 3, 3], (4, 7, 9), 0, 0),
    ("class_token:", [196, 768], (197, 768), 768, 0),
    ("pos_embed:", [197, 768], (197, 768), 197 * 768, 0),
    ("pos_embed: {max: 1024}", [197, 768], (197, 768), 1024 * 768, 0),  # GPT-2's table: the first 197 added
    ("type_embed: 2", [512, 768], (512, 768), 2 * 768, 0),  # BERT's token types: type 0's vector added
    ("embedding: {vocab: 50257, dim: 768}", {"ids": 1024}, (1024, 768), 50257 * 768, 0),  # a lookup: no MACs
    # Q, K, V and output projections 4·768·768 (+ 4·768 biases); Q·Kᵀ and weights·V: 2·197·197·768
    ("attention: {heads: 12}", [197, 768], (197, 768), 4 * 768 * 768 + 4 * 768, 4 * 197 * 768 * 768 + 2 * 197 * 197 * 768),
    ("attention: {heads: 2, bias: false}", [5, 8], (5, 8), 4 * 8 * 8, 4 * 5 * 8 * 8 + 2 * 5 * 5 * 8),
    # Swin-T's first block: QKV 3·96·96 + 3·96, output 96·96 + 96, bias table (2·7 − 1)²·3; projections of 56·56
    # positions and per 7×7 window Q·Kᵀ and weights·V, 2·(7·7)²·96 per window = 2·56·56·49·96
    ("window_attention: {heads: 3, window: 7}", [56, 56, 96], (56, 56, 96),
     3 * 96 * 96 + 3 * 96 + 96 * 96 + 96 + 13 * 13 * 3, 4 * 56 * 56 * 96 * 96 + 2 * 56 * 56 * 49 * 96),
    # 10×12 padded to 14×14 (a multiple of the window) before the windows are made
    ("window_attention: {heads: 2, window: 7, shift: 3, bias: false}", [10, 12, 32], (10, 12, 32),
     4 * 32 * 32 + 13 * 13 * 2, 4 * 14 * 14 * 32 * 32 + 2 * 14 * 14 * 49 * 32),
    # LayerNorm of 4·96 and a 4·96 → 2·96 reduction without bias, at each of 28·28 positions
    ("patch_merging:", [56, 56, 96], (28, 28, 192), 2 * 4 * 96 + 4 * 96 * 2 * 96, 28 * 28 * 4 * 96 * 2 * 96),
    ("patch_merging: {eps: 1e-6}", [7, 9, 16], (4, 5, 32), 2 * 64 + 64 * 32, 4 * 5 * 64 * 32),  # odd sizes padded by one
    # torch counts both bias vectors, b_ih and b_hh; MACs are the input and hidden products of every step
    ("lstm: {hidden: 650, layers: 2}", [35, 650], (35, 650),
     2 * (4 * 650 * (650 + 650) + 8 * 650), 35 * 2 * 4 * 650 * (650 + 650)),
    ("lstm: {hidden: 16, bidirectional: true, bias: false}", [7, 10], (7, 32), 2 * 4 * 16 * (10 + 16),
     2 * 7 * 4 * 16 * (10 + 16)),
    # an op no kind expresses, as traced: its shape and parameters as given, MACs unknown (flagged, counted 0)
    ("opaque: {shape: [4, 2], params: 7, op: aten.roll}", [8, 4, 4], (4, 2), 7, 0),
    ("gru: {hidden: 20, layers: 2, bidirectional: true}", [9, 12], (9, 40),
     2 * (3 * 20 * (12 + 20) + 6 * 20) + 2 * (3 * 20 * (40 + 20) + 6 * 20),
     2 * 9 * 3 * 20 * (12 + 20) + 2 * 9 * 3 * 20 * (40 + 20)),
]


@pytest.mark.parametrize("layer, shape_in, shape_out, params, macs", CASES, ids=[c[0] for c in CASES])
def test_rule(layer, shape_in, shape_out, params, macs):
    row = row_of(layer, shape_in)
    assert (row.output, row.params, row.macs) == (shape_out, params, macs)


def test_every_kind_has_a_case():
    """Adding a kind means adding a row here (merges are covered in test_graph.py; moe and combine, which
    need a block for the body, in test_moe.py)."""
    covered = {case[0].split(":")[0] for case in CASES}
    activations = set(kinds(Role.ACTIVATION))
    assert set(RULES) - covered - activations - set(kinds(Role.MERGE)) - {"crop", "moe", "combine"} == set()


def test_a_merge_and_only_a_merge_reads_many_inputs():
    wrong = [rule.kind for rule in RULES.values() if (rule.role is Role.MERGE) != (rule.inputs is Inputs.MANY)]
    assert wrong == []


@pytest.mark.parametrize("kind", sorted(kinds(Role.ACTIVATION)))
def test_activations_keep_shape_and_add_nothing(kind):
    row = row_of(f"{kind}:", [8, 4, 4])
    assert (row.output, row.params, row.macs, row.activations) == ((8, 4, 4), 0, 0, 0)


def test_bn_buffers_are_running_stats_not_parameters():
    row = row_of("bn:", [64, 8, 8])
    assert (row.params, row.trainable_params, row.buffers) == (2 * 64, 2 * 64, 2 * 64 + 1)


def test_rbf_centres_are_fixed_parameters():
    row = row_of("rbf: 10", [84])
    assert (row.params, row.trainable_params) == (84 * 10, 0)


def test_receptive_field_and_jump():
    # conv 11/4 then pool 3/2: RF 11, then 11 + (3 − 1)·4 = 19; jumps 4 then 8
    from helpers import report_of

    rows = report_of("""
        input: [3, 227, 227]
        layers:
          - conv: {out: 96, k: 11, s: 4}
          - maxpool: {k: 3, s: 2}
          - conv: {out: 8, k: 3, d: 2}
    """).rows
    assert [(r.receptive_field[0], r.jump[0]) for r in rows] == [(11, 4), (11 + 2 * 4, 8), (19 + (2 * 2) * 8, 8)]


def test_global_pool_sees_the_whole_map():
    from helpers import report_of

    rows = report_of("""
        input: [3, 32, 32]
        layers:
          - conv: {out: 4, k: 3, s: 2}
          - avgpool: global
    """).rows
    # 15×15 grid with jump 2: 3 + (15 − 1)·2 = 31
    assert rows[1].receptive_field == (3 + 14 * 2, 3 + 14 * 2)


def test_inexact_division_is_floored_and_flagged():
    row = row_of("conv: {out: 96, k: 7, s: 2, p: 1}", [3, 224, 224])
    assert row.output == (96, 110, 110)
    assert row.flags == ("(224 − 7 + 2·1)/2 = 109.5 is not whole; rounded down",)


def test_formulas_show_the_arithmetic():
    row = row_of("conv: {out: 96, k: 11, s: 4}", [3, 227, 227])
    assert row.formulas["shape"] == "(227 − 11 + 2·0)/4 + 1 = 55"
    assert row.formulas["weights"] == "11·11·3·96 = 34,848"
    assert row.formulas["params"] == "11·11·3·96 + 96 = 34,944"
    assert row.formulas["macs"] == "55·55 · 11·11·3·96 = 105,415,200"


def test_dependent_defaults_are_resolved_once_and_reported():
    """A rule fills in the defaults that hang on other arguments or on the input; the report (and so the
    diagram and the torch backend, which read the same arguments) shows the values the figures used."""
    from helpers import report_of

    rows = {row.name: row for row in report_of("""
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 2, p: same, bn: true, name: even}
          - conv: {out: 8, k: 3, p: 1, name: plain}
          - maxpool: {k: 2, name: pool}
          - shortcut: {name: kept}
          - shortcut: {out: 16, s: 2, name: wider}
          - avgpool: {global: true, name: gap}
          - fc: {out: 4, bn: true, bias: true, name: fc}
    """).rows}
    assert (rows["even"].args["bias"], rows["even"].args["pads"]) == (False, ((0, 1), (0, 1)))  # 'same': odd total at the end
    assert (rows["plain"].args["bias"], rows["plain"].args["pads"]) == (True, ((1, 1), (1, 1)))
    assert rows["pool"].args["s"] == (2, 2) and rows["pool"].output == (8, 32 // 2, 32 // 2)
    assert (rows["kept"].args["mode"], rows["kept"].args["out"]) == ("identity", 8)
    assert (rows["wider"].args["mode"], rows["wider"].args["out"]) == ("projection", 16)
    assert rows["gap"].args["s"] is None  # a global pool has no window, so no stride
    assert rows["fc"].args["bias"] is True and rows["fc"].params == 16 * 4 + 4 + 2 * 4  # given, not re-decided


@pytest.mark.parametrize("name", ["alexnet", "lenet5", "resnet18", "resnet20", "googlenet", "unet", "vit-b16"])
def test_resolving_is_done_once(name):
    """Resolved arguments resolve to themselves: nothing is left for a backend to decide again."""
    from archcalc import catalog
    from archcalc.ir import INPUT

    report = analyze(catalog.load(name))
    shapes = {INPUT: report.input, **{row.name: row.output for row in report.rows}}
    for row in report.rows:
        args = RULES[row.kind].resolved(row.args, [shapes[i] for i in row.inputs])
        assert dict(args) == dict(row.args), row.name
