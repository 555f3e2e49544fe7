"""The torch backend does not try what cannot fit (issue 9, class 8): refused before anything is allocated.

`bench` and `verify` compare the engine's own memory figure for the run with
what the device has free; past it, one line with both figures and a way out.
The specs here need a terabyte or more: more than any machine that runs the
suite has, so the refusal is real, and nothing is ever allocated to see it.
"""

from __future__ import annotations

import json

import pytest

from archcalc import analyze, load
from conftest import module_or_fail, torch_or_fail

TERABYTE = """input: [3, 1000, 1000]
layers:
  - conv: {out: 300000, k: 1}
  - avgpool: global
"""  # 300,000 maps of 1000×1000: 1.2 TB of activations at batch 1, under a megabyte of weights


@pytest.fixture(autouse=True)
def torch():
    return torch_or_fail()


@pytest.fixture
def terabyte(write_spec):
    return write_spec(TERABYTE, "terabyte.yaml")


def test_bench_refuses_a_network_that_cannot_fit_with_its_figure(cli, terabyte):
    ran = cli("bench", terabyte, "--device", "cpu")
    need = sum(analyze(load(terabyte)).inference_breakdown().values())
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith(f"error: terabyte at batch 1 (float32, inference) needs 1.1 TiB ({need:,} B) by the "
                              "engine's figure, more than the ")
    assert ran.err.endswith(" available on cpu; it does not fit even at batch 1, or --force to try anyway\n")


def test_bench_names_the_largest_batch_that_fits(cli):
    ran = cli("bench", "resnet50", "--batch", "1000000000", "--device", "cpu")
    assert ran.code == 1 and "resnet50 at batch 1,000,000,000 (float32, inference) needs " in ran.err
    largest = int(ran.err.split("at most --batch ")[1].split(" fits")[0].replace(",", ""))
    assert 1 <= largest < 1_000_000_000


def test_verify_refuses_a_training_forward_that_cannot_fit(cli, terabyte):
    ran = cli("verify", terabyte)
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: terabyte's training forward at batch 1 needs ")
    assert ran.err.endswith("; it does not fit even at batch 1, or --force to try anyway\n")


def test_a_reference_too_large_counts_its_own_weights_in_the_way_out(cli):
    module_or_fail("torchvision", "see the README's test command")
    ran = cli("verify", "resnet18", "--against", "torchvision:resnet18(num_classes=999999999999)")
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: resnet18's training forward at batch 1 needs ")
    assert ran.err.endswith("; it does not fit even at batch 1, or --force to try anyway\n")  # not "--batch 813"


def test_a_larger_batch_that_cannot_fit_is_measured_on_the_meta_device(cli):
    ran = cli("verify", "lenet5", "--batch", "1", "--batch", "100000000", "--real-limit", "1000000000000000000",
              "--format", "json")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)
    one, huge = result["saved"]
    assert (one["on"], huge["on"]) == ("cpu", "meta")
    assert huge["note"].startswith("meta device: its training forward, ") and huge["note"].endswith(" is more than cpu has free")
    assert huge["measured"] == huge["engine"]  # the same autograd graph, shapes only


def test_force_runs_past_the_gate(cli):
    ran = cli("bench", "lenet5", "--runs", "1", "--warmup", "0", "--force", "--format", "json")
    assert ran.code == 0 and json.loads(ran.out)["network"] == "lenet5"


