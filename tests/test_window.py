"""Swin's window attention and patch merging: buffers, saved tensors, padding, shift and errors of their rules."""

from __future__ import annotations

import pytest

import archcalc
from archcalc.errors import ArchcalcError
from archcalc.symbolic import Expr
from helpers import report_of, row_of


def test_window_attention_counts_its_relative_position_index_as_buffers():
    row = row_of("window_attention: {heads: 3, window: 7}", [56, 56, 96])
    assert (row.trainable_params, row.buffers) == (4 * 96 * 96 + 4 * 96 + (2 * 7 - 1) ** 2 * 3, (7 * 7) ** 2)
    assert "int64 in torch" in row.formulas["buffers"]


def test_window_attention_keeps_the_scores_and_five_copies_of_the_map():
    """What torchvision's explicit matmul and softmax keep: the windows, Q, K, V, the context (each P·C for
    P padded positions) and the softmax's heads·P·w² scores; the input is not kept."""
    row = row_of("window_attention: {heads: 2, window: 7, shift: 3}", [10, 12, 32])
    positions = 14 * 14
    assert row.saved_bytes == 4 * (5 * positions * 32 + 2 * positions * 7 * 7)


def test_patch_merging_keeps_the_merged_and_normalised_maps_and_the_norm_statistics():
    row = row_of("patch_merging:", [8, 8, 16])
    assert row.saved_bytes == 4 * (2 * 4 * 4 * 64) + 4 * 2 * 4 * 4


def test_a_map_smaller_than_the_window_is_padded_to_one_window_and_not_shifted():
    row = row_of("window_attention: {heads: 2, window: 7, shift: 3}", [4, 4, 32])
    assert row.macs == 4 * 7 * 7 * 32 * 32 + 2 * 7 * 7 * 49 * 32
    assert "not shifted: one window spans the padded map" in row.formulas["shape"]
    assert row.receptive_field == (4, 4)  # the window sees the whole 4×4 map


def test_the_shift_is_dropped_only_along_an_axis_of_one_window():
    row = row_of("window_attention: {heads: 2, window: 7, shift: 3}", [14, 7, 32])
    assert "shifted by 3 along H only" in row.formulas["shape"]


def test_window_attention_widens_the_receptive_field_by_its_window():
    rows = report_of("""
        input: [3, 56, 56]
        layers:
          - conv: {out: 32, k: 4, s: 4}
          - permute: [1, 2, 0]
          - window_attention: {heads: 2, window: 7}
          - patch_merging:
    """).rows
    assert [r.receptive_field[0] for r in rows[2:]] == [4 + (7 - 1) * 4, 28 + (2 - 1) * 4]
    assert rows[3].jump == (8, 8)


@pytest.mark.parametrize("layer, shape, message", [
    ("window_attention: {heads: 3, window: 7}", [56, 56, 64], "heads=3 must divide the 64 channels"),
    ("window_attention: {heads: 2, window: 7, shift: 7}", [56, 56, 64], "shift=7 must be less than the window (7)"),
    ("window_attention: {heads: 2, window: 7}", [196, 64], "expects an H×W×C map"),
    ("patch_merging:", [64, 8, 8, 8], "expects an H×W×C map"),
])
def test_inputs_the_rules_refuse_in_one_line(layer, shape, message):
    with pytest.raises(ArchcalcError) as error:
        row_of(layer, shape)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_swin_t_as_a_formula_in_the_input_size_is_exact_at_every_size():
    """Padding to a multiple of the window is a floor in the formula: exact at sizes the windows do not divide."""
    n = Expr.var("N")
    net = archcalc.load("swin-t")
    report = archcalc.analyze(net, input_shape=(3, n, n))
    for size in (224, 200, 96, 61):
        concrete = archcalc.analyze(net, input_shape=(3, size, size))
        totals = report.totals
        assert totals.macs.at({"N": size}) == concrete.totals.macs
        assert totals.train_saved_bytes.at({"N": size}) == concrete.totals.train_saved_bytes
        assert totals.inference_peak_bytes.at({"N": size}) == concrete.totals.inference_peak_bytes


def test_swin_t_totals():
    report = archcalc.analyze(archcalc.load("swin-t"))
    # torchvision's swin_t: 28,288,354 parameters; twelve blocks' relative position indices of (7·7)²
    assert (report.totals.params, report.totals.buffers) == (28_288_354, 12 * 49 * 49)
    assert report.totals.macs == 4_490_566_656


def test_under_autocast_the_scores_are_float32_and_a_low_precision_copy_is_kept_too():
    plain = row_of("window_attention: {heads: 2, window: 7}", [14, 14, 32])
    amp = row_of("window_attention: {heads: 2, window: 7}", [14, 14, 32], precision="amp-bf16")
    positions, scores = 14 * 14, 2 * 14 * 14 * 49
    assert plain.saved_bytes == 4 * (5 * positions * 32 + scores)
    # bfloat16 windows, Q, K, V, context and scores' copy; float32 scores; the input needs no gradient, so the
    # projections' weight copies are not kept
    assert amp.saved_bytes == 2 * (5 * positions * 32 + scores) + 4 * scores
