"""`verify --against transformers:…`: transformers models built from their Config objects (random weights,
nothing downloaded), counted and measured as torchvision's are, and the SDPA FLOP formula the CPU lacks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, module_or_fail, torch_or_fail

GPT2_LIKE = "transformers:GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1000, n_positions=64)"
LLAMA_LIKE = ("transformers:LlamaConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4, "
              "num_key_value_heads=2, intermediate_size=344, vocab_size=1000, max_position_embeddings=64)")
BERT_LIKE = ("transformers:BertConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4, "
             "intermediate_size=512, vocab_size=1000, max_position_embeddings=64)")


# Small specs mirroring those configs, layer for layer (GPT-2's with exact GELU and no dropout: the spec's kinds)
GPT2_SPEC = """
version: 1
name: gpt2-like
input: {ids: 16}
blocks:
  block:
    layers:
      - add:
          - - layernorm: {name: ln_1}
            - attention: {heads: 4, causal: true, name: attn}
          - []
      - add:
          - - layernorm: {name: ln_2}
            - linear: {out: 512, act: gelu, name: c_fc}
            - linear: {out: 128, name: c_proj}
          - []
layers:
  - embedding: {vocab: 1000, dim: 128, name: wte}
  - pos_embed: {max: 64, name: wpe}
  - block:
    repeat: 2
  - layernorm: {name: ln_f}
  - linear: {out: 1000, bias: false, tie: wte, name: lm_head}
"""
GPT2_EXACT = GPT2_LIKE.replace(")", ", activation_function='gelu', resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)")
LLAMA_SPEC = """
version: 1
name: llama-like
input: {ids: 16}
blocks:
  block:
    layers:
      - add:
          - - rmsnorm: {eps: 1e-6, name: input_layernorm}
            - attention: {heads: 4, kv_heads: 2, causal: true, rope: true, bias: false, name: self_attn}
          - []
      - add:
          - - rmsnorm: {eps: 1e-6, name: post_attention_layernorm}
            - mul:
                - - linear: {out: 344, bias: false, act: silu, name: gate_proj}
                - - linear: {out: 344, bias: false, name: up_proj}
            - linear: {out: 128, bias: false, name: down_proj}
          - []
layers:
  - embedding: {vocab: 1000, dim: 128, name: embed_tokens}
  - block:
    repeat: 2
  - rmsnorm: {eps: 1e-6, name: norm}
  - linear: {out: 1000, bias: false, name: lm_head}
"""
BERT_SPEC = """
version: 1
name: bert-like
input: {ids: 16}
blocks:
  bert_layer:
    layers:
      - add:
          - - attention: {heads: 4, name: attention}
          - []
      - layernorm: {eps: 1e-12, name: attention_norm}
      - add:
          - - linear: {out: 512, act: gelu, name: intermediate}
            - linear: {out: 128, name: output}
          - []
      - layernorm: {eps: 1e-12, name: output_norm}
layers:
  - embedding: {vocab: 1000, dim: 128, name: word_embeddings}
  - pos_embed: {max: 64, name: position_embeddings}
  - type_embed: {types: 2, name: token_type_embeddings}
  - layernorm: {eps: 1e-12, name: embeddings_norm}
  - bert_layer:
    repeat: 2
  - token: {index: 0, name: first_token}
  - linear: {out: 128, act: tanh, name: pooler}
