"""Training plans on paper: precision regimes, autocast's types, checkpointing, sharding (ZeRO) and headroom.

Every expected figure is worked from the spec's own sizes, as a hand
calculation would; the sharding figures from the ZeRO paper's formulas.
"""

from __future__ import annotations

import pytest

from archcalc import analyze
from archcalc.errors import ArchcalcError
from archcalc.fit import DEFAULT_HEADROOM, Headroom, largest_batch, needed
from archcalc.plan import Plan
from archcalc.segments import cut
from archcalc.sizes import at as evaluated_at
from archcalc.symbolic import Expr
from helpers import network_of, report_of

# conv (bn, relu) → maxpool → flatten → fc → softmax, at 3×8×8: small enough to count by hand
MIXED = """
version: 1
name: mixed
input: [3, 8, 8]
layers:
  - conv: {out: 4, k: 3, p: 1, bn: true, act: relu, name: c1}
  - maxpool: {k: 2, name: p1}
  - flatten: {name: f}
  - fc: {out: 10, name: fc}
  - softmax: {name: prob}
"""
IMAGE, MAP, POOLED, CLASSES = 3 * 8 * 8, 4 * 8 * 8, 4 * 4 * 4, 10
CONV_WEIGHTS, FC_WEIGHTS = 3 * 3 * 3 * 4, POOLED * CLASSES
BN_STATS = 2 * 4 * 4  # mean and 1/σ per channel, float32, whatever the batch


def saved_by(report) -> dict[tuple[str, int], int]:
    return {(what, size): b for what, size, b in report.totals.saved_by}


@pytest.mark.parametrize("batch", [1, 5])
def test_autocast_types_each_saved_tensor_by_cudas_lists(batch):
    report = report_of(MIXED, batch=batch, precision="amp-bf16")
    # the conv reads a bfloat16 copy of the float32 image; its raw product, BN's result (relu in place)
    # and the fc's input (the pooled map) are bfloat16; max-pool indices int64; softmax float32 on CUDA
    assert saved_by(report) == {
        ("activations", 2): (IMAGE + MAP + MAP + POOLED) * 2 * batch,
        ("activations", 4): BN_STATS + CLASSES * 4 * batch,
        ("activations", 8): POOLED * 8 * batch,
        ("weight copies", 2): (CONV_WEIGHTS + FC_WEIGHTS) * 2,
    }
    assert report.totals.train_saved_bytes == sum(saved_by(report).values())


def test_the_cpus_autocast_keeps_softmax_in_the_low_precision():
    cuda, cpu = (saved_by(report_of(MIXED, batch=2, precision="amp-bf16", device=d)) for d in ("cuda", "cpu"))
    assert cpu[("activations", 4)] == cuda[("activations", 4)] - CLASSES * 4 * 2 == BN_STATS
    assert cpu[("activations", 2)] == cuda[("activations", 2)] + CLASSES * 2 * 2


def test_a_convolution_keeps_its_weight_copy_a_first_fc_does_not():
    conv_first = report_of(MIXED, precision="amp-fp16")
    fc_first = report_of("input: [64]\nlayers:\n  - fc: {out: 10}\n  - fc: {out: 3}\n", precision="amp-fp16")
    assert saved_by(conv_first)[("weight copies", 2)] == (CONV_WEIGHTS + FC_WEIGHTS) * 2
    # a matrix product keeps each factor for the other's gradient: the first fc's input needs none
    assert saved_by(fc_first)[("weight copies", 2)] == 10 * 3 * 2


def test_precisions_price_weights_gradients_and_state():
    params = report_of(MIXED).totals.params
    trained = report_of(MIXED).totals.trainable_params
    plain = report_of(MIXED, optimizer="adam").train_breakdown()
    amp = report_of(MIXED, optimizer="adam", precision="amp-bf16").train_breakdown()
    pure = report_of(MIXED, optimizer="adam", precision="bf16").train_breakdown()
    assert (plain["parameters"], plain["gradients"], plain["adam state"]) == (4 * params, 4 * trained, 8 * trained)
    # mixed precision keeps float32 master weights, gradients and moments; bf16 halves everything
    assert (amp["master weights"], amp["gradients"], amp["adam state"]) == (4 * params, 4 * trained, 8 * trained)
    assert (pure["parameters"], pure["gradients"], pure["adam state"]) == (2 * params, 2 * trained, 4 * trained)
    assert report_of(MIXED, precision="bf16").train_total_bytes < report_of(MIXED).train_total_bytes


def test_a_precision_and_a_dtype_together_are_refused():
    with pytest.raises(ArchcalcError, match="precision or a dtype"):  # the API's refusals are ArchcalcErrors
        report_of(MIXED, dtype="bfloat16", precision="amp-bf16")


# ── checkpointing ────────────────────────────────────────────────────────────────────────

BLOCKS = """
version: 1
name: blocks
input: [8]
blocks:
  mlp:
    layers:
      - fc: {out: 16, act: relu}
      - fc: {out: 8}
layers:
  - fc: {out: 8, name: stem}
  - mlp:
    repeat: 3
    name: block
  - fc: {out: 2, name: head}
"""


