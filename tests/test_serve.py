"""fit --serve: one decode step against a KV cache, the largest batch or context that fits, decode and prefill MACs.

Expected figures are written as the arithmetic of a small decoder: L layers of
attention (heads = kv_heads, width D) and a 4D MLP, an LM head of V outputs.
"""

from __future__ import annotations

import json

import pytest

import archcalc
from archcalc import catalog
from archcalc.errors import ArchcalcError
from archcalc.fit import DEFAULT_HEADROOM, Goal, Serve, serve_answer
from archcalc.serve import decoding
from helpers import TRANSFORMER_LAYER, network_of

D, HEADS, LAYERS, VOCAB = 64, 4, 3, 1000
CAUSAL_LAYER = TRANSFORMER_LAYER.replace("attention: {heads: heads,", "attention: {heads: heads, causal: true,")

DECODER = f"""
    name: decoder
    input: [16, {D}]
    vars: {{heads: {HEADS}, mlp: {4 * D}}}
    blocks:{CAUSAL_LAYER}
    layers:
      - layer:
        repeat: {LAYERS}
        name: h
      - layernorm: {{name: ln_f}}
      - linear: {{out: {VOCAB}, name: lm_head}}
"""
PARAMS = LAYERS * ((4 * D * D + 4 * D) + (D * 4 * D + 4 * D) + (4 * D * D + D) + 2 * 2 * D) + 2 * D + D * VOCAB + VOCAB


def kv_cache(context: int, batch: int, itemsize: int) -> int:
    return 2 * LAYERS * D * context * batch * itemsize  # K and V, each D wide, every position of every layer


def decode_macs(context: int) -> int:
    return LAYERS * (4 * D * D + 2 * context * D + 2 * D * 4 * D) + D * VOCAB


def prefill_macs(context: int) -> int:
    return LAYERS * (4 * context * D * D + 2 * context * context * D + 2 * context * D * 4 * D) + context * D * VOCAB


def goal(budget: int, context: int | None, kv: str = "fp32", dtype: str = "float32") -> Goal:
    return Goal(budget, headroom=DEFAULT_HEADROOM, dtype=dtype, serve=Serve(context, kv))


def test_decoding_sets_every_attention_s_past_and_keeps_shared_arguments_shared():
    net = network_of(DECODER)
    decoded = decoding(net, 99)
    attentions = [layer for layer in decoded.layers if layer.kind == "attention"]
    assert [layer.args["past"] for layer in attentions] == [99] * LAYERS
    assert len({id(layer.args) for layer in attentions}) == len({id(layer.args) for layer in net.layers
                                                                 if layer.kind == "attention"})
    assert all(a is b for a, b in zip(net.layers, decoded.layers) if a.kind != "attention")
    with pytest.raises(ValueError, match="past"):
        decoding(net, -1)
    with pytest.raises(ArchcalcError, match="has none"):
        decoding(archcalc.load("vgg16"), 1)


