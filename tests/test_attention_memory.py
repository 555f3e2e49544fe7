"""Cross-attention (queries from one sequence, keys and values from a memory) and dropout of the attention
probabilities: the rule's figures as arithmetic, and the torch facet against torch's own modules.

Expected values are written as the arithmetic that gives them.
"""

from __future__ import annotations

import re

import pytest

from archcalc import SpecError, analyze
from archcalc import load as load_spec
from conftest import torch_or_fail
from helpers import network_of

S, D, S_KV, D_KV = 6, 16, 7, 12  # the memory: a class token before S projected tokens, S + 1 of D_KV


def memory_spec(attention: str, length: int | str = S, width: int = D_KV) -> str:
    """Queries x (S×D) and a memory (S+1 × width, a class token first), both read by the attention."""
    return (f"input: [{length}, {D}]\nlayers:\n  - linear: {{out: {width}}}\n  - class_token: {{name: memory}}\n"
            f"  - linear: {{out: {D}, name: x, from: input}}\n  - attention: {attention}\n")


def attention_row(attention: str, **options):
    return analyze(network_of(memory_spec(attention)), **options).rows[-1]


def test_cross_attention_projects_the_queries_and_the_memory_apart():
    row = attention_row("{heads: 4, kv_heads: 2, from: [x, memory]}")
    hd = D // 4
    assert row.output == (S, D)
    # Q D·4·hd, K and V D_KV·2·hd each (the memory's width), output 4·hd·D; biases 4·hd + 2·2·hd and D
    assert row.params == D * 4 * hd + 2 * D_KV * 2 * hd + 4 * hd * D + (4 * hd + 2 * 2 * hd) + D
    # the queries' projections per query token, the memory's per memory token, then 4 heads of S×S_KV scores
    assert row.macs == S * (D * 4 * hd + 4 * hd * D) + S_KV * 2 * D_KV * 2 * hd + 2 * 4 * S * S_KV * hd
    assert row.cache == 2 * 2 * hd * S_KV  # K and V of every memory token
    # both inputs (kept for the projections' weight gradients), Q, K and V, the heads' output, the log-sum-exp
    assert row.saved_bytes == (S * D + S_KV * D_KV + S * D + 2 * S_KV * 2 * hd + S * D) * 4 + 4 * S * 4
    assert "keys and values from the memory 7×12" in row.formulas["shape"]
    assert row.formulas["cache"].startswith(f"2 × kv_heads × head_dim × S_kv = 2·2·4·7 = {2 * 2 * 4 * 7}")


def test_attention_dropout_keeps_the_probabilities_on_the_cpu_only():
    hd, plain = D // 4, "{heads: 4, kv_heads: 2, causal: true}"
    dropped = "{heads: 4, kv_heads: 2, causal: true, dropout: 0.1}"
    row, cuda = attention_row(dropped, device="cpu"), attention_row(dropped)
    assert (row.params, row.macs) == (attention_row(plain).params, attention_row(plain).macs)
    assert cuda.saved_bytes == attention_row(plain).saved_bytes  # CUDA's fused kernel draws the mask again
    # the math path: the input, Q and Kᵀ scaled (K and V repeated to the 4 query heads), the probabilities,
    # the dropout's float noise and their product (4·S·S each), V repeated, the output projection's input
    assert row.saved_bytes == (S * D + S * D + 2 * S * 4 * hd + 3 * 4 * S * S + S * D) * 4
    assert attention_row("{heads: 4, dropout: 0.1}", device="cpu").saved_bytes == (
        S * D + S * D + 2 * S * D + 3 * 4 * S * S + S * D) * 4  # every head its own K and V: V itself kept


