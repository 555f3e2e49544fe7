"""Language-model kinds: token ids, embeddings, tied weights, attention's extensions, RMSNorm.

Expected values are written as the arithmetic that gives them.
"""

from __future__ import annotations

import pytest

from archcalc import SpecError, analyze
from archcalc.write import dump
from helpers import network_of, report_of, row_of

TINY_LM = """
    input: {ids: 16}
    layers:
      - embedding: {vocab: 100, dim: 8, name: wte}
      - pos_embed: {max: 32}
      - layernorm:
      - linear: {out: 100, bias: false, tie: wte, name: head}
"""


def test_ids_input_is_a_sequence_of_int64_ids():
    report = report_of(TINY_LM)
    assert report.input == (16,)
    rows = {r.name: r for r in report.rows}
    assert rows["wte"].output == (16, 8)
    # the embedding keeps only its 16 ids for backward, 8 bytes each (int64)
    assert rows["wte"].saved_bytes == 16 * 8
    assert ("activations", 8, 16 * 8) in report.totals.saved_by
    # inference: the ids (16·8 B) and the embedding's output (16·8 floats) alive together
    assert rows["wte"].peak_bytes == 16 * 8 + 16 * 8 * 4
    assert rows["wte"].alive_bytes == 16 * 8 * 4  # the ids die once read


def test_input_override_gives_the_sequence_length():
    report = analyze(network_of(TINY_LM), input_shape=(24,))
    assert [r.output for r in report.rows][:2] == [(24, 8), (24, 8)]
    assert report.rows[0].saved_bytes == 24 * 8


def test_embedding_counts_a_lookup_table_and_no_macs():
    row = row_of("embedding: {vocab: 50257, dim: 768}", {"ids": 1024})
    assert (row.output, row.params, row.macs) == ((1024, 768), 50257 * 768, 0)
    row = row_of("embedding: {vocab: 10, dim: 4, padding_idx: 0}", {"ids": 3})
    assert row.params == 10 * 4


def test_pos_embed_with_max_counts_the_whole_table():
    row = row_of("pos_embed: {max: 1024}", [16, 8])
    assert (row.output, row.params) == ((16, 8), 1024 * 8)
    assert row_of("pos_embed: 1024", [16, 8]).params == 1024 * 8  # the shorthand
    with pytest.raises(SpecError, match="17 tokens, but the table has max=16 positions"):
        row_of("pos_embed: {max: 16}", [17, 8])


def test_a_tied_weight_is_counted_once_at_its_owner():
    rows = {r.name: r for r in report_of(TINY_LM).rows}
    assert (rows["wte"].params, rows["head"].params) == (100 * 8, 0)
    assert rows["head"].macs == 16 * 8 * 100
    assert report_of(TINY_LM).totals.params == 100 * 8 + 32 * 8 + 2 * 8
    assert "the weight of 'wte', counted there" in rows["head"].formulas["params"]
    # a tied head with a bias keeps its bias
    biased = report_of(TINY_LM.replace("bias: false, ", ""))
    assert {r.name: r for r in biased.rows}["head"].params == 100


@pytest.mark.parametrize("head, message", [
    ("linear: {out: 100, tie: nowhere}", r"'tie' names 'nowhere', which is not an earlier layer"),
    ("linear: {out: 99, tie: wte}", r"'head'.*tie: its weight is 99×8, but 'wte' has a 100×8 weight"),
    ("linear: {out: 100, tie: layernorm1}", r"'head'.*tie names 'layernorm1', a layernorm, which has no weight"),
])
def test_a_bad_tie_is_one_clear_error_at_the_layer(head, message):
    text = TINY_LM.replace("linear: {out: 100, bias: false, tie: wte, name: head}", head.replace("}", ", name: head}"))
    with pytest.raises(SpecError, match=message) as caught:
        report_of(text)
    assert "test.yaml:" in str(caught.value)


def test_ids_are_read_by_an_embedding_only():
    with pytest.raises(SpecError, match="linear reads numbers, but the network's input is token ids"):
        report_of("input: {ids: 4}\nlayers:\n  - linear: 3\n")
    with pytest.raises(SpecError, match=r"embedding looks up token ids: it reads the network's input, given as \{ids: S\}"):
        report_of("input: [4]\nlayers:\n  - embedding: {vocab: 5, dim: 2}\n")


def test_an_ids_spec_dumps_and_loads_back():
    net = network_of(TINY_LM)
    text = dump(net)
    assert "ids: 16" in text
    again = network_of(text)
    assert again.ids and analyze(again).totals == analyze(net).totals


# ── torch facets ──────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def torch():
    from conftest import torch_or_fail

    return torch_or_fail()


def test_torch_shares_the_one_tied_parameter(torch):
    from archcalc.backends.torch.network import build

    module = build(network_of(TINY_LM))
    assert module.node("head").weight is module.node("wte").weight
    assert sum(p.numel() for p in module.parameters()) == 100 * 8 + 32 * 8 + 2 * 8
    x = module.example_input(2)
    assert x.dtype == torch.int64 and int(x.max()) < 100
    out = module(x)
    assert tuple(out.shape) == (2, 16, 100)
    out.sum().backward()
    assert module.node("wte").weight.grad is not None


def test_tiny_lm_verifies_against_torch(torch):
    from archcalc.backends.verify import verify

    result = verify(network_of(TINY_LM), batches=(1, 3))
    assert result.mismatches == ()
    assert result.params == (100 * 8 + 32 * 8 + 2 * 8,) * 2
    assert [(c.where, c.engine) for c in result.saved] == [("cpu", c.measured) for c in result.saved]
