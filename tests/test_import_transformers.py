"""`transformers:CONFIG(…)` models imported exactly: each equals the bundled spec of its family (gpt2, bert-base,
llama-3-8b, mixtral-8x7b), figure for figure and layer for layer, at a small config and at full
size; the index and mask arithmetic of their forward left out by the importer's rule, never an activation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import module_or_fail, torch_or_fail

torch = torch_or_fail()
module_or_fail("transformers")

from torch import nn  # noqa: E402

from archcalc import analyze  # noqa: E402
from archcalc.backends.importer import UnmappedError, import_module  # noqa: E402
from archcalc.models import load_model  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"
S = 16

# each family's small config, written twice: as transformers builds it and as the bundled spec's vars
MIXTRAL = ("MixtralConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, "
           "intermediate_size=128, vocab_size=1000, num_local_experts=4")
SMALL = {
    "gpt2": ("transformers:GPT2Config(n_layer=2, n_embd=128, n_head=2)",
             "{vocab: 50257, positions: 1024, dim: 128, mlp: 512, heads: 2, depth: 2}"),
    "bert-base": ("transformers:BertConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, "
                  "intermediate_size=256)",
                  "{vocab: 30522, positions: 512, dim: 128, mlp: 256, heads: 2, depth: 2}"),
    "llama-3-8b": ("transformers:LlamaConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4, "
                   "num_key_value_heads=2, intermediate_size=256, vocab_size=1000, rms_norm_eps=1e-5)",
                   "{vocab: 1000, dim: 128, mlp: 256, heads: 4, kv_heads: 2, depth: 2}"),
    "mixtral-8x7b": (f"transformers:{MIXTRAL})", "{vocab: 1000, dim: 64, mlp: 128, heads: 4, kv_heads: 2, depth: 2, "
                     "experts: 4, top: 2}"),
}


def _bundled(name: str, vars_: str | None = None, length: int = S) -> str:
    """The bundled spec's text at `length` token ids, with other vars where given."""
    text = (SPECS / f"{name}.yaml").read_text(encoding="utf-8")
    if vars_:
        text = re.sub(r"^vars: .*$", f"vars: {vars_}", text, flags=re.M)
    return re.sub(r"^input: .*$", f"input: {{ids: {length}}}", text, flags=re.M)


def _figures(report) -> tuple:
    totals = report.totals
    return (totals.params, totals.active_params, totals.macs, totals.activations,
            [tuple(row.output) for row in report.rows])


def _kinds(report) -> list[str]:
    """Each row's kind, a vector's linear layer as fc (the importer reads a Linear on a vector as fc, the
    kind of a classifier's head; its figures are a linear's)."""
    return [("fc" if row.kind == "linear" and len(row.output) == 1 else row.kind) for row in report.rows]


@pytest.mark.parametrize("family", sorted(SMALL))
def test_a_small_config_imports_as_its_bundled_spec(family):
    model, vars_ = SMALL[family]
    imported, bundled = analyze(load_model(model, (S,))), analyze(_bundled(family, vars_))
    assert _figures(imported) == _figures(bundled)
    assert _kinds(imported) == _kinds(bundled)
    assert not any(row.kind == "opaque" for row in imported.rows)


@pytest.mark.parametrize("config", ["MistralConfig", "Qwen2Config"])
def test_llamas_kin_import_as_llama(config):
    """Mistral is Llama's architecture; Qwen2 too, with biases on Q, K and V (2 layers · (4 + 2 + 2) heads of 32)."""
    options = SMALL["llama-3-8b"][0].partition("(")[2]
    imported = analyze(load_model(f"transformers:{config}({options}", (S,)))
    bundled = analyze(_bundled("llama-3-8b", SMALL["llama-3-8b"][1]))
    biases = 2 * (4 + 2 + 2) * 32 if config == "Qwen2Config" else 0
    assert imported.totals.params == bundled.totals.params + biases
    assert (imported.totals.macs, imported.totals.activations) == (bundled.totals.macs, bundled.totals.activations)


def test_gpt2s_head_is_tied_to_its_token_table():
    network = load_model(SMALL["gpt2"][0], (S,))
    rows = {row.name: row for row in analyze(network).rows}
    head = next(layer for layer in network.layers if layer.name == "lm_head")
    assert head.args["tie"] == "transformer.wte"
    assert (rows["lm_head"].params, rows["transformer.wte"].params) == (0, 50257 * 128)
    assert rows["transformer.add"].kind == "pos_embed" and rows["transformer.add"].params == 1024 * 128