"""
BERT_EXACT = BERT_LIKE.replace(")", ", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)")


@pytest.fixture(scope="module", autouse=True)
def _transformers():
    torch_or_fail()
    module_or_fail("transformers")


def _params(text):
    from archcalc.backends.reference import reference_model

    return reference_model(text).num_parameters()  # on the meta device: nothing allocated


def test_gpt2_and_bert_count_as_transformers_does():
    v, p, d, layers = 50257, 1024, 768, 12
    block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    assert _params("transformers:gpt2") == v * d + p * d + layers * block + 2 * d  # the head is the token table
    v, p, i = 30522, 512, 3072
    block = 4 * (d * d + d) + 2 * d + (d * i + i) + (i * d + d) + 2 * d
    embeddings = v * d + p * d + 2 * d + 2 * d  # tokens, positions, two token types, their layer norm
    assert _params("transformers:bert-base") == embeddings + layers * block + d * d + d  # the pooler included


def test_llama_and_mixtral_count_as_transformers_does():
    d, layers, kv, i = 4096, 32, 8 * 128, 14336
    attention = 2 * d * d + 2 * d * kv  # q and o full, k and v of 8 heads of 128
    assert _params("transformers:llama-3-8b") == 2 * 128256 * d + layers * (attention + 3 * d * i + 2 * d) + d
    experts, router = 8 * 3 * d * i, d * 8
    assert _params("transformers:mixtral-8x7b") == 2 * 32000 * d + layers * (attention + experts + router + 2 * d) + d


@pytest.mark.parametrize(("text", "built"), [
    ("transformers:gpt2", "GPT2LMHeadModel"),
    ("transformers:bert-base", "BertModel"),
    ("transformers:LlamaConfig(num_hidden_layers=2)", "LlamaForCausalLM"),
    ("transformers:mixtral-8x7b", "MixtralForCausalLM"),
    ("transformers:T5Config()", "T5Model"),
])
def test_the_model_class_follows_from_the_config(text, built):
    from archcalc.backends.reference import oracle, reference_model

    assert oracle(text).built.startswith(built + "(")
    assert type(reference_model(text)).__name__ == built


def test_options_override_a_named_config():
    from archcalc.backends.reference import oracle

    model = oracle("transformers:gpt2(n_layer=2)")
    assert model.built == "GPT2LMHeadModel(GPT2Config(n_layer=2)), attn_implementation='sdpa'"
    assert _params("transformers:gpt2(n_layer=2)") < _params("transformers:gpt2")


@pytest.mark.parametrize(("text", "message"), [
    ("transformers:gtp2", "transformers has no config 'gtp2'; did you mean 'gpt2'"),
    ("transformers:LamaConfig()", "did you mean 'LlamaConfig'"),
    ("transformers:LlamaConfig(num_hiden_layers=2)", "LlamaConfig has no option 'num_hiden_layers'; did you mean "
                                                     "'num_hidden_layers'"),
    ("transformers:LlamaConfig(vocab_size=__import__('os'))", "vocab_size: expected"),
    ("transformers:LlamaConfig(2)", "expected key=value options"),
    ("transformers:LlamaConfig(hidden_size=10**9)", "hidden_size: expected"),
    ("hub:gpt2", "expected torchvision:NAME (e.g. torchvision:resnet50) or transformers:NAME"),
])
def test_a_bad_reference_is_one_clear_line(text, message):
    from archcalc.backends.reference import oracle
    from archcalc.errors import ArchcalcError

    with pytest.raises(ArchcalcError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        oracle(text)
    assert "\n" not in str(caught.value)


def test_sdpa_on_the_cpu_counts_as_the_math_backend_does():
    """The CPU's fused kernel (no formula in torch's counter) counts what the unfused math path counts."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention

    from archcalc.backends.measure import flop_counter

    b, heads, kv_heads, s, d = 2, 4, 2, 16, 32
    q = torch.randn(b, heads, s, d)
    k, v = torch.randn(b, kv_heads, s, d), torch.randn(b, kv_heads, s, d)

    def flops(backend, **kwargs):
        counter = flop_counter()
        with sdpa_kernel(backend), counter:
            scaled_dot_product_attention(q, k, v, enable_gqa=True, **kwargs)
        return counter.get_total_flops(), set(counter.get_flop_counts()["Global"])

    for causal in (False, True):
        fused, ops = flops(SDPBackend.FLASH_ATTENTION, is_causal=causal)
        math, _ = flops(SDPBackend.MATH, is_causal=causal)
        assert torch.ops.aten._scaled_dot_product_flash_attention_for_cpu in ops
        assert fused == math == 2 * b * heads * s * s * (d + d)  # Q·Kᵀ and the weighted sum of V, causal or not


def _measured(text, where, batch=2, length=16):
    from archcalc.backends.measure import materialize
    from archcalc.backends.reference import _measure, oracle, reference_model

    real = materialize(reference_model(text), "cpu") if where == "cpu" else None
    saved, probe = _measure(oracle(text), real, where, (length,), batch, count=True)
    return saved, probe.facts[""]["macs"], probe.output_shape


@pytest.mark.parametrize("text", [GPT2_LIKE, LLAMA_LIKE, BERT_LIKE])
def test_fake_tensors_measure_what_a_real_run_does(text):
    """Llama-3-8B is measured on fake tensors: on small configs they agree with a real CPU run, byte for byte."""
    assert _measured(text, "fake") == _measured(text, "cpu")


