"""The sequence length S: every figure of a token network as an exact formula in S.

A token input [S, D] (`--input Sx768`) goes through the same rules as a
concrete one; the formulas are checked against arithmetic written here and,
at random S, against the concrete engine (`assert_exact`).
"""

from __future__ import annotations

import json
import random

import pytest

import archcalc
from archcalc.errors import ShapeError, SpecError
from archcalc.sizes import at, parse_shape
from archcalc.symbolic import Expr
from helpers import TRANSFORMER_LAYER, network_of
from test_symbolic import assert_exact

S = Expr.var("S")
DIM, HEADS, MLP = 64, 4, 256

ENCODER = f"""
    input: {{tokens: 16, dim: {DIM}}}
    vars: {{dim: {DIM}, heads: {HEADS}, mlp: {MLP}}}
    blocks:
      encoder_block:
        layers:
          - add:
              - - layernorm: {{name: ln_1}}
                - attention: {{heads: heads, name: attn}}
              - []
          - add:
              - - layernorm: {{name: ln_2}}
                - linear: {{out: mlp, act: gelu, name: fc1}}
                - dropout: {{p: 0.1}}
                - linear: {{out: in_features, name: fc2}}
              - []
    layers:
      - class_token: {{name: cls_token}}
      - pos_embed: {{name: pos}}
      - encoder_block:
        repeat: 2
        name: block
      - layernorm: {{name: ln}}
      - token: {{index: 0, name: cls}}
      - linear: {{out: 10, name: head}}
"""

# Reads the fifth token: sequences shorter than 5 are refused, at the layer the concrete engine names.
FIFTH_TOKEN = f"""
    input: [16, {DIM}]
    layers:
      - linear: {{out: {DIM}, name: proj}}
      - attention: {{heads: 2, bias: false, name: attn}}
      - token: {{index: 4, name: fifth}}
      - linear: {{out: 3, name: head}}
"""


def test_attention_is_quadratic_in_the_sequence():
    report = archcalc.analyze(network_of(ENCODER), input_shape=(S, DIM))
    rows = {row.name: row for row in report.rows}
    tokens = S + 1  # the class token joins the sequence
    assert rows["block_1.add1.branch1.attn"].output == (tokens, DIM)
    assert rows["block_1.add1.branch1.attn"].macs == 4 * tokens * DIM * DIM + 2 * tokens * tokens * DIM
    assert rows["pos"].params == tokens * DIM  # one learned vector per position
    assert rows["block_1.add2.branch1.fc1"].macs == tokens * DIM * MLP
    assert rows["head"].macs == DIM * 10  # after the class token is read, no S is left
    attention = 4 * DIM * DIM + 4 * DIM
    mlp = DIM * MLP + MLP + MLP * DIM + DIM
    assert report.totals.params == DIM + tokens * DIM + 2 * (attention + mlp + 2 * 2 * DIM) + 2 * DIM + DIM * 10 + 10


def test_formulas_read_as_arithmetic_in_s():
    report = archcalc.analyze(network_of(ENCODER), input_shape=(S, DIM))
    attn = next(row for row in report.rows if row.kind == "attention")
    assert attn.formulas["macs"].startswith(f"(S + 1)·{4 * DIM * DIM:,} + 2·{HEADS}·(S + 1)·(S + 1)·{DIM // HEADS} = ")
    assert next(row for row in report.rows if row.kind == "pos_embed").formulas["params"].startswith(f"(S + 1)·{DIM} = ")


# Token ids, a position table of 512 (longer sequences are refused there), a tied head.
IDS_LM = f"""
    input: {{ids: 16}}
    vars: {{heads: {HEADS}, mlp: {MLP}}}
    blocks:{TRANSFORMER_LAYER}
    layers:
      - embedding: {{vocab: 1000, dim: {DIM}, name: wte}}
      - pos_embed: {{max: 512, name: wpe}}
      - layer:
        repeat: 2
        name: h
      - layernorm: {{name: ln_f}}
      - linear: {{out: 1000, bias: false, tie: wte, name: lm_head}}
"""


@pytest.mark.parametrize("spec, shape_at", [(ENCODER, lambda s: (s, DIM)), (FIFTH_TOKEN, lambda s: (s, DIM)),
                                            (IDS_LM, lambda s: (s,))], ids=["encoder", "fifth-token", "ids"])
def test_sequence_formulas_equal_the_concrete_engine(spec, shape_at):
    net = network_of(spec)
    assert_exact(net, shape_at, "S", random.Random(spec), 60, 2048)


def test_token_ids_take_s_and_the_position_table_bounds_it():
    net = network_of(IDS_LM.replace("{ids: 16}", "{ids: S}"))
    assert net.input == (S,) and net.ids
    report = archcalc.analyze(net)
    assert report.totals.params == 1000 * DIM + 512 * DIM + 2 * (4 * DIM * DIM + 4 * DIM + DIM * MLP + MLP
                                                                 + MLP * DIM + DIM + 2 * 2 * DIM) + 2 * DIM
    assert at(report, {"S": 512, "B": 1}, net).totals.params == report.totals.params
    with pytest.raises(ShapeError, match="513 tokens|max=512"):
        at(report, {"S": 513, "B": 1}, net)


