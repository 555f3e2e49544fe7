"""The bundled language models through the sequence length S, serving and the literature's activation memory.

gpt2 (GPT2Config(): 12 layers of 768, 12 heads, 1,024 positions, vocab 50,257, a tied head) and llama-3-8b
(32 layers of 4,096, 32 heads of 128, 8 KV heads, SwiGLU of 14,336, vocab 128,256, untied).
"""

from __future__ import annotations

import json
import random

import pytest

import archcalc
from archcalc import catalog
from archcalc.fit import DEFAULT_HEADROOM, Goal, Serve, serve_answer
from archcalc.literature import korthikanti
from archcalc.serve import context_limit
from archcalc.symbolic import Expr
from test_symbolic import assert_exact

S = Expr.var("S")
SEQUENCE_MODELS = sorted(name for name in catalog.bundled() if archcalc.load(name).ids)


def test_the_language_models_are_bundled():
    assert {"gpt2", "llama-3-8b"} <= set(SEQUENCE_MODELS)


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_sequence_formulas_of_every_bundled_language_model_equal_the_concrete_engine(name):
    net = archcalc.load(name)
    longest = min(context_limit(net), 4096)  # its position table, if any; some past it are refused, as they must be
    assert_exact(net, lambda s: (s,), "S", random.Random(name), 12, longest + longest // 8)


def test_table_gpt2_input_s_prints_formulas_in_s(cli):
    ran = cli("table", "gpt2", "--input", "S", "--format", "json")
    assert ran.code == 0, ran.err
    totals = json.loads(ran.out)["totals"]
    macs = archcalc.analyze("gpt2", input_shape=(S,)).totals.macs
    assert totals["macs"] == archcalc.symbolic.text(macs, "code") and "S * S" in totals["macs"]
    for s in (1, 77, 1024):
        concrete = archcalc.analyze("gpt2", input_shape=(s,)).totals.macs
        assert archcalc.expr.evaluate(totals["macs"], {"S": s}) == concrete
    # every layer: 12 of (Q, K, V and output projections, 2·12·s·s·64 scores, 2 MLP products), the tied head
    assert macs == 12 * (S * 4 * 768 * 768 + 2 * 12 * S * S * 64 + 2 * S * 768 * 3072) + S * 768 * 50257
    shown = cli("table", "gpt2", "--input", "S")
    assert shown.code == 0 and "— input S\n" in shown.out and f"MACs {macs} (" in shown.out


def test_fit_llama_serves_the_largest_batch_with_its_kv_cache_as_a_line(cli):
    ran = cli("fit", "llama-3-8b", "--serve", "--context", "8192", "--memory", "80GiB")
    assert ran.code == 0, ran.err
    found = serve_answer(catalog.load("llama-3-8b"),
                         Goal(80 * 2**30, headroom=DEFAULT_HEADROOM, serve=Serve(8192, "fp32")))
    batch = found.fit.batch
    kv = 2 * 32 * 8 * 128 * 8192 * batch * 4  # K and V × layers × kv_heads × head_dim × context × batch × bytes
    parts = {part.tensor: part.bytes for part in found.fit.step.parts}
    assert parts["KV cache"] == kv and parts["weights"] == 8_030_261_248 * 4
    assert ran.out.startswith(f"llama-3-8b: batch {batch:,} is the largest that fits 80.0 GiB with a context of "
                              "8,192 tokens")
    assert any(line.split()[:2] == ["KV", "cache"] for line in ran.out.splitlines())
    assert found.fit.step.bytes <= 80 * 2**30 < found.fit.next_step.bytes


@pytest.mark.parametrize("name, s, h, a, layers", [("gpt2", 1024, 768, 12, 12), ("llama-3-8b", 8192, 4096, 32, 32)])
def test_korthikanti_for_the_bundled_decoders(cli, name, s, h, a, layers):
    shape = (s,)
    found = korthikanti(archcalc.analyze(name, input_shape=shape, precision="bf16"))
    assert (found.s, found.b, found.h, found.a, len(found.layers)) == (s, 1, h, a, layers)
    assert found.forms()["no recomputation"][1] == s * h * 34 + 5 * a * s * s
    ran = cli("explain", name, "--memory", "--input", str(s))
    assert ran.code == 0, ran.err
    assert "Korthikanti et al. 2022" in ran.out and "s·b·h·(34 + 5·a·s/h)" in ran.out
    notes = " ".join(found.notes())
    if name == "llama-3-8b":
        assert "grouped-query attention, kv_heads 8" in notes and "gated MLP" in notes and "14,336" in notes
    else:  # GPT2Config's attn_pdrop: the CPU's math path keeps the s×s tensors the paper counts
        assert "with this spec's attention dropout (p = 0.1) on CUDA too" in notes
