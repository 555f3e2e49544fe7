"""Language-model kinds: token ids, embeddings, tied weights, attention's extensions, RMSNorm.

Expected values are written as the arithmetic that gives them.
"""

from __future__ import annotations

import re

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


# ── attention ─────────────────────────────────────────────────────────────────

S, D = 5, 16


@pytest.mark.parametrize("layer, params, macs", [
    # the plain case is nn.MultiheadAttention's: 4·D² weights + 4·D biases; projections S·4·D², scores 2·S·S·D
    ("attention: 4", 4 * D * D + 4 * D, S * 4 * D * D + 2 * 4 * S * S * 4),
    # causal counts the full products, as SDPA's math does
    ("attention: {heads: 4, causal: true}", 4 * D * D + 4 * D, S * 4 * D * D + 2 * 4 * S * S * 4),
    # GQA: Q D·4·4, K and V D·2·4 each, output 4·4·D; no biases
    ("attention: {heads: 4, kv_heads: 2, rope: true, bias: false}",
     D * 4 * 4 + 2 * D * 2 * 4 + 4 * 4 * D, S * (D * 4 * 4 + 2 * D * 2 * 4 + 4 * 4 * D) + 2 * 4 * S * S * 4),
    # MQA with head_dim 6 ≠ D/heads: Q and K, V biases, no output bias
    ("attention: {heads: 4, kv_heads: 1, head_dim: 6, qkv_bias: true, out_bias: false}",
     D * 4 * 6 + 2 * D * 1 * 6 + 4 * 6 * D + (4 * 6 + 2 * 1 * 6),
     S * (D * 4 * 6 + 2 * D * 1 * 6 + 4 * 6 * D) + 2 * 4 * S * S * 6),
    # 3 cached tokens: the 5 new queries score 5 + 3 keys
    ("attention: {heads: 4, kv_heads: 2, causal: true, past: 3}",
     D * 4 * 4 + 2 * D * 2 * 4 + 4 * 4 * D + (4 * 4 + 2 * 2 * 4) + D,
     S * (D * 4 * 4 + 2 * D * 2 * 4 + 4 * 4 * D) + 2 * 4 * S * (S + 3) * 4),
])
def test_attention_parameters_and_macs(layer, params, macs):
    row = row_of(layer, [S, D])
    assert (row.output, row.params, row.macs) == ((S, D), params, macs)


