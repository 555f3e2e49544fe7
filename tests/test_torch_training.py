"""Mixed precision and checkpointing measured: torch.autocast and torch.utils.checkpoint against the engine."""

from __future__ import annotations

import json

import pytest

from conftest import torch_or_fail
from helpers import network_of


@pytest.fixture(autouse=True)
def _torch():
    torch_or_fail()


# batch 1 runs for real on the CPU; batch 8, past the real-run limit, on fake CPU tensors
@pytest.mark.parametrize("net, regime", [
    ("resnet50", ["--precision", "amp-bf16"]),
    ("vgg16", ["--precision", "amp-bf16"]),  # the slowest test: CPUs without bf16 units emulate its convs
    ("vit-b16", ["--precision", "amp-bf16"]),
    ("resnet50", ["--checkpoint", "every-block"]),
    ("vgg16", ["--checkpoint", "5"]),  # VGG-16's spec has no blocks: five segments, as checkpoint_sequential cuts
    ("vit-b16", ["--checkpoint", "every-block"]),
])
def test_autocast_and_checkpoint_measured_within_five_percent(cli, net, regime):
    ran = cli("verify", net, *regime, "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    (result,) = json.loads(ran.out)
    assert result["ok"] and not result["mismatches"]
    assert [(s["batch"], s["on"]) for s in result["saved"]] == [(1, "cpu"), (8, "fake")]
    for check in result["saved"]:
        assert check["measured"] is not None and abs(check["diff"]) <= 0.05, check
        if regime[0] == "--checkpoint":  # what the forward keeps, and the largest segment run again, each
            again = check["recompute"]
            assert abs(again["engine"] - again["measured"]) <= 0.05 * again["measured"]
            kept = (check["engine"] - again["engine"], check["measured"] - again["measured"])
            assert abs(kept[0] - kept[1]) <= 0.05 * kept[1]


TINY_VIT = """
version: 1
name: tiny-vit
input: [3, 32, 32]
blocks:
  encoder:
    layers:
      - add:
          - - layernorm: {eps: 1e-6, name: ln_1}
            - attention: {heads: 4}
          - []
      - add:
          - - layernorm: {eps: 1e-6, name: ln_2}
            - linear: {out: 128, act: gelu, name: mlp_0}
            - linear: {out: 64, name: mlp_3}
          - []
layers:
  - conv: {out: 64, k: 8, s: 8}
  - tokens:
  - class_token:
  - pos_embed:
  - encoder:
    repeat: 2
  - layernorm: {eps: 1e-6}
  - token: 0
  - linear: 10
"""


def test_fake_tensors_measure_what_the_cpu_does(cli, write_spec):
    """Fake CPU tensors pick the CPU's kernels (attention's fused one included) and its autocast: their
    bytes equal a real run's, node by node."""
    spec = write_spec(TINY_VIT)
    plans = ["--precision", "amp-bf16", "--checkpoint", "every-block", "--batch", "1", "--batch", "3", "--nodes"]
    real, fake = (json.loads(cli("verify", spec, *plans, "--real-limit", limit, "-f", "json").out)[0]["saved"][1]
                  for limit in ("1T", "1"))
    assert (real["on"], fake["on"]) == ("cpu", "fake")
    assert fake["measured"] == real["measured"] and fake["recompute"] == real["recompute"]
    assert fake["nodes"] == real["nodes"]


BLOCKS = """
version: 1
name: conv-blocks
input: [3, 16, 16]
blocks:
  pair:
    add:
      - - conv: {out: 8, k: 3, p: 1, act: relu}
        - conv: {out: 8, k: 3, p: 1}
      - []
    act: relu
layers:
  - conv: {out: 8, k: 3, p: 1, act: relu}
  - pair:
    repeat: 3
  - avgpool: global
  - fc: 5
"""


def test_a_checkpointed_module_computes_the_same_values_and_gradients():
    torch = torch_or_fail()
    from archcalc.backends.torch import build
    from archcalc.segments import cut

    net = network_of(BLOCKS)
    plain, checkpointed = build(net), build(net)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.checkpoint(cut(net, "every-block"))
    x = torch.randn(2, 3, 16, 16)
    outputs = [module(x) for module in (plain, checkpointed)]
    for out in outputs:
        out.square().sum().backward()
    assert torch.allclose(outputs[0], outputs[1])
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


SEQUENTIAL = """
version: 1
name: plain-stack
input: [3, 16, 16]
layers:
  - conv: {out: 8, k: 3, p: 1, act: relu}
    repeat: 2
  - maxpool: 2
  - conv: {out: 16, k: 3, p: 1, act: relu}
    repeat: 3
  - maxpool: 2
  - flatten:
  - fc: {out: 32, act: relu}
  - fc: 5
"""


@pytest.mark.parametrize("segments", [2, 3, 4])
def test_n_segments_are_checkpoint_sequentials(segments):
    """N segments keep what torch.utils.checkpoint.checkpoint_sequential keeps on the same layers."""
    torch = torch_or_fail()
    from torch.utils.checkpoint import checkpoint_sequential

    from archcalc import analyze
    from archcalc.backends.measure import saved_bytes
    from archcalc.backends.torch import build

    net = network_of(SEQUENTIAL)
    stack = torch.nn.Sequential(*build(net).nodes().values()).train()
    with saved_bytes(stack, lambda: "") as kept:
        checkpoint_sequential(stack, segments, torch.randn(4, 3, 16, 16), use_reentrant=False)
    assert analyze(net, 4, checkpoint=segments).totals.train_saved_bytes == sum(kept.values())
