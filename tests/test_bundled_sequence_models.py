"""The bundled sequence models against their real models, built from code or from a Config (random weights,
never a hub): parameter tensors at full size on the meta device, and, at 2 layers of 128 (each spec's own
text with its sizes changed), parameters, MACs and the bytes autograd saves on the CPU within 5 %.

Where the rest is: bert-base and llama-3-8b also at full size in test_torch_transformers.py, swin-t against
torchvision's swin_t in test_torch_reference.py, lstm-lm-medium against the same network in plain torch.nn in
test_torch_lstm_lm.py, mixtral-8x7b's totals in test_mixtral.py.
"""

from __future__ import annotations

import re

import pytest

from archcalc import load
from conftest import SPECS, module_or_fail, torch_or_fail

# each spec's sizes at 2 layers of 128, and the same model's Config options
SMALL = {
    "gpt2": ({"vocab": 1000, "positions": 64, "dim": 128, "mlp": 512, "heads": 4, "depth": 2},
             "n_layer=2, n_embd=128, n_head=4, vocab_size=1000, n_positions=64"),
    "bert-base": ({"vocab": 1000, "positions": 64, "dim": 128, "mlp": 512, "heads": 4, "depth": 2},
                  "num_hidden_layers=2, hidden_size=128, num_attention_heads=4, intermediate_size=512, "
                  "vocab_size=1000, max_position_embeddings=64"),
    "llama-3-8b": ({"vocab": 1000, "dim": 128, "mlp": 344, "heads": 4, "kv_heads": 2, "depth": 2},
                   "num_hidden_layers=2, hidden_size=128, num_attention_heads=4, num_key_value_heads=2, "
                   "intermediate_size=344, vocab_size=1000"),
    "mixtral-8x7b": ({"vocab": 1000, "dim": 128, "mlp": 256, "heads": 4, "kv_heads": 2, "depth": 2, "experts": 8,
                      "top": 2},
                     "num_hidden_layers=2, hidden_size=128, num_attention_heads=4, num_key_value_heads=2, "
                     "intermediate_size=256, vocab_size=1000"),
}


@pytest.fixture(scope="module", autouse=True)
def _transformers():
    torch_or_fail()
    module_or_fail("transformers")


def _small(write_spec, name: str):
    sizes, _ = SMALL[name]
    text = (SPECS / f"{name}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^vars: .*$", "vars: {" + ", ".join(f"{k}: {v}" for k, v in sizes.items()) + "}", text, flags=re.M)
    return load(write_spec(text, f"{name}-small.yaml"))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_bundled_language_model_at_two_layers_equals_transformers(write_spec, name):
    """The dropouts as the configs have them (p = 0.1, attention's included); batch 2, as training runs (at
    batch 1 GPT-2's V, a view of its packed c_attn output, keeps all of it: see the spec)."""
    from archcalc.backends.reference import compare

    result = compare(_small(write_spec, name), f"transformers:{name}({SMALL[name][1]})", batches=(2,))
    assert result.params[0] == result.params[1] and result.macs[0] == result.macs[1], (result.params, result.macs)
    assert result.output[0] == result.output[1]
    assert [(c.input, c.where) for c in result.saved] == [((16,), "cpu"), ((32,), "cpu")]
    assert all(abs(check.diff) <= 0.05 for check in result.saved), [(c.engine, c.measured) for c in result.saved]
    if name != "mixtral-8x7b":  # its experts: one stacked tensor per projection in transformers (below)
        assert (result.tensors, result.layers) == ((), ()) and result.ok


def _tensors(module, shape_of=lambda owner, tensor: tuple(tensor.shape)):
    """Each parameter once (a tied one too), by its module's name: (name, shape as the engine writes it)."""
    return [(name, shape_of(module.get_submodule(name.rpartition(".")[0]), p)) for name, p in module.named_parameters()]


@pytest.mark.parametrize("name", ["gpt2", "bert-base", "llama-3-8b"])
def test_full_size_parameter_tensors_are_the_models_one_for_one(name):
    from archcalc.backends.reference import oracle, reference_model, tensors
    from archcalc.backends.torch import build

    network = load(name)
    ours, seen = [], set()  # each layer's tensors, a tied weight once (as verify --against lists them)
    for node, module in build(network, input_shape=(16,), device="meta").nodes().items():
        for leaf, p in module.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                ours.append(tensors.Tensor(node, node, leaf.rpartition(".")[2], tuple(p.shape)))
    theirs = [tensors.model_tensor(n, s) for n, s in _tensors(reference_model(network.reference),
                                                               oracle(network.reference).shape_of)]
    owners, extra, left = tensors.match(ours, theirs)
    assert (extra, left) == ([], []) and owners
    assert sum(map(_elements, (t.shape for t in ours))) == sum(map(_elements, (t.shape for t in theirs)))


def _elements(shape) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def test_mixtrals_experts_hold_transformers_stacked_tensors():
    """transformers stacks its 8 experts' gate and up projections into one E×2F×D tensor per layer, their
    down projections into one E×D×F; the spec's experts hold them apart: the same elements, layer by layer,
    and every other tensor one for one."""
    from archcalc.backends.reference import reference_model, tensors
    from archcalc.backends.torch import build

    network = load("mixtral-8x7b")
    ours = _tensors(build(network, input_shape=(16,), device="meta"))
    theirs = _tensors(reference_model("transformers:mixtral-8x7b"))
    e, f, d, layers = 8, 14336, 4096, 32
    stacked = [shape for n, shape in theirs if ".mlp.experts." in n]
    assert stacked == [(e, 2 * f, d), (e, d, f)] * layers
    experts = [shape for n, shape in ours if ".experts." in n]
    assert sorted(experts) == sorted([(f, d), (f, d), (d, f)] * e * layers)  # w1, w3 and w2 of every expert
    rest = lambda held, word: [tensors.model_tensor(n, s) for n, s in held if word not in n]  # noqa: E731
    _, extra, left = tensors.match(rest(ours, ".experts."), rest(theirs, ".mlp.experts."))
    assert (extra, left) == ([], [])