@pytest.mark.parametrize(("family", "params", "active"), [
    ("bert-base", 109_482_240, 109_482_240), ("llama-3-8b", 8_030_261_248, 8_030_261_248), ("mixtral-8x7b", 46_702_792_704, 12_879_925_248)])
def test_a_full_size_model_on_the_meta_device(family, params, active):
    imported, bundled = analyze(load_model(f"transformers:{family}", (S,))), analyze(_bundled(family))
    assert _figures(imported) == _figures(bundled)
    assert (imported.totals.params, imported.totals.active_params) == (params, active)


def test_gpt2_at_its_context_through_the_command_line(cli):
    """The issue's `archcalc table 'transformers:GPT2Config()' --input 1024`, against `table gpt2` (S = 1,024)."""
    ran = cli("table", "transformers:GPT2Config()", "--input", "1024", "--format", "json")
    assert ran.code == 0, ran.err
    ours = json.loads(ran.out)
    bundled = json.loads(cli("table", "gpt2", "--format", "json").out)
    keys = ("params", "macs", "activations", "train_saved_bytes", "inference_peak_bytes")
    assert {k: ours["totals"][k] for k in keys} == {k: bundled["totals"][k] for k in keys}
    assert [layer["output"] for layer in ours["layers"]] == [layer["output"] for layer in bundled["layers"]]
    assert ours["totals"]["params"] == 124_439_808
    own = cli("table", "transformers:GPT2Config()", "--format", "json")  # traced at its context, n_positions
    assert json.loads(own.out)["input"] == ours["input"] == bundled["input"]


def test_a_symbolic_sequence_length_gives_the_bundled_formulas(cli, write_spec):
    """`--input S`: the model traced at its own context, its figures formulas in S, as the bundled spec's."""
    model, vars_ = SMALL["gpt2"]
    ran = cli("table", model, "--input", "S", "--format", "json")
    assert ran.code == 0, ran.err
    bundled = cli("table", write_spec(_bundled("gpt2", vars_)), "--input", "S", "--format", "json")
    keys = ("macs", "activations", "train_saved_bytes")
    ours, theirs = json.loads(ran.out)["totals"], json.loads(bundled.out)["totals"]
    assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}
    assert "S * S" in ours["macs"]  # the attention's S² products


class Positions(nn.Module):
    """Token ids through a table, plus a position table at positions built by index arithmetic."""

    def __init__(self, vocab: int = 100, positions: int = 64, dim: int = 8):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(positions, dim)

    def forward(self, ids):
        at = torch.ones_like(ids[:1]).cumsum(-1) - 1  # 0 … S−1, from the ids: integer arithmetic
        return self.tokens(ids) + self.positions(at)


class Shifted(Positions):
    """The same, but a float tensor of constants added to the activations: never silently dropped."""

    def forward(self, ids):
        return self.tokens(ids) + torch.arange(ids.shape[1], dtype=torch.float32, device=ids.device).unsqueeze(-1)


def test_index_arithmetic_is_left_out_and_a_position_table_is_a_pos_embed():
    with torch.device("meta"):
        module = Positions()
    network = import_module(module, (S,), "positions")
    assert [(layer.kind, layer.args.get("max")) for layer in network.layers] == [("embedding", None), ("pos_embed", 64)]
    assert analyze(network).totals.params == 100 * 8 + 64 * 8


def test_an_activation_plus_a_left_out_tensor_is_listed():
    with torch.device("meta"):
        module = Shifted()
    with pytest.raises(UnmappedError, match=r"aten\.add \(add of a 2×16×8 tensor and a 16×1 tensor of constants\)"):
        import_module(module, (S,), "shifted")


def test_experts_run_by_their_routed_tokens_are_refused_in_one_line(cli):
    """Mixtral's eager experts run on the tokens routed to them, a value no trace follows (the import runs
    them grouped unless the name says otherwise): one line naming the routing, no traceback."""
    ran = cli("table", f"transformers:{MIXTRAL}, experts_implementation='eager')", "--input", "16")
    assert ran.code != 0 and "Traceback" not in ran.err
    assert len(ran.err.strip().splitlines()) == 1
    assert "cannot trace the model at" in ran.err and "modeling_mixtral.py" in ran.err
