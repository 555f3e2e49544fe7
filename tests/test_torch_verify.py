"""`archcalc verify`: the engine's figures against real torch modules, through the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from archcalc import analyze, load
from archcalc.catalog import bundled
from conftest import REPO, SPECS, torch_or_fail


@pytest.fixture(autouse=True)
def _torch():
    torch_or_fail()


# The language models read token ids: at their full size (Llama 3 8B: 32 GB of float32 weights) they are
# verified at small configs below, and counted against transformers' models in test_transformers_specs.py
# (Mixtral in test_mixtral.py).
LANGUAGE_MODELS = {"gpt2": {"vocab": 300, "positions": 64, "dim": 32, "mlp": 64, "heads": 4, "depth": 2},
                   "bert-base": {"vocab": 300, "positions": 64, "dim": 32, "mlp": 64, "heads": 4, "depth": 2},
                   "llama-3-8b": {"vocab": 300, "dim": 128, "mlp": 344, "heads": 4, "kv_heads": 2, "depth": 2},
                   "mixtral-8x7b": {"vocab": 300, "dim": 64, "mlp": 96, "heads": 4, "kv_heads": 2, "depth": 2,
                                    "experts": 4, "top": 2}}


# One test per bundled network, as `verify --all` would run them, so that the workers share them out
@pytest.mark.parametrize("name", sorted(set(bundled()) - set(LANGUAGE_MODELS)))
def test_every_bundled_spec_verifies(cli, name):
    ran = cli("verify", name, "--batch", "1", "--batch", "2")
    assert ran.code == 0, ran.out + ran.err
    assert "│" not in ran.out and "─" not in ran.out  # piped: plain text, no box drawing
    lines = ran.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Network "))
    assert lines[header].split()[:12] == ["Network", "Nodes", "Params", "MACs", "Per", "node",
                                          "b1", "engine", "b1", "torch", "b1", "diff"]
    cells = lines[header + 1].split()
    assert cells[0] == name and cells[-1] == "ok", cells
    assert cells[4] == "ok" and cells[8] == "cpu", f"{name}: every node agrees; batch 1 runs for real"


def test_verify_takes_several_networks_and_one_row_each(cli):
    ran = cli("verify", "lenet5", "resnet20", "--batch", "1", "--format", "json")
    assert ran.code == 0, ran.err
    assert [r["network"] for r in json.loads(ran.out)] == ["lenet5", "resnet20"]
    assert "[1/2] lenet5: ok" in ran.err and "[2/2] resnet20: ok" in ran.err


def test_verify_checks_every_name_before_it_runs_any(cli):
    ran = cli("verify", "lenet5", "lenet5-typo")
    assert ran.code != 0
    assert ran.err.startswith("error: unknown network 'lenet5-typo'")
    assert "[1/2]" not in ran.err  # lenet5 was not measured first


@pytest.mark.parametrize("args", [(), ("--all", "lenet5")])
def test_verify_wants_networks_or_all_not_both(cli, args):
    ran = cli("verify", *args)
    assert ran.code == 2 and ran.err.count("\n") == 1 and "give networks, or --all" in ran.err


def test_verify_json_has_engine_and_measured_bytes(cli):
    ran = cli("verify", "lenet5", "--format", "json", "--batch", "1", "--batch", "3")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)
    assert result["ok"] and result["mismatches"] == []
    assert result["params"] == {"engine": 60_840, "torch": 60_840}
    assert result["macs"] == {"engine": 326_520, "torch": 326_520}
    assert [(s["batch"], s["on"]) for s in result["saved"]] == [(1, "cpu"), (3, "cpu")]
    one, three = result["saved"]
    assert one["engine"] == one["measured"] and 3 * one["measured"] == three["measured"]


def test_past_the_real_limit_the_meta_device_measures_and_says_so(cli):
    ran = cli("verify", "alexnet", "--real-limit", "1G", "--format", "json")
    assert ran.code == 0, ran.err
    one, eight = json.loads(ran.out)[0]["saved"]
    assert one["on"] == "cpu" and eight["on"] == "meta"
    assert "meta device" in eight["note"]
    assert eight["measured"] == pytest.approx(8 * one["measured"], rel=0.001)


# torch copies a reshape of a permuted tensor, which the engine takes for a view (docs/spec.md says so): the
# last fc keeps that copy while the engine counts the relu's output, kept anyway: a real difference verify catches.
COPIED_VIEW = """
version: 1
name: copied-view
input: [64]
layers:
  - fc: {out: 4096, act: relu, name: wide}
  - reshape: {shape: [64, 64], name: square}
  - permute: {dims: [1, 0], name: turned}
  - reshape: {shape: [4096], name: flat}
  - fc: {out: 2, name: out}