def test_a_sequence_too_short_fails_where_the_concrete_engine_does():
    net = network_of(FIFTH_TOKEN)
    report = archcalc.analyze(net, input_shape=(S, DIM))
    with pytest.raises(ShapeError) as symbolic_error:
        at(report, {"S": 4}, net)
    with pytest.raises(ShapeError) as concrete:
        archcalc.analyze(net, input_shape=(4, DIM))
    assert symbolic_error.value.path == concrete.value.path == "layers[2].token 'fifth'"
    assert at(report, {"S": 5}, net).totals.macs == archcalc.analyze(net, input_shape=(5, DIM)).totals.macs


def test_training_memory_is_a_formula_in_s_and_the_batch():
    net = network_of(ENCODER)
    batch = Expr.var("B")
    report = archcalc.analyze(net, batch=batch, input_shape=(S, DIM), precision="amp-bf16", checkpoint="every-block")
    for b, s in ((1, 1), (3, 77), (8, 1024)):
        concrete = archcalc.analyze(net, batch=b, input_shape=(s, DIM), precision="amp-bf16", checkpoint="every-block")
        assert report.train_total_bytes.at({"B": b, "S": s}) == concrete.train_total_bytes


def test_a_spec_may_write_its_sequence_as_s():
    listed = network_of(f"input: [S, {DIM}]\nlayers:\n  - linear: 8\n")
    named = network_of(f"input: {{tokens: S, dim: {DIM}}}\nlayers:\n  - linear: 8\n")
    assert listed.input == named.input == (S, DIM)
    assert archcalc.analyze(listed).totals.macs == S * DIM * 8


@pytest.mark.parametrize("written", ["[3, S, 32]", "[S]", f"[{DIM}, S]", "{channels: 3, length: S}", "[S, S]"])
def test_s_is_only_a_token_sequence(written):
    with pytest.raises(SpecError, match="a token sequence's length the symbol S"):
        network_of(f"input: {written}\nlayers:\n  - linear: 8\n")


@pytest.mark.parametrize("text_in, shape", [("S", (S,)), ("Sx768", (S, 768)), ("S×64", (S, 64))])
def test_parse_a_sequence(text_in, shape):
    assert parse_shape(text_in) == shape


@pytest.mark.parametrize("bad, says", [("3xS", "S is a token sequence's length"),
                                       ("Sx3x4", "S is a token sequence's length"),
                                       ("SxS", "S is a token sequence's length"),
                                       ("Nx768", "expected the channels")])
def test_parse_refuses_s_elsewhere(bad, says):
    with pytest.raises(ValueError, match=says):
        parse_shape(bad)


def test_table_prints_formulas_in_s_and_at_evaluates_them(cli, write_spec):
    spec = write_spec(ENCODER)
    ran = cli("table", spec, "--input", f"Sx{DIM}")
    assert ran.code == 0, ran.err
    assert f"input S×{DIM}" in ran.out
    macs = 2 * (4 * (S + 1) * DIM * DIM + 2 * (S + 1) * (S + 1) * DIM + 2 * (S + 1) * DIM * MLP) + DIM * 10
    assert f"MACs {macs} (" in ran.out
    evaluated = cli("table", spec, "--input", f"Sx{DIM}", "--at", "S=300", "--format", "json")
    concrete = cli("table", spec, "--input", f"300x{DIM}", "--format", "json")
    assert evaluated.code == concrete.code == 0, evaluated.err + concrete.err
    assert json.loads(evaluated.out)["totals"] == json.loads(concrete.out)["totals"]


# ── the longest sequence that fits ───────────────────────────────────────────

def test_fit_solves_for_the_longest_sequence(write_spec):
    from archcalc import catalog
    from archcalc.fit import DEFAULT_HEADROOM, Goal, answer, needed
    from archcalc.plan import Plan

    net = catalog.load(write_spec(ENCODER))
    plan = Plan("amp-bf16", "adam")
    goal = Goal(3 * 2**30, train=True, plan=plan, headroom=DEFAULT_HEADROOM)
    found = answer(net, goal, "seq", batch=4)
    longest = found.side

    def bytes_at(s):  # the concrete engine at that length
        return needed(plan.analyze(net, 4, input_shape=(s, DIM)), True, plan, DEFAULT_HEADROOM)

    assert bytes_at(longest) <= goal.budget < bytes_at(longest + 1)
    assert [step.bytes for step in found.side_steps] == [bytes_at(longest), bytes_at(longest + 1)]
    assert found.fit is not None and found.fit.at_batch.input == (16, DIM)  # and the batch at its own input
    data = found.to_dict()
    assert data["seq"] == longest and data["at_seq"]["input"] == [longest, DIM] and "side" not in data


def test_fit_solve_seq_on_the_command_line(cli, write_spec):
    spec = write_spec(ENCODER)
    ran = cli("fit", spec, "--memory", "3GiB", "--train", "--precision", "amp-bf16", "--solve", "seq", "--batch", "4")
    assert ran.code == 0, ran.err
    data = json.loads(cli("fit", spec, "--memory", "3GiB", "--train", "--precision", "amp-bf16", "--solve", "seq",
                          "--batch", "4", "--format", "json").out)
    longest = data["seq"]
    assert ran.out.startswith(f"net: sequence {longest:,} (input {longest}×{DIM}) is the longest that fits 3.0 GiB at "
                              "batch 4 for a training step")
    assert f"  S {longest + 1:,}: " in ran.out and "does not fit" in ran.out


def test_fit_solve_seq_needs_a_token_input(cli):
    ran = cli("fit", "vgg16", "--memory", "8GiB", "--solve", "seq")
    assert ran.code == 1 and ran.err == ("error: vgg16: --solve seq reads a token sequence (token ids, or N×D tokens); "
                                         "this input is 3×224×224\n")
