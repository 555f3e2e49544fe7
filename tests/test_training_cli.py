"""Training plans through the real command line: fit and compare under precision, checkpointing, sharding, headroom."""

from __future__ import annotations

import json
import re

import pytest

from archcalc import analyze, load
from archcalc.fit import DEFAULT_HEADROOM, needed
from archcalc.plan import Plan
from archcalc.units import format_bytes

GiB = 2**30


def fitted(ran) -> int:
    assert ran.code == 0, ran.err
    return int(re.search(r"batch ([\d,]+)(?: per device)? is the largest", ran.out).group(1).replace(",", ""))


def test_fit_resnet50_under_amp_with_checkpointing(cli):
    ran = cli("fit", "resnet50", "--memory", "24GiB", "--train", "--optimizer", "adam", "--precision", "amp-bf16",
              "--checkpoint", "every-block")
    batch = fitted(ran)
    plan, net = Plan("amp-bf16", "adam", "every-block"), load("resnet50")

    def need(b: int) -> int:
        return needed(plan.analyze(net, b), True, plan, DEFAULT_HEADROOM)

    assert need(batch) <= 24 * GiB < need(batch + 1)
    lines = ran.out.splitlines()
    for tensor, dtype in (("saved activations", "bfloat16"), ("saved activations", "float32"),
                          ("saved activations", "int64"), ("weight copies", "bfloat16"),
                          ("recomputed activations", "mixed"), ("master weights", "float32"),
                          ("gradients", "float32"), ("adam state", "float32")):
        assert any(line.split()[:len(tensor.split()) + 1] == [*tensor.split(), dtype] for line in lines), tensor
    assert "fragmentation allowance" in ran.out and "reserve 1.0 GiB" in ran.out
    assert f"batch {batch + 1:,}: " in ran.out and "does not fit" in ran.out
    assert "forward again (checkpointing)" in ran.out


def test_mixed_precision_and_checkpointing_each_fit_a_larger_batch(cli):
    def batch(*plan: str) -> int:
        ran = cli("fit", "resnet50", "--memory", "24GiB", "--train", "--optimizer", "adam", *plan, "-f", "json")
        assert ran.code == 0, ran.err
        return json.loads(ran.out)["batch"]

    fp32, amp, both = batch(), batch("--precision", "amp-bf16"), batch("--precision", "amp-bf16", "--checkpoint",
                                                                       "every-block")
    assert fp32 < amp < both


