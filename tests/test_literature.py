"""Korthikanti et al. 2022's activation memory of a transformer layer, beside the engine's.

The paper's layer at 16 bits keeps s·b·h·(34 + 5·a·s/h) bytes: here its terms
are checked as arithmetic, and the engine's figure of the same layer is
derived from them by the differences the comparison names (no s×s tensors in
a fused kernel but a float32 log-sum-exp per row, the norms' float32
statistics, the spec's own dropout layers).
"""

from __future__ import annotations

import json
import random

import archcalc
from archcalc.literature import PARTS, korthikanti, transformer_layers
from archcalc.symbolic import Expr
from helpers import network_of

S, H, A, TOKENS = Expr.var("S"), 64, 4, 32

LAYER = f"""
    input: {{tokens: {TOKENS}, dim: {H}}}
    vars: {{dim: {H}, heads: {A}}}
    blocks:
      layer:
        layers:
          - add:
              - - layernorm: {{name: ln_1}}
                - attention: {{heads: heads, name: attn}}
                - dropout: {{p: 0.1, name: attn_drop}}
              - []
          - add:
              - - layernorm: {{name: ln_2}}
                - linear: {{out: 4 * dim, act: gelu, name: fc}}
                - linear: {{out: dim, name: proj}}
                - dropout: {{p: 0.1, name: mlp_drop}}
              - []
    layers:
      - pos_embed: {{name: wpe}}
      - layer:
        repeat: 3
        name: h
      - layernorm: {{name: ln_f}}
"""


def comparison(batch=1, input_shape=None, spec=LAYER):
    report = archcalc.analyze(network_of(spec), batch=batch, input_shape=input_shape, precision="bf16")
    return report, korthikanti(report)


def test_the_paper_s_terms():
    _, found = comparison(batch=2)
    s, b, h, a = TOKENS, 2, H, A
    assert (found.s, found.b, found.h, found.a) == (s, b, h, a)
    assert {part: value for part, (_, value) in found.paper().items()} == {
        "attention": 2 * s * b * h + 4 * s * b * h + 2 * a * s * s * b + a * s * s * b + 2 * a * s * s * b
                     + 2 * s * b * h + 2 * s * b * h,  # QKV input, Q and K, softmax, its mask and output, V, out-proj input
        "dropout masks": s * b * h + s * b * h,
        "MLP and the rest": 2 * s * b * h + 8 * s * b * h + 8 * s * b * h,
        "norms": 2 * s * b * h + 2 * s * b * h,
    }
    forms = {name: value for name, (_, value) in found.forms().items()}
    assert forms == {"no recomputation": s * b * h * 34 + 5 * a * s * s * b,  # s·b·h·(34 + 5·a·s/h)
                     "selective recomputation": 34 * s * b * h, "full recomputation": 2 * s * b * h}
    assert sum(value for _, value in found.paper().values()) == forms["no recomputation"]


def test_the_engine_differs_by_what_the_notes_name():
    _, found = comparison(batch=2)
    s, b, a = TOKENS, 2, A
    paper = {part: value for part, (_, value) in found.paper().items()}
    log_sum_exp = 4 * a * s * b  # float32, one per row and head: the fused kernel's only s-sized statistic
    statistics = 2 * (4 + 4) * s * b  # two layer norms, each a float32 mean and 1/σ per row
    assert found.engine == {
        "attention": paper["attention"] - 5 * a * s * s * b + log_sum_exp,
        "dropout masks": paper["dropout masks"],  # the spec's two dropouts: one byte per element, as the paper's
        "MLP and the rest": paper["MLP and the rest"],
        "norms": paper["norms"] + statistics,
    }
    assert found.alike and [layer.name for layer in found.layers] == ["h_1", "h_2", "h_3"]
    notes = " ".join(found.notes())
    assert "keeps no s×s tensor" in notes and "2 dropout layers" in notes and "an MLP of width 256" in notes
    assert "not the paper's" not in notes and "grouped-query" not in notes