@pytest.mark.parametrize("batch", [1, 7])
def test_every_block_keeps_block_inputs_and_runs_the_largest_again(batch):
    plain = report_of(BLOCKS, batch=batch)
    checkpointed = report_of(BLOCKS, batch=batch, checkpoint="every-block")
    # plain: the stem's input, each block's input and its hidden relu (16), the head's input
    assert plain.totals.train_saved_bytes == (8 + 3 * (8 + 16) + 8) * 4 * batch
    # checkpointed: the stem's input, the three block inputs, the head's input; a block run again keeps its relu
    assert checkpointed.totals.train_saved_bytes == (8 + 3 * 8 + 8) * 4 * batch
    assert checkpointed.totals.recompute_bytes == 16 * 4 * batch
    assert checkpointed.totals.recompute_macs == 3 * (8 * 16 + 16 * 8)
    assert checkpointed.totals.train_step_macs == plain.totals.train_step_macs + 3 * (8 * 16 + 16 * 8)
    assert checkpointed.train_breakdown()["recomputed activations"] == 16 * 4 * batch


def test_segments_cut_like_checkpoint_sequential():
    net = network_of(BLOCKS)  # 8 layers: stem, 3 × (fc, fc), head
    assert cut(net, "every-block") == (range(1, 3), range(3, 5), range(5, 7))
    size = len(net.layers) // 3  # checkpoint_sequential: ⌊8/3⌋ layers each, the last segment unchecked
    assert cut(net, 3) == (range(0, size), range(size, 2 * size))
    assert cut(net, 1) == () and cut(net, None) == ()
    with pytest.raises(ArchcalcError, match="at most 8 segments"):
        cut(net, 9)
    with pytest.raises(ArchcalcError, match="no blocks to checkpoint"):
        cut(network_of(MIXED), "every-block")


def test_a_symbolic_plan_evaluates_to_the_concrete_one():
    net = network_of(BLOCKS.replace("input: [8]", "input: [3, H, W]").replace("fc: {out: 8, name: stem}",
                                                                                 "conv: {out: 8, k: 3, name: stem}"))
    symbolic = analyze(net, 4, input_shape=(3, Expr.var("H"), Expr.var("W")), precision="amp-bf16",
                       checkpoint="every-block")
    concrete = analyze(net, 4, input_shape=(3, 20, 24), precision="amp-bf16", checkpoint="every-block")
    evaluated = evaluated_at(symbolic, {"H": 20, "W": 24}, net)
    assert evaluated.totals == concrete.totals
    assert needed(evaluated, True, headroom=DEFAULT_HEADROOM) == needed(concrete, True, headroom=DEFAULT_HEADROOM)


# ── sharding: the ZeRO paper's worked example ────────────────────────────────────────────

# Rajbhandari et al. 2020, Figure 1: a 7.5B-parameter model, Adam, mixed precision (K = 12: float32
# master weights, momentum and variance), 64 devices: 120 GB, 31.4 GB, 16.6 GB, 1.9 GB per device.
PSI, K, DEVICES = 7_500_000_000, 12, 64
SEVEN_AND_A_HALF_BILLION = "version: 1\nname: zero\ninput: [50000]\nlayers:\n  - fc: {out: 150000, bias: no}\n"
MODEL_STATES = ("parameters", "master weights", "weights", "gradients", "adam state")


def model_states_per_device(shard: str) -> int:
    plan = Plan(precision="amp-fp16", optimizer="adam", devices=DEVICES, shard=shard)
    report = plan.analyze(network_of(SEVEN_AND_A_HALF_BILLION), 1)
    assert report.totals.trainable_params == PSI
    return sum(part.bytes for part in plan.parts(report) if part.tensor in MODEL_STATES)


@pytest.mark.parametrize("shard, formula", [
    ("none", (2 + 2 + K) * PSI),  # baseline data parallelism
    ("optimizer", 2 * PSI + 2 * PSI + K * PSI // DEVICES),  # P_os
    ("gradients", 2 * PSI + (2 + K) * PSI // DEVICES),  # P_os+g
    ("parameters", (2 + 2 + K) * PSI // DEVICES),  # P_os+g+p
])
def test_zero_stages_divide_as_the_paper_does(shard, formula):
    assert model_states_per_device(shard) == formula


def test_stage_three_gathers_the_largest_layer_while_it_runs():
    plan = Plan(precision="amp-fp16", optimizer="adam", devices=DEVICES, shard="parameters")
    gathered = [p for p in plan.parts(plan.analyze(network_of(SEVEN_AND_A_HALF_BILLION), 1))
                if p.tensor == "gathered weights"]
    assert [(p.dtype, p.bytes) for p in gathered] == [("float16", 2 * PSI)]


# ── fitting with headroom ────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("plan", [Plan(optimizer="adam"), Plan("amp-bf16", "adam", "every-block"),
                                  Plan("bf16", "momentum", 2, accumulate=4, devices=8, shard="gradients")])
def test_fit_leaves_the_headroom(plan):
    net = network_of(BLOCKS.replace("input: [8]", "input: [3000]"))
    room = Headroom(reserve=64 * 2**20, fragmentation=25)
    budget = 512 * 2**20
    fit = largest_batch(net, budget, train=True, plan=plan, headroom=room)

    def total(batch: int) -> int:
        tensors = sum(p.bytes for p in plan.parts(plan.analyze(net, batch)))
        return tensors + -(-tensors * 25 // 100) + 64 * 2**20

    assert total(fit.batch) <= budget < total(fit.batch + 1)
    assert needed(fit.at_batch, True, plan, room) == fit.step.bytes == total(fit.batch)
    assert [p.tensor for p in fit.step.parts][-2:] == ["fragmentation allowance", "reserve"]
    assert plan.samples(fit.batch) == fit.batch * plan.accumulate * plan.devices