def test_the_macs_are_the_linear_layers_and_full_attention_products():
    s, d, layers, v = 16, 128, 2, 1000
    _, macs, output = _measured(LLAMA_LIKE, "cpu")
    kv, i = 2 * 32, 344
    linear = layers * (2 * d * d + 2 * d * kv + 3 * d * i) + d * v
    assert macs == s * linear + layers * 2 * 4 * s * s * 32  # SDPA's Q·Kᵀ and ·V, causal counted in full
    assert output == (s, v)
    _, macs, _ = _measured(GPT2_LIKE, "cpu")
    assert macs == s * (layers * (3 * d * d + d * d + 2 * 4 * d * d) + d * v) + layers * 2 * s * s * d
    assert _measured(BERT_LIKE, "cpu")[2] == (d,)  # BERT's output is its pooler's: the first token's, projected


def test_a_mixture_of_experts_counts_the_k_experts_each_token_reaches():
    s, d, layers, v, experts, k, i = 16, 128, 2, 1000, 8, 2, 256
    text = ("transformers:MixtralConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4, "
            "num_key_value_heads=2, intermediate_size=256, vocab_size=1000)")
    _, macs, _ = _measured(text, "cpu")
    per_token = layers * (2 * d * d + 2 * d * 2 * 32 + d * experts + k * 3 * d * i) + d * v
    assert macs == s * per_token + layers * 2 * 4 * s * s * 32


def test_nothing_is_written_under_the_home_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("HF_HOME", None)
    code = ("from archcalc.backends.reference import _measure, oracle\n"
            "print(_measure(oracle('transformers:GPT2Config(n_layer=1, n_embd=64, n_head=2, vocab_size=100)'),"
            " None, 'fake', (16,), 1, True)[0])")
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert int(ran.stdout) > 0
    assert list(home.rglob("*")) == []


def test_a_packed_projection_matches_the_separate_ones_either_way():
    from archcalc.backends.reference.tensors import Tensor, match, model_tensor

    d, kv = 128, 64
    ours = [Tensor("attn", "attn", "weight", (d + 2 * kv, d)), Tensor("attn", "attn", "weight", (d, d)),
            Tensor("mlp", "mlp", "weight", (4 * d, d))]
    theirs = [model_tensor("a.q.weight", (d, d)), model_tensor("a.k.weight", (kv, d)),
              model_tensor("a.v.weight", (kv, d)), model_tensor("a.o.weight", (d, d)),
              model_tensor("m.up.weight", (4 * d, d))]
    assert match(ours, theirs) == ({"attn": {"a.q", "a.k", "a.v", "a.o"}, "mlp": {"m.up"}}, [], [])
    # GPT-2's way round: the model packs q, k and v (c_attn), the engine holds them apart
    apart = [Tensor("attn", "attn", leaf, shape) for leaf, shape in
             (("weight", (d, d)), ("bias", (d,)), ("weight", (d, d)), ("bias", (d,)), ("weight", (d, d)),
              ("bias", (d,)), ("weight", (d, d)), ("bias", (d,)))]
    packed = [model_tensor("h.attn.c_attn.weight", (3 * d, d)), model_tensor("h.attn.c_attn.bias", (3 * d,)),
              model_tensor("h.attn.c_proj.weight", (d, d)), model_tensor("h.attn.c_proj.bias", (d,))]
    assert match(apart, packed) == ({"attn": {"h.attn.c_attn", "h.attn.c_proj"}}, [], [])
    wrong = [Tensor("attn", "attn", "weight", (d + 2 * kv + 1, d))]  # nothing packs to one row more
    assert match(wrong, theirs[:3]) == ({}, wrong, theirs[:3])


@pytest.mark.parametrize(("spec", "reference", "output"), [
    (GPT2_SPEC, GPT2_EXACT, (16, 1000)), (LLAMA_SPEC, LLAMA_LIKE, (16, 1000)), (BERT_SPEC, BERT_EXACT, (128,))],
    ids=["gpt2-like", "llama-like", "bert-like"])
