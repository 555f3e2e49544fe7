"""The lstm and gru facets built and run as real modules, against torch.nn.LSTM and nn.GRU: parameters, shapes,
MACs (FlopCounterMode, taught oneDNN's LSTM layer) and the bytes autograd keeps (`archcalc verify`)."""

from __future__ import annotations

import json

import pytest

from conftest import torch_or_fail
from helpers import network_of, row_of


@pytest.fixture(scope="module")
def torch():
    return torch_or_fail()


CASES = [  # (layer, input S×D, torch's module and its keyword arguments)
    ("lstm: 32", [12, 20], "LSTM", {}),
    ("lstm: {hidden: 24, layers: 3, dropout: 0.25}", [10, 16], "LSTM", {"num_layers": 3, "dropout": 0.25}),
    ("lstm: {hidden: 16, layers: 2, bidirectional: true, bias: false}", [8, 12], "LSTM",
     {"num_layers": 2, "bidirectional": True, "bias": False}),
    ("gru: 32", [12, 20], "GRU", {}),
    ("gru: {hidden: 24, layers: 2, bidirectional: true}", [10, 16], "GRU", {"num_layers": 2, "bidirectional": True}),
]


@pytest.mark.parametrize("layer, shape, module, options", CASES, ids=[c[0] for c in CASES])
def test_facet_is_torchs_module_with_its_parameters_and_shape(torch, layer, shape, module, options):
    from archcalc.backends.torch import build

    net = network_of(f"input: {shape}\nlayers:\n  - {layer}\n")
    row = row_of(layer, shape)
    hidden = row.output[-1] // (2 if options.get("bidirectional") else 1)
    reference = getattr(torch.nn, module)(shape[1], hidden, batch_first=True, **options)
    built = build(net).node(row.name)
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in reference.parameters()) == row.params
    assert [p.shape for p in built.rnn.parameters()] == [p.shape for p in reference.parameters()]
    out = built(torch.randn(3, *shape))
    assert tuple(out.shape) == (3, *row.output) == (3, *reference(torch.randn(3, *shape))[0].shape[1:])


@pytest.mark.parametrize("layer, shape, module, options", CASES, ids=[c[0] for c in CASES])
def test_flop_counter_counts_the_rules_macs(torch, layer, shape, module, options):
    from archcalc.backends.measure import flop_counter

    row = row_of(layer, shape)
    hidden = row.output[-1] // (2 if options.get("bidirectional") else 1)
    reference = getattr(torch.nn, module)(shape[1], hidden, batch_first=True, **options)
    with flop_counter() as counter:
        reference(torch.randn(2, *shape))
    assert counter.get_total_flops() == 2 * 2 * row.macs


SMALL_LSTM = """
version: 1
name: small-lstm
input: [32, 64]
layers:
  - lstm: {hidden: 128, layers: 2, dropout: 0.5}
  - dropout: 0.5
  - linear: 10
"""

SMALL_GRU = SMALL_LSTM.replace("lstm", "gru")


@pytest.mark.parametrize("spec", [SMALL_LSTM, SMALL_GRU], ids=["lstm", "gru"])
def test_verify_small_recurrent_network(cli, write_spec, torch, spec):
    ran = cli("verify", write_spec(spec), "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    (result,) = json.loads(ran.out)
    assert result["ok"] and not result["mismatches"], result
    assert [(s["batch"], s["on"]) for s in result["saved"]] == [(1, "cpu"), (8, "cpu")]
    for check in result["saved"]:
        assert abs(check["diff"]) <= 0.05, check