def test_a_symbolic_sequence_gives_formulas_that_evaluate_to_the_concrete_figures():
    _, symbolic = comparison(batch=Expr.var("B"), input_shape=(S, H))
    rng = random.Random(17)
    for _ in range(20):
        s, b = rng.randint(1, 5000), rng.randint(1, 64)
        _, concrete = comparison(batch=b, input_shape=(s, H))
        env = {"S": s, "B": b}
        assert {part: symbolic.engine[part].at(env) for part in PARTS} == concrete.engine
        assert {part: value.at(env) for part, (_, value) in symbolic.paper().items()} == \
               {part: value for part, (_, value) in concrete.paper().items()}


def test_networks_without_transformer_layers_have_no_comparison():
    assert korthikanti(archcalc.analyze(archcalc.load("vgg16"), precision="bf16")) is None
    bare = network_of(f"input: [{TOKENS}, {H}]\nlayers:\n  - attention: {A}\n  - attention: {A}\n")
    assert transformer_layers(archcalc.analyze(bare)) == ()  # attentions outside blocks


def test_vit_is_read_as_twelve_layers_of_its_width():
    found = korthikanti(archcalc.analyze(archcalc.load("vit-b16"), precision="bf16"))
    assert (found.s, found.h, found.a, len(found.layers)) == (14 * 14 + 1, 768, 12, 12)
    assert found.engine["MLP and the rest"] == 18 * found.s * 768  # its 4h GeLU MLP, exactly the paper's


def test_explain_memory_on_the_command_line(cli, write_spec):
    spec = write_spec(LAYER)
    ran = cli("explain", spec, "--memory", "--batch", "2")
    assert ran.code == 0, ran.err
    _, found = comparison(batch=2)
    lines = ran.out.splitlines()
    assert lines[0].startswith("net: a training step at 16 bits (precision bf16), batch 2")
    assert any(line.split()[:2] == ["layer", "s·b·h·(34"] for line in lines)
    assert "where they differ:" in ran.out and "Korthikanti et al. 2022" in ran.out
    data = json.loads(cli("explain", spec, "--memory", "--batch", "2", "--format", "json").out)
    assert data["korthikanti"] == json.loads(json.dumps(found.to_dict()))
    assert data["korthikanti"]["layer"]["paper_bytes"] == 34 * TOKENS * 2 * H + 5 * A * TOKENS * TOKENS * 2


def test_explain_memory_usage(cli):
    assert cli("explain", "vgg16").err.startswith("error: give a LAYER to explain")
    assert cli("explain", "vgg16", "conv1_1", "--memory").err.startswith("error: --memory explains the whole network")
    ran = cli("explain", "vgg16", "--memory")
    assert ran.code == 0 and "not a stack of transformer layers" in ran.out


LLAMA_LIKE = f"""
    input: {{ids: {TOKENS}}}
    vars: {{dim: {H}, heads: {A}}}
    blocks:
      layer:
        layers:
          - add:
              - - rmsnorm: {{name: input_layernorm}}
                - attention: {{heads: heads, kv_heads: 2, causal: true, rope: true, bias: false, name: self_attn}}
              - []
          - add:
              - - rmsnorm: {{name: post_attention_layernorm}}
                - mul:
                    - - linear: {{out: 3 * dim, bias: false, act: silu, name: gate_proj}}
                    - - linear: {{out: 3 * dim, bias: false, name: up_proj}}
                - linear: {{out: dim, bias: false, name: down_proj}}
              - []
    layers:
      - embedding: {{vocab: 500, dim: {H}, name: embed_tokens}}
      - layer:
        repeat: 2
        name: layers
      - rmsnorm: {{name: norm}}
      - linear: {{out: 500, bias: false, name: lm_head}}
"""


def test_a_llama_like_decoder_names_its_grouped_query_attention_and_gated_mlp():
    report, found = comparison(spec=LLAMA_LIKE)
    assert (found.s, found.h, found.a, len(found.layers)) == (TOKENS, H, A, 2)
    notes = " ".join(found.notes())
    assert f"K, V 2·{H // A} = {2 * H // A} each (grouped-query attention, kv_heads 2" in notes
    assert f"a gated MLP (a product of two linear branches, as SwiGLU) of width {3 * H}, not the paper's 4·h" in notes
    layer_rows = [row for row in report.rows if row.name.startswith("layers_1.")]
    assert sum(found.engine.values()) == sum(row.saved_bytes for row in layer_rows)
    assert found.engine["norms"] > 0 and found.engine["dropout masks"] == 0