def test_fit_vit_sharded_over_eight_devices(cli):
    ran = cli("fit", "vit-b16", "--memory", "80GiB", "--train", "--data-parallel", "8", "--shard", "parameters",
              "-f", "json")
    assert ran.code == 0, ran.err
    found = json.loads(ran.out)
    plan = Plan("fp32", "sgd", devices=8, shard="parameters")
    report = plan.analyze(load("vit-b16"), found["batch"])
    tensors = {part["tensor"]: part for part in found["at_batch"]["tensors"]}
    params = report.totals.params
    assert tensors["parameters"]["bytes"] == -(-4 * params // 8)
    assert tensors["gradients"]["bytes"] == -(-4 * report.totals.trainable_params // 8)
    assert tensors["gathered weights"]["bytes"] == 4 * max(row.params for row in report.rows)
    assert "sgd state" not in tensors  # no state for plain SGD
    assert found["samples_per_step"] == 8 * found["batch"]
    assert found["at_batch"]["bytes"] == needed(report, True, plan, DEFAULT_HEADROOM) <= 80 * GiB
    assert found["at_next"]["bytes"] > 80 * GiB and not found["at_next"]["fits"]
    text = cli("fit", "vit-b16", "--memory", "80GiB", "--train", "--data-parallel", "8", "--shard", "parameters").out
    assert "1/8 on each device" in text and f"{found['batch']:,} × 8 devices = {8 * found['batch']:,}" in text


def test_fit_json_names_every_tensor(cli):
    ran = cli("fit", "vgg16", "-m", "16GiB", "--train", "--precision", "amp-fp16", "--optimizer", "momentum",
              "--reserve", "512MiB", "--fragmentation", "5%", "--accumulate", "4", "-f", "json")
    assert ran.code == 0, ran.err
    found = json.loads(ran.out)
    assert (found["mode"], found["optimizer"], found["dtype"]) == ("train", "momentum", "amp-fp16")
    assert found["plan"] == {"precision": "amp-fp16", "checkpoint": None, "accumulate": 4, "data_parallel": 1,
                             "shard": "none"}
    assert found["headroom"] == {"reserve": 512 * 2**20, "fragmentation_percent": 5}
    parts = found["at_batch"]["tensors"]
    assert {(p["tensor"], p["dtype"]) for p in parts} >= {
        ("saved activations", "float16"), ("saved activations", "int64"), ("weight copies", "float16"),
        ("master weights", "float32"), ("gradients", "float32"), ("momentum state", "float32"),
        ("fragmentation allowance", ""), ("reserve", "")}
    tensors = sum(p["bytes"] for p in parts[:-2])
    assert parts[-2]["bytes"] == -(-tensors * 5 // 100) and parts[-1]["bytes"] == 512 * 2**20
    assert found["samples_per_step"] == 4 * found["batch"]
    by_name = found["at_batch"]["parts"]  # bytes by name, a tensor's dtype in brackets where it has several
    assert by_name["saved activations (float16)"] == next(p["bytes"] for p in parts if p["dtype"] == "float16"
                                                          and p["tensor"] == "saved activations")
    assert by_name["momentum state"] == next(p["bytes"] for p in parts if p["tensor"] == "momentum state")


def test_inference_fit_keeps_its_dtype_and_headroom(cli):
    ran = cli("fit", "vgg16", "-m", "8GB", "--dtype", "float16", "--reserve", "0", "--fragmentation", "0", "-f", "json")
    found = json.loads(ran.out)
    report = Plan().analyze(load("vgg16"), found["batch"], "float16")
    assert found["at_batch"]["bytes"] == needed(report, False) <= 8 * 10**9 < found["at_next"]["bytes"]
    assert found["plan"] is None and (found["mode"], found["dtype"]) == ("inference", "float16")
    assert found["budget_bytes"] == 8 * 10**9


@pytest.mark.parametrize("args, message", [
    (["fit", "vgg16", "-m", "8GiB", "--precision", "amp-bf16"], "error: --precision plans a training step: add --train"),
    (["fit", "vgg16", "-m", "8GiB", "--checkpoint", "2"], "error: --checkpoint plans a training step"),
    (["fit", "vgg16", "-m", "8GiB", "--train", "--dtype", "bfloat16"], "error: a training step takes --precision"),
    (["fit", "vgg16", "-m", "8GiB", "--train", "--shard", "optimizer"], "error: --shard optimizer divides among devices"),
    (["fit", "vgg16", "-m", "8GiB", "--train", "--precision", "fp8"], "error: --precision: expected fp32, amp-fp16"),
    (["fit", "vgg16", "-m", "8GiB", "--train", "--checkpoint", "0"], "error: --checkpoint: expected none, every-block"),
    (["fit", "vgg16", "-m", "8GiB", "--train", "--data-parallel", "0"], "error: --data-parallel: expected an integer"),
    (["fit", "vgg16", "-m", "8GiB", "--train", "--accumulate", "-1"], "error: --accumulate: expected an integer"),
    (["fit", "vgg16", "-m", "8GiB", "--fragmentation", "101"], "error: --fragmentation: expected a percentage"),
    (["compare", "vgg16", "vgg16", "vgg16", "--precision", "fp32,bf16"], "error: --precision gives 2 values for 3"),
    (["compare", "vgg16", "--shard", "gradients"], "error: --shard gradients divides among devices"),
    (["compare", "vgg16", "--precision", "bf16", "--dtype", "float16"], "error: --precision sets the type"),
])
def test_plan_usage_errors_are_one_line(cli, args, message):
    ran = cli(*args)
    assert ran.code == 2 and ran.err.startswith(message) and ran.err.count("\n") == 1, ran.err


def test_a_budget_the_reserve_eats_fits_nothing(cli):
    ran = cli("fit", "lenet5", "-m", "1GiB", "--reserve", "1GiB")
    assert ran.code == 1 and ran.err.count("\n") == 1
    assert f"lenet5 does not fit in {2**30:,} bytes even at batch 1" in ran.err
    assert f"of which {2**30:,} reserved and 10% for fragmentation" in ran.err
    assert cli("fit", "lenet5", "-m", "1GiB", "--reserve", "0").code == 0


def test_every_block_needs_blocks(cli):
    ran = cli("fit", "vgg16", "-m", "8GiB", "--train", "--checkpoint", "every-block")
    assert ran.code == 1 and "vgg16 has no blocks to checkpoint" in ran.err and ran.err.count("\n") == 1


def test_compare_puts_one_network_under_two_precisions(cli):
    ran = cli("compare", "resnet50", "resnet50", "--precision", "fp32,amp-bf16", "--batch", "32")
    assert ran.code == 0, ran.err
    assert re.search(r"resnet50 \(fp32\)\s+resnet50 \(amp-bf16\)", ran.out)
    data = json.loads(cli("compare", "resnet50", "resnet50", "--precision", "fp32,amp-bf16", "--batch", "32",
                          "-f", "json").out)
    for column, precision in zip(data["networks"], ("fp32", "amp-bf16")):
        plan = Plan(precision)
        assert column["plan"]["precision"] == precision
        assert column["totals"]["train_total_bytes"] == sum(
            p.bytes for p in plan.parts(plan.analyze(load("resnet50"), 32)))
    fp32, amp = data["networks"]
    assert amp["ratio_to_first"]["train_total_bytes"] < 1


def test_compare_checkpointing_counts_the_forward_run_again(cli):
    data = json.loads(cli("compare", "vit-b16", "--checkpoint", "none,every-block", "-f", "json").out)
    plain, checkpointed = data["networks"]
    net = load("vit-b16")
    in_blocks = sum(row.macs for layer, row in zip(net.layers, analyze(net).rows) if layer.block)
    assert checkpointed["totals"]["recompute_macs"] == in_blocks > 0
    assert checkpointed["totals"]["train_step_macs"] == plain["totals"]["train_step_macs"] + in_blocks
    assert checkpointed["totals"]["train_total_bytes"] < plain["totals"]["train_total_bytes"]


def test_fit_at_a_batch_says_whether_it_fits_with_every_part_and_the_margin(cli):
    args = ("fit", "resnet50-tv", "--memory", "24GiB", "--train", "--precision", "amp-fp16", "--batch", "256")
    ran = cli(*args)
    assert ran.code == 0, ran.err
    plan = Plan("amp-fp16")
    report = plan.analyze(load("resnet50-tv"), 256)
    parts = [*plan.parts(report)]
    step = needed(report, True, plan, DEFAULT_HEADROOM)
    assert ran.out.startswith("resnet50-tv: batch 256 fits 24.0 GiB for a training step (sgd, amp-fp16)")
    assert f"batch 256: {format_bytes(step)} ({step:,} B) fits, {format_bytes(24 * GiB - step)} to spare" in ran.out
    for part in (*parts, "fragmentation allowance", "reserve"):
        name = part if isinstance(part, str) else part.tensor
        assert any(line.split()[:len(name.split())] == name.split() for line in ran.out.splitlines()), name
    assert "not counted: backward's transient tensors" in ran.out
    found = json.loads(cli(*args, "-f", "json").out)
    assert (found["batch"], found["fits"], found["margin_bytes"]) == (256, True, 24 * GiB - step)
    assert found["at_batch"]["bytes"] == step and sum(found["at_batch"]["parts"].values()) == step
    assert found["not_counted"] and "at_next" not in found
    over = cli("fit", "resnet50-tv", "--memory", "8GiB", "--train", "--precision", "amp-fp16", "--batch", "256")
    assert over.code == 0 and f"does not fit, {format_bytes(step - 8 * GiB)} over" in over.out
    assert json.loads(cli("fit", "vgg16", "-m", "1GiB", "--batch", "64", "-f", "json").out)["fits"] is False


def test_precision_and_dtype_take_each_others_spelling(cli):
    for first, second in ((["--precision", "bfloat16"], ["--precision", "bf16"]),
                          (["--precision", "float32"], ["--precision", "fp32"])):
        assert cli("fit", "lenet5", "-m", "1GiB", "--reserve", "0", "--train", *first).out == \
            cli("fit", "lenet5", "-m", "1GiB", "--reserve", "0", "--train", *second).out
    assert cli("table", "lenet5", "--dtype", "bf16", "-f", "json").out == \
        cli("table", "lenet5", "--dtype", "bfloat16", "-f", "json").out
    serve = ("fit", "gpt2", "--serve", "--context", "64", "-m", "4GiB", "--batch", "2", "-f", "json")
    assert json.loads(cli(*serve, "--kv-dtype", "float16").out) == json.loads(cli(*serve, "--kv-dtype", "fp16").out)
    wrong = cli("table", "lenet5", "--dtype", "half")
    assert wrong.code == 2 and "expected float32, float16, bfloat16 or int8 (or fp32, fp16, bf16)" in wrong.err