"""


def test_a_mismatch_exits_1_with_a_diff_table(cli, write_spec):
    ran = cli("verify", write_spec(COPIED_VIEW), "--batch", "2")
    assert ran.code == 1
    assert "MISMATCH" in ran.out
    assert "saved bytes per node that differ, batch 2" in ran.out
    assert "│" not in ran.out  # piped: plain text
    out = next(line for line in ran.out.splitlines() if line.startswith("out "))
    assert out.split()[1:3] == ["0", f"{2 * 4096 * 4:,}"]  # the copy of 2·4096 floats the engine does not see


FC_BN = """
    version: 1
    name: fc-bn
    input: [16]
    layers:
      - fc: {out: 8, bn: true, act: relu}
"""  # batch norm after fc refuses a batch of one: that batch cannot be measured


def test_an_unmeasurable_batch_is_said_not_passed_silently(cli, write_spec):
    spec = write_spec(FC_BN)
    ran = cli("verify", spec)
    assert ran.code == 0, ran.out
    assert "partly unmeasured" in ran.out
    assert "batch 1: not measured: Expected more than 1 value per channel" in ran.out


def test_verify_with_nothing_measured_fails(cli, write_spec):
    spec = write_spec(FC_BN)
    ran = cli("verify", spec, "--batch", "1")  # batch norm refuses a batch of one: no forward is measured
    assert ran.code == 1, ran.out
    assert "NOT MEASURED" in ran.out and "[1/1] fc-bn: NOT MEASURED: " in ran.err


def test_verify_needs_one_network_or_all(cli):
    assert cli("verify").code == 2
    assert cli("verify", "lenet5", "--all").code == 2


def test_verify_on_cuda_without_a_gpu_is_one_line(cli):
    torch = torch_or_fail()
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/test_torch_bench.py checks CUDA for real")
    ran = cli("verify", "lenet5", "--device", "cuda")
    assert ran.code == 1
    assert ran.err.strip().startswith("error: --device cuda: no CUDA device")


@pytest.mark.parametrize("name", sorted(LANGUAGE_MODELS))
def test_the_language_models_verify_at_a_small_config(cli, write_spec, name):
    """Each bundled language model's own spec text, 2 layers narrow, at 16 token ids: every node and the saved
    bytes as torch has them. Its dropouts at p = 0 here: on the CPU dropout keeps a float mask where CUDA keeps
    the byte the engine counts (see verify's notes)."""
    text = (SPECS / f"{name}.yaml").read_text(encoding="utf-8")
    small = ", ".join(f"{key}: {value}" for key, value in LANGUAGE_MODELS[name].items())
    text = re.sub(r"^vars: .*$", f"vars: {{{small}}}", text, flags=re.M)
    text = re.sub(r"^input: .*$", "input: {ids: 16}", text, flags=re.M).replace("p: 0.1", "p: 0.0")
    ran = cli("verify", write_spec(text, f"{name}-small.yaml"), "--batch", "1", "--batch", "2", "--format", "json")
    assert ran.code == 0, ran.out + ran.err
    (result,) = json.loads(ran.out)
    assert result["mismatches"] == [] and result["ok"], result
    assert [(check["on"], check["diff"]) for check in result["saved"]] == [("cpu", 0.0), ("cpu", 0.0)]


def test_verify_at_another_input(cli):
    torch_or_fail()
    ran = cli("verify", "lenet5", "--input", "1x40x40", "--format", "json", "--batch", "1")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)
    at_40 = analyze(load("lenet5"), input_shape=(1, 40, 40)).totals.macs
    assert result["ok"] and result["macs"] == {"engine": at_40, "torch": at_40}
    assert at_40 != analyze(load("lenet5")).totals.macs
    symbolic = cli("verify", "lenet5", "--input", "1xNxN")
    assert symbolic.code == 2 and symbolic.err.startswith("error: --input: verify runs the network: give numbers")


@pytest.mark.parametrize("args, message", [
    (["resnet18", "--against", "transformers:gpt2"], "error: --against transformers:gpt2: that model reads token "
                                                     "ids, but resnet18's input is 3×224×224, not token ids"),
    (["gpt2", "--against", "torchvision:resnet18"], "error: --against torchvision:resnet18: that model reads images, "
                                                    "signals or features, but gpt2's input is token ids"),
    (["gpt2", "--against", "transformers:gtp2"], "error: --against: transformers has no model 'gtp2'; did you mean "
                                                 "'gpt2'?"),
])
def test_verify_against_a_model_of_another_kind_is_refused_before_anything_runs(cli, args, message):
    torch_or_fail()
    ran = cli("verify", *args)
    assert ran.code == 1 and ran.err.startswith(message) and ran.err.count("\n") == 1, ran.err
    program = ("import contextlib, io, sys; from archcalc.cli import run\n"
               "with contextlib.redirect_stderr(io.StringIO()): code = run(sys.argv[1:])\n"
               "print(code, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", program, "verify", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.stdout.split() == ["1", "False"], done.stderr  # said before transformers' import (tens of seconds)
