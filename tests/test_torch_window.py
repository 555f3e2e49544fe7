"""Swin's window attention and patch merging, built by archcalc's torch backend, against torchvision's own
ShiftedWindowAttention and PatchMerging: parameter tensors, buffer, output, MACs and saved bytes."""

from __future__ import annotations

import pytest

from archcalc import analyze
from archcalc.backends.measure import flop_counter, saved_bytes
from conftest import module_or_fail, torch_or_fail
from helpers import network_of

# (H, W, C, heads, window, shift): windows that tile the map, a map padded to them, a map smaller than one
# window (padded to it, the shift dropped), an axis of one window (shifted along the other only), no shift
SHAPES = [(14, 14, 32, 2, 7, 3), (10, 12, 32, 2, 7, 3), (4, 4, 32, 2, 7, 3), (14, 7, 24, 3, 7, 3), (9, 16, 24, 3, 4, 0)]


@pytest.fixture(scope="module")
def torch():
    return torch_or_fail()


@pytest.fixture(scope="module")
def swin(torch):
    module_or_fail("torchvision", "pip install torchvision, of the release made for your torch")
    from torchvision.models import swin_transformer

    return swin_transformer


def _node(layer: str, shape: tuple[int, ...]):
    """The report row and the torch module archcalc builds for one layer over an H×W×C input."""
    from archcalc.backends.torch import build

    network = network_of(f"input: {list(shape)}\nlayers:\n  - {layer}\n")
    module = build(network)
    (name,) = (layer.name for layer in network.layers)
    return analyze(network).rows[0], module.node(name)


def _macs(module, x) -> int:
    with flop_counter() as counter:
        module(x)
    return counter.get_total_flops() // 2 // x.shape[0]


def _saved(module, x) -> int:
    with saved_bytes(module, lambda: "") as per:
        module(x)
    return sum(per.values())


@pytest.mark.parametrize("h, w, c, heads, window, shift", SHAPES)
def test_window_attention_is_torchvision_s(torch, swin, h, w, c, heads, window, shift):
    row, ours = _node(f"window_attention: {{heads: {heads}, window: {window}, shift: {shift}}}", (h, w, c))
    theirs = swin.ShiftedWindowAttention(c, [window, window], [shift, shift], heads)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert torch.equal(ours.relative_position_index, theirs.relative_position_index)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, h, w, c, requires_grad=True)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    assert row.macs == _macs(ours, x) == _macs(theirs, x)
    assert (row.params, row.buffers) == (sum(p.numel() for p in theirs.parameters()),
                                         sum(b.numel() for b in theirs.buffers()))
    # batch 2: several windows, so that K and V are copies (see the rule); the input is kept by no one here
    assert 2 * row.saved_bytes == _saved(ours, x * 1.0) == _saved(theirs, x * 1.0)


def test_window_attention_without_biases(torch, swin):
    row, ours = _node("window_attention: {heads: 2, window: 4, shift: 2, bias: false}", (8, 8, 16))
    theirs = swin.ShiftedWindowAttention(16, [4, 4], [2, 2], 2, qkv_bias=False, proj_bias=False)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 8, 8, 16)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    assert row.params == 4 * 16 * 16 + (2 * 4 - 1) ** 2 * 2


@pytest.mark.parametrize("h, w, c", [(8, 8, 16), (7, 9, 16)])
def test_patch_merging_is_torchvision_s(torch, swin, h, w, c):
    row, ours = _node("patch_merging:", (h, w, c))
    theirs = swin.PatchMerging(c)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, h, w, c, requires_grad=True)
    out = ours(x)
    assert torch.allclose(out, theirs(x), atol=1e-5)
    assert tuple(out.shape[1:]) == row.output
    assert row.macs == _macs(ours, x) == _macs(theirs, x)
    assert 2 * row.saved_bytes == _saved(ours, x * 1.0) == _saved(theirs, x * 1.0)


SMALL_SWIN = """
version: 1
name: small-swin
input: [3, 40, 44]
layers:
  - conv: {out: 16, k: 4, s: 4}                                # 16×10×11
  - permute: [1, 2, 0]                                          # 10×11×16
  - layernorm:
  - window_attention: {heads: 2, window: 4, shift: 2}          # padded to 12×12
  - patch_merging:                                              # 5×6×32 (11 padded by one)
  - window_attention: {heads: 4, window: 4, shift: 2}          # padded to 8×8
  - layernorm:
  - permute: [2, 0, 1]
  - avgpool: global
  - flatten:
  - fc: 10
"""


@pytest.mark.parametrize("precision", [None, "amp-bf16"])
def test_a_small_swin_verifies_exactly(torch, precision):
    """archcalc's build of a network of both kinds, against the engine node by node: shapes, parameters,
    buffers, MACs and the bytes autograd saves, at batch 1 and 3; under autocast too, where the scores are
    float32 (Q·Kᵀ plus the float32 bias table) and their bfloat16 copy is kept for the weighted sum of V."""
    from archcalc.backends.verify import verify

    result = verify(network_of(SMALL_SWIN), batches=(1, 3), precision=precision)
    assert result.mismatches == ()
    assert [(c.where, c.engine) for c in result.saved] == [("cpu", c.measured) for c in result.saved]
