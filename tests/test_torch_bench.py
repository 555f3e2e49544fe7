"""`archcalc bench`: real forward passes timed; CUDA checks run only where a GPU is."""

from __future__ import annotations

import json

import pytest

from archcalc import analyze, catalog
from conftest import torch_or_fail


@pytest.fixture(autouse=True)
def torch():
    return torch_or_fail()


@pytest.fixture
def cuda(torch):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    return torch


def test_bench_table_states_what_it_measured(cli, torch):
    ran = cli("bench", "lenet5", "--runs", "3", "--warmup", "1", "--threads", "1")
    assert ran.code == 0, ran.err
    first = ran.out.splitlines()[0]
    assert first.startswith("lenet5 · batch 1 · float32 · cpu: ")
    assert f"torch {torch.__version__}" in first and first.endswith(" · 1 thread")
    for label in ("median", "p10 / p90", "images/s", "GFLOP/s", "FLOPs = 2 × MACs"):
        assert label in ran.out
    assert "3 timed runs after 1 warm-up" in ran.out


def test_bench_json_figures_agree(cli):
    ran = cli("bench", "resnet20", "--batch", "2", "--runs", "5", "--warmup", "1", "--format", "json")
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)
    assert len(result["times_s"]) == 5
    assert result["p10_s"] <= result["median_s"] <= result["p90_s"]
    assert result["images_per_s"] == pytest.approx(2 / result["median_s"])
    macs = analyze(catalog.load("resnet20")).totals.macs
    assert result["macs_per_image"] == macs and result["flops_per_image"] == 2 * macs
    assert result["achieved_gflops"] == pytest.approx(2 * macs * 2 / result["median_s"] / 1e9)
    assert result["device"] == "cpu" and result["layers"] == []


def test_per_layer_times_cover_every_node(cli):
    ran = cli("bench", "lenet5", "--runs", "2", "--warmup", "0", "--per-layer", "--format", "json")
    assert ran.code == 0, ran.err
    layers = json.loads(ran.out)["layers"]
    assert [layer["name"] for layer in layers] == [layer.name for layer in catalog.load("lenet5").layers]
    assert sum(layer["share"] for layer in layers) == pytest.approx(1.0)
    table = cli("bench", "lenet5", "--runs", "1", "--warmup", "0", "--per-layer")
    lines = table.out.splitlines()
    assert "│" not in table.out and "─" not in table.out  # piped: plain text
    header = next(i for i, line in enumerate(lines) if line.startswith("Layer "))
    assert lines[header].split() == ["Layer", "Kind", "Median", "Share"]
    assert [line.split()[0] for line in lines[header + 1:header + 8]] == [layer["name"] for layer in layers]


@pytest.mark.parametrize("options", [["--dtype", "bfloat16"], ["--channels-last"]])
def test_bench_options_run_on_cpu(cli, options):
    ran = cli("bench", "resnet20", "--runs", "1", "--warmup", "0", "--device", "cpu", *options)
    assert ran.code == 0, ran.err


def test_bench_on_a_missing_device_is_one_line(cli, torch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    ran = cli("bench", "lenet5", "--device", "cuda")
    assert ran.code == 1
    assert len(ran.err.strip().splitlines()) == 1 and "no CUDA device" in ran.err


def test_bench_cuda_half_precision(cli, cuda):
    for dtype in ("float16", "bfloat16"):
        ran = cli("bench", "resnet20", "--device", "cuda", "--dtype", dtype, "--runs", "3", "--format", "json")
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["device"] == "cuda"


def test_verify_cuda_checks_allocated_memory_too(cli, cuda):
    ran = cli("verify", "resnet20", "--device", "cuda", "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    for check in json.loads(ran.out)[0]["saved"]:
        if check["on"] == "cuda":
            assert check["cuda_allocated"] is not None
