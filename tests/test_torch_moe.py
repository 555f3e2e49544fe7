"""The moe kind's torch facet, built and run: parameters, shapes, routing as Mixtral's (against transformers'
MixtralSparseMoeBlock with the same weights), and verify's figures, saved bytes included."""

from __future__ import annotations

import pytest

from conftest import module_or_fail, torch_or_fail
from helpers import network_of

T, D, F, E, K = 12, 32, 48, 4, 2  # tokens, features, the expert's hidden width, experts, top

SWIGLU = f"""
    name: swiglu-moe
    input: {{tokens: {T}, dim: {D}}}
    blocks:
      expert:
        layers:
          - mul:
              - [linear: {{out: {F}, bias: false, act: silu}}]
              - [linear: {{out: {F}, bias: false}}]
          - linear: {{out: {D}, bias: false}}
      layer:
        add:
          - []
          - [layernorm: {{}}, moe: {{experts: {E}, top: {K}, body: expert}}]
    layers:
      - layer: {{}}
        repeat: 2
"""
MOE = "layer1.branch2.moe1"


@pytest.fixture(autouse=True)
def _torch():
    torch_or_fail()


def _built():
    from archcalc.backends.torch import build

    return build(network_of(SWIGLU))


def test_every_expert_is_a_module_of_its_own():
    module = _built()
    experts = 3 * D * F  # w1, w3 and w2
    assert sum(p.numel() for p in module.parameters()) == 2 * (2 * D + D * E + E * experts)
    assert len(module.node(f"{MOE}.experts.mul1.branch1.linear1")) == E
    assert len(module.node(f"{MOE}.experts.mul1")) == 1  # no weights: one module on all routed tokens
    assert tuple(module.node(f"{MOE}.router").weight.shape) == (E, D)


def test_it_runs_forward_and_backward():
    module = _built()
    x = module.example_input(3)
    y = module(x)
    assert tuple(y.shape) == (3, T, D)
    y.square().sum().backward()
    router = module.node(f"{MOE}.router").weight
    assert router.grad is not None and router.grad.abs().sum() > 0
    assert all(w.grad is not None for expert in _experts(module) for w in expert)


def _experts(module):
    """Each expert's (w1, w3, w2) weights: the gated branch's, the other branch's, the output's."""
    copies = (module.node(f"{MOE}.experts.{node}") for node in ("mul1.branch1.linear1", "mul1.branch2.linear1", "linear1"))
    return [tuple(next(m.parameters()) for m in expert) for expert in zip(*copies)]


def _mixture(module, x):
    """The first mixture alone, node by node as the network runs it: router, body, combine."""
    node = module.node
    routed = node(f"{MOE}.router")(x)
    gated = node(f"{MOE}.experts.mul1")(node(f"{MOE}.experts.mul1.branch1.linear1")(routed),
                                        node(f"{MOE}.experts.mul1.branch2.linear1")(routed))
    return node(f"{MOE}.combine")(node(f"{MOE}.experts.linear1")(gated))


def test_the_routing_is_top_k_of_a_softmax_renormalised():
    import torch

    module = _built()
    router = module.node(f"{MOE}.router")
    experts = _experts(module)
    x = torch.randn(2, T, D)
    with torch.no_grad():
        got = _mixture(module, x)
        expected = torch.zeros_like(x)
        probs = torch.softmax(x @ router.weight.T, dim=-1)
        for b in range(2):
            for t in range(T):
                top, chosen = probs[b, t].topk(K)
                for weight, e in zip(top / top.sum(), chosen.tolist()):
                    w1, w3, w2 = experts[e]
                    token = x[b, t]
                    expected[b, t] += weight * (w2 @ (torch.nn.functional.silu(w1 @ token) * (w3 @ token)))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_it_computes_what_mixtrals_sparse_moe_block_does():
    import torch

    transformers = module_or_fail("transformers")
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    config = transformers.MixtralConfig(hidden_size=D, intermediate_size=F, num_local_experts=E, num_experts_per_tok=K)
    theirs = MixtralSparseMoeBlock(config).eval()
    ours = _built()
    for weight in (theirs.gate.weight, theirs.experts.gate_up_proj, theirs.experts.down_proj):  # made empty
        torch.nn.init.normal_(weight, std=0.1)
    with torch.no_grad():
        ours.node(f"{MOE}.router").weight.copy_(theirs.gate.weight)
        for e, (w1, w3, w2) in enumerate(_experts(ours)):
            w1.copy_(theirs.experts.gate_up_proj[e, :F])
            w3.copy_(theirs.experts.gate_up_proj[e, F:])
            w2.copy_(theirs.experts.down_proj[e])
        x = torch.randn(2, T, D)
        got = _mixture(ours, x)
        torch.testing.assert_close(got, theirs(x), rtol=1e-5, atol=1e-5)


def test_verify_finds_every_figure_equal_and_the_saved_bytes_exact():
    from archcalc.backends.verify import verify

    for checkpoint in (None, "every-block", 3):
        result = verify(network_of(SWIGLU), checkpoint=checkpoint)
        assert result.ok and not result.mismatches, checkpoint
        assert all(check.measured == check.engine for check in result.saved), checkpoint


def test_on_the_meta_device_the_tokens_are_shared_evenly():
    import torch

    from archcalc.backends.torch import build

    module = build(network_of(SWIGLU), device="meta")
    routed = module.node(f"{MOE}.router")(torch.empty(3, T, D, device="meta"))
    assert routed.counts == (3 * K * T // E,) * E
    assert tuple(module(module.example_input(3, device="meta")).shape) == (3, T, D)
