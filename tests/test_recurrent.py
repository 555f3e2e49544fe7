"""The lstm and gru rules: parameters and MACs as torch counts them, the saved tensors of the CPU kernels, and
their figures as formulas in a symbolic sequence length. Expected values written as arithmetic."""

from __future__ import annotations

import random

import pytest

import archcalc
from archcalc.symbolic import Expr
from helpers import network_of, report_of, row_of

FLOAT = 4  # bytes of a float32


def test_lstm_keeps_its_input_output_states_and_onednn_workspace():
    # oneDNN pads a row of 650 floats to 656 and one of 4·650 to 2608 (multiples of 16)
    row = row_of("lstm: 650", [35, 650])
    input_, h0_c0, output, hy_cy = 35 * 650, 2 * 650, 35 * 650, 2 * 650
    workspace = 35 * 2608 + (35 + 1) * (6 * 656 + 5 * 656)
    pages = 7 * 4096 // 2  # each of the workspace's seven parts starts on a page: half a page each, on average
    assert row.saved_bytes == FLOAT * (input_ + h0_c0 + output + hy_cy + workspace) + pages


def test_lstm_rows_of_a_multiple_of_256_get_16_more():
    row = row_of("lstm: 64", [10, 256])  # max(D, H) = 256 → 272; 4·64 = 256 → 272
    workspace = 10 * 272 + 11 * (6 * 272 + 5 * 64)
    assert row.saved_bytes == FLOAT * (10 * 256 + 2 * 64 + 10 * 64 + 2 * 64 + workspace) + 7 * 4096 // 2


def test_gru_keeps_each_step_of_its_native_cell():
    row = row_of("gru: 20", [9, 12])
    h0, input_copy, steps = 20, 9 * 12, 6 * 9 * 20 + (9 - 1) * 20
    assert row.saved_bytes == FLOAT * (h0 + input_copy + steps)


def test_dropout_between_layers_keeps_its_mask_and_result():
    plain = row_of("gru: {hidden: 20, layers: 2}", [9, 12]).saved_bytes
    dropped = row_of("gru: {hidden: 20, layers: 2, dropout: 0.5}", [9, 12]).saved_bytes
    # without dropout the second layer keeps the first's stacked output; with it, the mask and the result
    assert dropped - plain == FLOAT * (2 * 9 * 20 - 9 * 20)


def test_bidirectional_layers_read_both_directions():
    row = row_of("lstm: {hidden: 8, layers: 3, bidirectional: true}", [5, 4])
    assert row.output == (5, 16)
    assert row.params == 2 * (4 * 8 * (4 + 8) + 8 * 8) + 2 * 2 * (4 * 8 * (16 + 8) + 8 * 8)


SEQUENCE = """
input: [24, 48]
layers:
  - lstm: {hidden: 96, layers: 2, bidirectional: true, dropout: 0.2}
  - gru: {hidden: 32, bias: false}
  - linear: 10
"""


@pytest.mark.parametrize("seed", range(3))
def test_figures_in_a_symbolic_length_evaluate_to_the_concrete_ones(seed):
    net = network_of(SEQUENCE)
    s = random.Random(seed).randint(1, 500)
    symbolic = archcalc.analyze(net, input_shape=(Expr.var("S"), 48)).totals
    concrete = archcalc.analyze(net, input_shape=(s, 48)).totals
    for figure in ("params", "macs", "train_saved_bytes"):
        value = getattr(symbolic, figure)
        assert (value.at({"S": s}) if isinstance(value, Expr) else value) == getattr(concrete, figure), figure


@pytest.mark.parametrize("layer, message", [
    ("lstm: 8", "expects a 2-D input"),
    ("gru: {hidden: 8, dropout: 1.5}", "at most 1"),
    ("lstm: {hidden: 0}", "hidden"),
    ("gru: {hidden: 8, layers: 100000}", "past the 1,000"),
])
def test_bad_recurrent_layers_are_one_clear_error(layer, message):
    with pytest.raises(archcalc.ArchcalcError, match=message):
        report_of(f"input: [{'3, 8, 8' if layer == 'lstm: 8' else '5, 4'}]\nlayers:\n  - {layer}\n")
