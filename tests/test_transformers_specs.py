"""The bundled language models are exact against transformers' own, built from Config objects (random
weights, the big one on the meta device: nothing is downloaded)."""

from __future__ import annotations

import pytest

from archcalc import analyze
from conftest import module_or_fail, torch_or_fail

# each spec's model, as its header says transformers builds it
CONFIGS = {
    "gpt2": ("GPT2LMHeadModel", "GPT2Config", {}),
    "bert-base": ("BertModel", "BertConfig", {}),
    "llama-3-8b": ("LlamaForCausalLM", "LlamaConfig",
                   {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                    "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": False}),
}


def _model(name: str):
    torch = torch_or_fail()
    transformers = module_or_fail("transformers")
    model_class, config_class, options = CONFIGS[name]
    with torch.device("meta"):
        return getattr(transformers, model_class)(getattr(transformers, config_class)(**options))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bundled_language_model_counts_transformers_parameters(name):
    model = _model(name)
    assert analyze(name).totals.params == sum(p.numel() for p in model.parameters())  # a tied weight once


def test_the_issue_figures():
    d, mlp, layers = 768, 3072, 12
    block = 2 * (2 * d) + 4 * d * d + 4 * d + d * mlp + mlp + mlp * d + d  # 2 norms, attention, MLP
    gpt2 = 50257 * d + 1024 * d + layers * block + 2 * d  # the head is the token table
    bert = 30522 * d + 512 * d + 2 * d + 2 * d + layers * block + d * d + d  # + the pooler
    d, mlp, kv = 4096, 14336, 8 * 128
    llama = 2 * 128256 * d + 32 * (2 * d * d + 2 * d * kv + 3 * d * mlp + 2 * d) + d
    assert (gpt2, bert, llama) == (124_439_808, 109_482_240, 8_030_261_248)
    assert {name: analyze(name).totals.params for name in CONFIGS} == {"gpt2": gpt2, "bert-base": bert, "llama-3-8b": llama}


def test_gpt2s_head_is_its_token_table():
    model = _model("gpt2")
    assert model.lm_head.weight is model.transformer.wte.weight
    rows = {row.name: row for row in analyze("gpt2").rows}
    assert (rows["lm_head"].params, rows["wte"].params) == (0, 50257 * 768)
