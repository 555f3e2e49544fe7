"""The bundled mixtral-8x7b against transformers' MixtralForCausalLM(MixtralConfig()), built on the meta device:
total and active parameters, from the model's own tensors."""

from __future__ import annotations

import json

import pytest

from archcalc import analyze, catalog
from conftest import module_or_fail, torch_or_fail


@pytest.fixture(scope="module")
def mixtral():
    """(config, total parameters, active parameters) of transformers' Mixtral: active = total − (E − k)·one
    expert's, an expert's being the `experts` tensors' share of one of E."""
    torch = torch_or_fail()
    transformers = module_or_fail("transformers")
    config = transformers.MixtralConfig()
    with torch.device("meta"):
        model = transformers.MixtralForCausalLM(config)
    named = dict(model.named_parameters())
    total = sum(p.numel() for p in named.values())
    experts = sum(p.numel() for name, p in named.items() if ".mlp.experts." in name)
    e, k = config.num_local_experts, config.num_experts_per_tok
    return config, total, total - (e - k) * experts // e


def test_total_and_active_parameters_are_transformers(mixtral):
    _, total, active = mixtral
    totals = analyze("mixtral-8x7b").totals
    assert (totals.params, totals.active_params) == (total, active)
    assert (total, active) == (46_702_792_704, 12_879_925_248)  # the figures the issue gives


def test_each_mixture_routes_as_the_config_says(mixtral):
    config, _, _ = mixtral
    routers = [row for row in analyze("mixtral-8x7b").rows if row.kind == "moe"]
    assert len(routers) == config.num_hidden_layers
    assert {(row.args["experts"], row.args["top"]) for row in routers} == {(config.num_local_experts,
                                                                          config.num_experts_per_tok)}
    assert {row.params for row in routers} == {config.hidden_size * config.num_local_experts}


def test_our_module_on_the_meta_device_holds_as_many(mixtral):
    from archcalc.backends.torch import build

    _, total, _ = mixtral
    module = build(catalog.load("mixtral-8x7b"), input_shape=(16,), device="meta")
    assert sum(p.numel() for p in module.parameters()) == total


def test_list_shows_active_parameters_where_they_differ(cli, mixtral):
    _, total, active = mixtral
    listed = {n["name"]: n for n in json.loads(cli("list", "--format", "json").out)}
    assert listed["mixtral-8x7b"]["active_params"] == analyze("mixtral-8x7b").totals.active_params
    assert listed["vgg16"]["active_params"] == listed["vgg16"]["params"]
    line = next(line for line in cli("list").out.splitlines() if line.startswith("mixtral-8x7b"))
    assert f"{total:,} ({active:,} active)" in line
    assert "active" not in next(line for line in cli("list").out.splitlines() if line.startswith("vgg16 "))