def test_placement_counts_bytes_not_only_macs(torch):
    from archcalc.backends import capacity
    from archcalc.backends.checks import placement

    free = capacity.available("cpu")
    assert free is not None and free > 0
    net = load("vit-b16")  # attention: its kernel depends on the device, so it never runs on the meta device
    assert placement(net, 1, 8, 1, "cpu", 10**18, need=free // 2) == ("cpu", "")
    assert placement(net, 1, 8, 1, "cpu", 10**18, need=2 * free)[0] == "none"
    assert placement(net, 1, 8, 1, "cpu", 10**18, need=2 * free, force=True) == ("cpu", "")
    assert placement(load("lenet5"), 1, 8, 1, "cpu", 10**18, need=2 * free)[0] == "meta"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_verify_of_a_network_without_parameters_agrees(cli, write_spec, torch, device):
    """Nothing is trained, so autograd keeps nothing; on CUDA the input it never kept is not counted either."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    spec = write_spec("input: [3, 32, 32]\nlayers:\n  - maxpool: {k: 2}\n  - relu:\n  - avgpool: global\n")
    ran = cli("verify", spec, "--device", device, "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    (result,) = json.loads(ran.out)
    assert result["ok"] and result["mismatches"] == []
    assert all(check["engine"] == 0 == check["measured"] for check in result["saved"])
    if device == "cuda":
        assert all(check["cuda_allocated"] == 0 for check in result["saved"])


def test_a_run_past_the_compute_bound_is_refused_before_it_starts(cli, write_spec, monkeypatch):
    from archcalc.backends import capacity

    # 10¹³ MACs in 64 bytes: minutes a forward pass on a CPU
    slow = write_spec("input: [512, 512, 512]\nlayers: [conv: {out: 1024, k: 9, p: 4}]\n", "slow.yaml")
    macs = analyze(load(slow)).totals.macs
    real_rate = capacity.rate
    monkeypatch.setattr(capacity, "rate", lambda device, dtype=None: 5e10)  # a 2-core CPU's: any machine refuses
    for args, total in ((("bench", slow, "--runs", "2", "--warmup", "1"), 3 * macs), (("verify", slow), 3 * macs)):
        ran = cli(*args, "--device", "cpu")
        assert ran.code == 1 and ran.out == "" and ran.err.count("\n") == 1, ran.err
        assert f" is {total:,} MACs, about " in ran.err and "(a 300 s bound)" in ran.err and "--force" in ran.err
    monkeypatch.setattr(capacity, "rate", real_rate)  # measured on this machine from here on
    monkeypatch.setattr(capacity, "MAX_SECONDS", 1e-9)  # lenet5 too is past this bound, until --force
    assert cli("bench", "lenet5", "--runs", "1", "--warmup", "0", "--device", "cpu").code == 1
    assert cli("bench", "lenet5", "--runs", "1", "--warmup", "0", "--device", "cpu", "--force").code == 0


GROWTH = r"""
import sys, torch
def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field))
torch.set_num_threads(1)
kind, c, n, k = sys.argv[1], *map(int, sys.argv[2:])
layer = (torch.nn.Conv2d if kind == "conv" else torch.nn.ConvTranspose2d)(c, c, k, padding=k // 2).half()
x = torch.randn(1, c, n, n).half()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak resident memory starts again from now
before = status("VmRSS:")
with torch.no_grad():
    layer(x)
print(status("VmHWM:") - before)
"""  # Linux's figures: the peak resident memory while the layer ran, above what was resident before


@pytest.mark.parametrize("kind", ["conv", "convtranspose"])
def test_cpu_half_convolutions_are_priced_with_their_workspace_as_torch_allocates_it(write_spec, kind):
    import subprocess
    import sys

    from archcalc.backends import capacity

    c, n, k = 32, 48, 15
    spec = write_spec(f"input: [{c}, {n}, {n}]\nlayers: [{kind}: {{out: {c}, k: {k}, p: {k // 2}}}]\n")
    half = analyze(load(spec), precision="amp-fp16", device="cpu")
    priced = capacity.workspace(half, "cpu")
    assert priced == 2 * (1 if kind == "conv" else 3) * c * k * k * n * n  # elements of float16
    for other, device in ((analyze(load(spec), precision="amp-bf16", device="cpu"), "cpu"), (half, "cuda")):
        assert capacity.workspace(other, device) == 0  # oneDNN and cuDNN need no such buffer
    assert capacity.training_need(half, "cpu") == capacity.training_need(half) + priced
    # the oracle: what a fresh process's peak memory grows by when torch runs the layer in float16
    done = subprocess.run([sys.executable, "-c", GROWTH, kind, str(c), str(n), str(k)], capture_output=True,
                          text=True, check=True)
    grown = int(done.stdout)
    assert 0.8 * priced <= grown <= 1.5 * priced + 8 * 2**20, (grown, priced)