@pytest.mark.parametrize("attention, message", [
    ("{heads: 4, causal: true, from: [x, memory]}", "causal reads keys and values from the queries' own sequence"),
    ("{heads: 4, past: 2, from: [x, memory]}", "past reads keys and values"),
    ("{heads: 4, from: [x, memory, input]}", "attention reads one input, or two ('from: [queries, memory]'); "
                                             "'from' names 3"),
    ("{heads: 4, dropout: 1.5}", "dropout=1.5 is a probability: at most 1"),
    ("{heads: 4, dropout: -0.1}", "dropout"),
])
def test_impossible_cross_attention_is_one_clear_error(attention, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        attention_row(attention)


def test_cross_attention_is_a_formula_in_both_lengths():
    from archcalc.symbolic import Expr

    net = network_of(memory_spec("{heads: 4, kv_heads: 2, from: [x, memory], dropout: 0.1}"))
    symbolic = analyze(net, input_shape=(Expr.var("N"), D), device="cpu")
    for length in (1, 9, 40):
        concrete = analyze(net, input_shape=(length, D), device="cpu")
        for figure in ("macs", "kv_cache", "train_saved_bytes"):
            assert getattr(symbolic.totals, figure).at({"N": length}) == getattr(concrete.totals, figure), figure


@pytest.fixture(scope="module")
def torch():
    return torch_or_fail()


def _ours(torch, attention: str, width: int):
    from archcalc.backends.torch import build

    net = network_of(memory_spec(attention, width=width))
    return analyze(net).rows[-1], build(net).node("attention1")


def _theirs(torch, width: int):
    return torch.nn.MultiheadAttention(D, 4, kdim=width, vdim=width, batch_first=True)


def _load(ours, theirs):
    """nn.MultiheadAttention's weights into our Q, K, V and output projections."""
    if theirs.in_proj_weight is not None:
        q, k, v = theirs.in_proj_weight.chunk(3)
    else:
        q, k, v = theirs.q_proj_weight, theirs.k_proj_weight, theirs.v_proj_weight
    biases = theirs.in_proj_bias.chunk(3)
    for proj, weight, bias in zip((ours.q_proj, ours.k_proj, ours.v_proj), (q, k, v), biases):
        proj.weight.data.copy_(weight)
        proj.bias.data.copy_(bias)
    ours.o_proj.load_state_dict(theirs.out_proj.state_dict())


@pytest.mark.parametrize("width", [D, D_KV], ids=["memory as wide", "memory narrower"])
def test_cross_attention_is_torchs_multihead_attention(torch, width):
    from archcalc.backends.measure import flop_counter, saved_bytes

    row, ours = _ours(torch, "{heads: 4, from: [x, memory]}", width)
    theirs = _theirs(torch, width)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == row.params
    _load(ours, theirs)
    batch = 3
    x, memory = torch.randn(batch, S, D, requires_grad=True), torch.randn(batch, S_KV, width, requires_grad=True)
    assert torch.allclose(ours(x, memory), theirs(x, memory, memory, need_weights=False)[0], atol=1e-5)
    for module, run in ((ours, lambda: ours(x, memory)), (theirs, lambda: theirs(x, memory, memory, need_weights=False))):
        with flop_counter() as counter:
            run()
        assert counter.get_total_flops() == 2 * batch * row.macs
    if width == D:  # torch's module copies a memory of another width, read sequence-first, once for K and once for V
        kept = []
        for module, run in ((ours, lambda: ours(x * 1.0, memory * 1.0)),
                            (theirs, lambda: theirs(x * 1.0, (m := memory * 1.0), m, need_weights=False))):
            with saved_bytes(module, lambda: "") as per:
                run()
            kept.append(sum(per.values()))
        assert kept == [batch * row.saved_bytes] * 2


@pytest.mark.parametrize("attention", [
    "{heads: 4, from: [x, memory]}",
    "{heads: 4, kv_heads: 2, head_dim: 6, qkv_bias: false, from: [x, memory], dropout: 0.1}",
    "{heads: 4, dropout: 0.1}",
    "{heads: 4, kv_heads: 2, causal: true, rope: true, dropout: 0.2}",
    "{heads: 4, kv_heads: 1, causal: true, past: 3, dropout: 0.1}",
])
def test_cross_attention_and_dropout_verify_against_torch(torch, attention):
    """What autograd keeps, measured on the CPU (SDPA's math path under dropout) at two batches."""
    from archcalc.backends.verify import verify

    result = verify(network_of(memory_spec(attention)), batches=(1, 3))
    assert result.mismatches == ()
    assert [(c.where, c.engine) for c in result.saved] == [("cpu", c.measured) for c in result.saved]


def test_explain_shows_an_attention_layers_kv_cache(cli, write_spec):
    ran = cli("explain", write_spec(memory_spec("{heads: 4, kv_heads: 2, from: [x, memory]}")), "attention1",
              "--batch", "3")
    assert ran.code == 0, ran.err
    (line,) = [line for line in ran.out.splitlines() if line.split()[:2] == ["KV", "cache"]]
    elements = 2 * 2 * (D // 4) * S_KV  # K and V × kv_heads × head_dim × the memory's length
    assert line.endswith(f"= {elements} elements (K and V of every memory token, kept for later decode steps) "
                         f"× 4 B × batch 3 = {elements * 4 * 3:,} B")
    plain = cli("explain", write_spec(memory_spec("{heads: 4}")), "x")
    assert plain.code == 0 and "KV cache" not in plain.out  # a linear layer has none


def test_a_spec_may_name_a_config_with_many_options(write_spec):
    options = ", ".join(f"{key}={value}" for key, value in (
        ("num_hidden_layers", 2), ("hidden_size", 128), ("num_attention_heads", 4), ("num_key_value_heads", 2),
        ("intermediate_size", 344), ("vocab_size", 1000), ("max_position_embeddings", 64), ("rms_norm_eps", 1e-05),
        ("tie_word_embeddings", False), ("attention_bias", False), ("attention_dropout", 0.0)))
    reference = f"transformers:LlamaConfig({options})"
    assert len(reference) > 200
    text = f"reference: '{reference}'\n" + memory_spec("{heads: 4}")
    assert load_spec(write_spec(text)).reference == reference
    with pytest.raises(SpecError, match="'reference' must be one line of printable text of at most 1200 characters"):
        load_spec(write_spec(f"reference: '{'x' * 1201}'\n" + memory_spec("{heads: 4}")))


def test_a_decoder_with_cross_attention_serves(cli, write_spec):
    """Decoding sets `past` on the self-attention only: the cross-attention reads its memory's keys and values."""
    spec = memory_spec("{heads: 4, from: [self_attn, memory]}").replace(
        "  - attention:", "  - attention: {heads: 4, causal: true, name: self_attn}\n  - attention:")
    ran = cli("fit", write_spec(spec), "--serve", "--context", "8", "--memory", "2GiB")
    assert ran.code == 0, ran.err
    assert any(line.split()[:2] == ["KV", "cache"] for line in ran.out.splitlines())