def test_a_small_spec_equals_its_transformers_model(write_spec, spec, reference, output):
    """Tensor for tensor (GPT-2's packed c_attn against q, k, v; its tied head once), MACs, output, and the
    bytes autograd saves at sequence lengths 16 and 32 within 5 %."""
    from archcalc import load
    from archcalc.backends.reference import compare

    result = compare(load(write_spec(spec)), reference, batches=(1, 2))
    assert result.params[0] == result.params[1] and result.macs[0] == result.macs[1], (result.params, result.macs)
    assert (result.tensors, result.layers) == ((), ())
    assert result.output == (output, output) and result.at == (16,)
    assert result.compared == result.matched > 0
    assert [(c.batch, c.input, c.where) for c in result.saved] == [
        (b, (s,), "cpu") for s in (16, 32) for b in (1, 2)]
    for check in result.saved:
        assert abs(check.diff) <= 0.05, (check.label, check.engine, check.measured)
    assert result.ok


def test_a_spec_of_another_width_is_caught(write_spec):
    from archcalc import load
    from archcalc.backends.reference import compare

    result = compare(load(write_spec(LLAMA_SPEC.replace("out: 344", "out: 352"))), LLAMA_LIKE, batches=(1,))
    assert not result.ok
    assert result.params[0] - result.params[1] == 2 * 3 * 128 * (352 - 344)  # gate, up and down of 2 blocks
    assert sorted(m.engine for m in result.tensors if m.torch.startswith("none")) == sorted(
        ["352×128"] * 4 + ["128×352"] * 2)


def test_verify_against_transformers_through_the_command_line(cli, write_spec):
    import json

    ran = cli("verify", write_spec(GPT2_SPEC), "--against", GPT2_EXACT, "--batch", "1", "--format", "json")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)
    against = result["against"]
    assert against["ok"] and against["built"].startswith("GPT2LMHeadModel(GPT2Config(n_layer=2")
    assert [(c["batch"], c["input"]) for c in against["saved"]] == [(1, [16]), (1, [32])]
    assert against["params"]["engine"] == against["params"]["model"] == 1000 * 128 + 64 * 128 + 2 * (
        2 * 128 + 4 * (128 * 128 + 128) + 2 * 128 + 128 * 512 + 512 + 512 * 128 + 128) + 2 * 128


def test_a_model_that_runs_no_forward_is_compared_by_its_tensors_and_not_passed(write_spec, monkeypatch):
    """A mixture of experts too large for the device runs on fake tensors, which cannot route tokens: its
    tensors are still compared, and the checks say why nothing was measured."""
    from archcalc import load
    from archcalc.backends import capacity
    from archcalc.backends.reference import compare

    monkeypatch.setattr(capacity, "fits", lambda need, device: False)
    monkeypatch.setattr(capacity, "available", lambda device: 1)  # as though the model were 46.7B parameters
    moe = ("transformers:MixtralConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4, "
           "num_key_value_heads=2, intermediate_size=344, vocab_size=1000, num_local_experts=4)")
    result = compare(load(write_spec(LLAMA_SPEC)), moe, batches=(1,))
    assert result.macs[1] is None and result.output[1] is None and not result.ok
    assert [c.where for c in result.saved] == ["fake", "fake"]
    assert all(c.measured is None and c.note.startswith("not measured") for c in result.saved)
    assert result.params[1] - result.params[0] == 2 * (3 * 3 * 128 * 344 + 128 * 4)  # three more experts, a router
    assert len(result.tensors) == 2 * (2 + 1) + 2 * 3  # theirs: experts (gate_up, down) and router; ours: gate, up, down


@pytest.mark.parametrize("name", ["bert-base", "llama-3-8b"])  # gpt2: at 2 layers in test_bundled_sequence_models.py
def test_the_bundled_language_models_equal_their_transformers_model(name):
    """At full size, tensor for tensor, MACs, output and matched layers exact, and the bytes autograd saves
    within 5 % (BERT-base for real on the CPU, Llama-3-8B on fake tensors: the CPU's kernels, no storage)."""
    from archcalc import load
    from archcalc.backends.reference import compare

    network = load(name)
    result = compare(network, network.reference, batches=(1,))
    assert result.params[0] == result.params[1] and result.macs[0] == result.macs[1], (result.params, result.macs)
    assert result.output[0] == result.output[1]
    assert (result.tensors, result.layers) == ((), ())
    assert result.compared == result.matched > 0
    assert [check.where for check in result.saved] == ["cpu" if name == "bert-base" else "fake"] * 2
    assert all(abs(check.diff) <= 0.05 for check in result.saved), [(c.engine, c.measured) for c in result.saved]
    assert result.ok