@pytest.mark.parametrize("kv, itemsize", [("fp8", 1), ("bf16", 2), ("fp32", 4)])
def test_the_largest_batch_at_a_context(kv, itemsize):
    context, budget = 8192, 2 * 2**30
    found = serve_answer(network_of(DECODER), goal(budget, context, kv))
    fit = found.fit
    assert found.solve == "batch" and fit.step.bytes <= budget < fit.next_step.bytes
    parts = {part.tensor: part.bytes for part in fit.step.parts}
    assert parts["weights"] == PARAMS * 4
    assert parts["KV cache"] == kv_cache(context, fit.batch, itemsize)
    tensors = parts["weights"] + parts["KV cache"] + parts["decode activations"]
    assert parts["fragmentation allowance"] == -(-tensors // 10) and parts["reserve"] == 2**30
    assert fit.step.bytes == tensors + -(-tensors // 10) + 2**30
    assert (found.serving.decode_macs, found.serving.prefill_macs) == (decode_macs(context), prefill_macs(context))


def test_the_longest_context_at_a_batch():
    batch, budget = 16, 2 * 2**30
    found = serve_answer(network_of(DECODER), goal(budget, None, "bf16"), batch)
    longest = found.side
    assert found.solve == "context" and found.serving.context == longest
    at, after = found.side_steps
    assert at.bytes <= budget < after.bytes
    assert {p.tensor: p.bytes for p in at.parts}["KV cache"] == kv_cache(longest, batch, 2)
    assert {p.tensor: p.bytes for p in after.parts}["KV cache"] == kv_cache(longest + 1, batch, 2)


def test_whether_a_batch_and_a_context_fit():
    net = network_of(DECODER)
    fits = serve_answer(net, goal(2**31, 1024), 4)
    assert fits.solve == "check" and len(fits.side_steps) == 1 and fits.side_steps[0].bytes <= 2**31
    over = serve_answer(net, goal(2**31, 1024 * 1024), 64)
    assert over.side_steps[0].bytes > 2**31 and over.to_dict()["at_context"]["fits"] is False


def test_fit_serve_on_the_command_line(cli, write_spec):
    spec = write_spec(DECODER)
    ran = cli("fit", spec, "--serve", "--context", "8192", "--memory", "2GiB", "--kv-dtype", "bf16")
    assert ran.code == 0, ran.err
    found = serve_answer(catalog.load(spec), goal(2 * 2**30, 8192, "bf16"))
    batch = found.fit.batch
    lines = ran.out.splitlines()
    assert lines[0].startswith(f"decoder: batch {batch:,} is the largest that fits 2.0 GiB with a context of 8,192 "
                               "tokens for serving (float32 weights, KV cache bfloat16)")
    kv_line = next(line for line in lines if line.strip().startswith("KV cache"))
    assert kv_line.split()[2] == "bfloat16" and "K and V of 3 attention layers" in kv_line
    assert lines[-1].startswith(f"  MACs per generated token: {archcalc.units.format_count(decode_macs(8192))} ")
    data = json.loads(cli("fit", spec, "--serve", "--context", "8192", "--memory", "2GiB", "--kv-dtype", "bf16",
                          "--format", "json").out)
    assert data["mode"] == "serve" and data["batch"] == batch
    assert data["serve"] == {"context": 8192, "kv_dtype": "bf16", "decode_macs_per_token": decode_macs(8192),
                             "prefill_macs": prefill_macs(8192)}
    assert data["at_batch"]["parts"]["KV cache"] == kv_cache(8192, batch, 2)


@pytest.mark.parametrize("args, says", [
    (("--context", "8"), "--context sizes serving: add --serve"),
    (("--serve",), "--serve needs --context TOKENS"),
    (("--serve", "--context", "8", "--train"), "--serve fits a decode step: it takes no --train"),
])
def test_fit_serve_usage(cli, write_spec, args, says):
    ran = cli("fit", write_spec(DECODER), "--memory", "2GiB", *args)
    assert ran.code == 2 and ran.err.startswith(f"error: {says}")


def test_serving_needs_a_token_sequence(cli):
    ran = cli("fit", "vgg16", "--serve", "--context", "8", "--memory", "2GiB")
    assert ran.code == 1 and ran.err == "error: vgg16: fit --serve reads a token sequence (token ids, or N×D tokens); this input is 3×224×224\n"


def test_an_encoder_is_not_served(cli):
    ran = cli("fit", "bert-base", "--serve", "--context", "128", "--memory", "8GiB")
    assert ran.code == 1 and "bidirectional (an encoder)" in ran.err


def test_the_position_table_binds_the_longest_sequence(cli):
    """gpt2 learns 1,024 positions: at a budget that holds more, S = 1,024 is the answer, and S = 1,025 is
    refused by the network itself, as the answer says."""
    ran = cli("fit", "gpt2", "--memory", "24GiB", "--batch", "8", "--train", "--precision", "amp-bf16", "--solve", "seq")
    assert ran.code == 0, ran.err
    assert "sequence 1,024 (input 1024) fits 24.0 GiB, and is the longest the network takes" in ran.out
    assert "S = 1,025: not accepted:" in ran.out


def test_the_position_table_binds_the_longest_context(cli):
    ran = cli("fit", "gpt2", "--serve", "--batch", "1", "--memory", "80GiB")
    assert ran.code == 0, ran.err
    assert "a context of 1,024 tokens at batch 1 fits 80.0 GiB, and is the longest the network holds" in ran.out
    assert "context 1,025: not accepted: gpt2 holds at most 1,024 positions (its position table)" in ran.out