def test_attention_resolves_its_defaults():
    args = row_of("attention: {heads: 4, kv_heads: 2, qkv_bias: false}", [S, D]).args
    assert (args["kv_heads"], args["head_dim"], args["qkv_bias"], args["out_bias"]) == (2, D // 4, False, True)
    assert row_of("attention: 4", [S, D]).args["kv_heads"] == 4


def test_the_kv_cache_is_k_and_v_of_every_token():
    row = row_of("attention: {heads: 4, kv_heads: 2, head_dim: 8, past: 3}", [S, D])
    assert row.cache == 2 * 2 * 8 * (S + 3)
    report = report_of(f"input: [{S}, {D}]\nlayers:\n  - attention: {{heads: 4, kv_heads: 2}}\n  - attention: 4\n")
    assert report.totals.kv_cache == 2 * 2 * 4 * S + 2 * 4 * 4 * S
    assert report.to_dict()["totals"]["kv_cache"] == report.totals.kv_cache
    assert "fused causal kernel skips about half" in row_of("attention: {heads: 4, causal: true}", [S, D]).formulas["macs"]


def test_attention_saves_q_k_v_output_and_row_statistics():
    # flash keeps Q (S·4·4), K and V (kv heads: (S + past)·2·4 each), its output and a float32 log-sum-exp per
    # row and head; the input is kept for the projections' weight gradients; rope adds its cos and sin tables
    text = f"input: [{S}, {D}]\nlayers:\n  - linear: {D}\n  - attention: {{heads: 4, kv_heads: 2, rope: true}}\n"
    row = report_of(text).rows[1]
    assert row.saved_bytes == (S * D + S * 16 + 2 * S * 8 + S * 16) * 4 + 4 * S * 4 + 2 * S * 4 * 4


@pytest.mark.parametrize("layer, message", [
    ("attention: {heads: 4, kv_heads: 3}", "kv_heads=3 must divide heads=4"),
    ("attention: 3", "heads=3 must divide the embedding dimension 16 (or give head_dim)"),
    ("attention: {heads: 2, head_dim: 5, rope: true}", "head_dim=5 must be even"),
])
def test_impossible_attention_is_one_clear_error(layer, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        row_of(layer, [S, D])


def test_rmsnorm_learns_one_scale_per_feature():
    row = row_of("rmsnorm: {eps: 1e-6}", [S, D])
    assert (row.output, row.params, row.macs) == ((S, D), D, 0)
    assert row_of("rmsnorm:", [S, D]).args["eps"] == 1e-5
    # it keeps its input (in float32), each row's 1/rms and the normalised x/rms (float32)
    row = report_of(f"input: [{S}, {D}]\nlayers:\n  - linear: {D}\n  - rmsnorm:\n").rows[1]
    assert row.saved_bytes == (S * D + S + S * D) * 4


def test_attention_and_rmsnorm_are_formulas_in_a_symbolic_sequence_length():
    from archcalc.symbolic import Expr

    n = Expr.var("N")
    net = network_of(f"input: [{S}, {D}]\nlayers:\n  - rmsnorm:\n  - attention: {{heads: 4, kv_heads: 2, causal: true, past: 3}}\n")
    symbolic = analyze(net, input_shape=(n, D))
    for length in (1, 7, 64):
        concrete = analyze(net, input_shape=(length, D))
        assert symbolic.totals.macs.at({"N": length}) == concrete.totals.macs
        assert symbolic.totals.kv_cache.at({"N": length}) == concrete.totals.kv_cache
        assert symbolic.totals.train_saved_bytes.at({"N": length}) == concrete.totals.train_saved_bytes


@pytest.mark.parametrize("layer", [
    "attention: {heads: 4, causal: true}",
    "attention: {heads: 4, kv_heads: 2, rope: true, bias: false}",
    "attention: {heads: 4, kv_heads: 1, head_dim: 6, qkv_bias: true, out_bias: false}",
    "attention: {heads: 4, kv_heads: 2, causal: true, past: 3, rope: true}",
    "rmsnorm:",
])
def test_attention_and_rmsnorm_verify_against_torch(torch, layer):
    from archcalc.backends.verify import verify

    result = verify(network_of(f"input: [{S}, {D}]\nlayers:\n  - linear: {D}\n  - {layer}\n  - linear: 8\n"),
                    batches=(1, 3))
    assert result.mismatches == ()
    assert [(c.where, c.engine) for c in result.saved] == [("cpu", c.measured) for c in result.saved]


def test_causal_attention_masks_the_future(torch):
    from archcalc.backends.torch.network import build

    module = build(network_of(f"input: [{S}, {D}]\nlayers:\n  - attention: {{heads: 4, kv_heads: 2, causal: true, rope: true}}\n"))
    x = torch.randn(1, S, D)
    changed = x.clone()
    changed[0, -1] += 1.0  # the last token changes: no earlier output may
    with torch.no_grad():
        before, after = module(x), module(changed)
    assert torch.allclose(before[0, :-1], after[0, :-1], atol=1e-6)
    assert not torch.allclose(before[0, -1], after[0, -1])


def test_plain_attention_keeps_torchs_multihead_module(torch):
    from archcalc.backends.torch.network import build

    plain = build(network_of(f"input: [{S}, {D}]\nlayers:\n  - attention: 4\n")).node("attention1")
    grouped = build(network_of(f"input: [{S}, {D}]\nlayers:\n  - attention: {{heads: 4, kv_heads: 2}}\n")).node("attention1")
    assert isinstance(plain, torch.nn.MultiheadAttention)
    assert [name for name, _ in grouped.named_children()] == ["q_proj", "k_proj", "v_proj", "o_proj"]
