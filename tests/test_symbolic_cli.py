"""The symbolic engine through the real command line: tables of formulas, --at, sizes, fit --solve input."""

from __future__ import annotations

import json

import pytest

import archcalc
from archcalc import expr
from archcalc.fit import DEFAULT_HEADROOM, needed


def test_table_of_formulas(cli):
    ran = cli("table", "resnet50", "--input", "3xHxW")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0] == "ResNet-50, the paper's v1 (stride on the first 1×1; torchvision's v1.5 is resnet50-tv) — input 3×H×W"
    last_conv = next(line for line in reversed(lines) if line.startswith("conv5_x.") and " conv " in line)
    assert "2048×⌈H/32⌉×⌈W/32⌉" in last_conv
    assert "Sizes: every layer accepts H ≥ 1; every division is whole for H ≡ 1 (mod 32)" in ran.out


@pytest.mark.parametrize("name, side", [("resnet50", 224), ("unet", 572), ("vit-b16", 224), ("googlenet-tv", 224)])
def test_at_a_size_the_formulas_give_the_concrete_figures(cli, name, side):
    channels = archcalc.load(name).input[0]
    symbolic = json.loads(cli("table", name, "--input", f"{channels}xNxN", "--at", f"N={side}", "-b", "2",
                              "-f", "json").out)
    concrete = json.loads(cli("table", name, "--input", f"{channels}x{side}x{side}", "-b", "2", "-f", "json").out)
    figures = ("output", "params", "macs", "backward_macs", "activations", "saved_bytes", "alive_bytes", "peak_bytes")
    assert [[row[f] for f in figures] for row in symbolic["layers"]] == \
           [[row[f] for f in figures] for row in concrete["layers"]]
    assert symbolic["totals"] == {**concrete["totals"], "receptive_field": symbolic["totals"]["receptive_field"]}


def test_json_formulas_evaluate_with_the_expression_grammar(cli):
    report = json.loads(cli("table", "alexnet", "--input", "3xNxN", "-f", "json").out)
    concrete = archcalc.analyze(archcalc.load("alexnet"), batch=3, input_shape=(3, 227, 227))
    sizes = {"N": 227, "B": 3}
    assert expr.evaluate(report["totals"]["macs"], sizes, max_length=10**6) == concrete.totals.macs
    assert expr.evaluate(report["totals"]["inference_peak_bytes"], sizes, max_length=10**6) == \
           concrete.totals.inference_peak_bytes
    assert report["symbolic"]["variables"] == ["B", "N"]
    assert report["symbolic"]["sizes"]["N"]["smallest"] == 67  # 227 = 67 + 32·5


def test_sizes_googlenet(cli):
    ran = cli("sizes", "googlenet", "200", "224")
    assert ran.code == 0, ran.err
    assert "every layer accepts N ≥ 223 (at N = 222: not accepted: layers[18].avgpool 'pool5'" in ran.out
    assert "N = 200: not accepted: layers[18].avgpool 'pool5': output size 0 ≤ 0" in ran.out
    assert "N = 224: accepted; first rounding at conv1: (224 − 7 + 2·3)/2 = 111.5 is not whole" in ran.out


def test_sizes_unet(cli):
    ran = cli("sizes", "unet", "--range", "560..600", "-f", "json")
    found = json.loads(ran.out)
    assert (found["smallest"], found["period"], found["residues"]) == (188, 16, [12])
    assert found["exact"] == [572, 588]  # Figure 1's 572, and the next


def test_fit_solves_for_the_input(cli):
    ran = cli("fit", "resnet50", "--memory", "16GiB", "--batch", "32", "--train", "--solve", "input")
    assert ran.code == 0, ran.err
    side = int(ran.out.split("input 3×")[1].split("×")[0])
    net = archcalc.load("resnet50")

    def training(n: int) -> int:  # with the headroom fit leaves by default
        return needed(archcalc.analyze(net, batch=32, input_shape=(3, n, n)), True, headroom=DEFAULT_HEADROOM)

    assert training(side) <= 16 * 2**30 < training(side + 1)
    assert "at its own input 3×224×224, batch" in ran.out


@pytest.mark.parametrize("args, message", [
    (["sizes", "vgg16", "--range", "9..3"], "error: --range: expected 1 ≤ low ≤ high"),
    (["sizes", "vgg16", "0"], "error: N: expected an integer from 1 to"),
    (["table", "vgg16", "--input", "3xNxN", "--at", "Q=3"], "error: --at: expected sizes such as N=224"),
    (["fit", "vgg16", "-m", "1GiB", "--solve", "height"], "error: --solve: expected batch, input or seq"),
    (["table", "lenet5", "--input", "1xNxN", "--strict"], "error: --strict with a symbolic input needs sizes"),
])
def test_symbolic_usage_errors(cli, args, message):
    ran = cli(*args)
    assert ran.code == 2 and ran.err.startswith(message), ran.err


def test_a_symbolic_spec(cli, write_spec):
    path = write_spec("""
        version: 1
        name: tiny
        input: [3, N, N]
        layers:
          - conv: {out: 8, k: 3, s: 2, p: 1, act: relu}
          - avgpool: global
          - fc: 10
    """)
    assert "8×⌈N/2⌉×⌈N/2⌉" in cli("table", path).out
    assert cli("table", path, "--at", "N=64", "-f", "json").code == 0
    compared = cli("compare", path, "vgg16")
    assert compared.code == 1 and "compare needs a concrete input; tiny's is symbolic (3×N×N)" in compared.err


def test_a_size_of_several_terms_is_bracketed_wherever_it_is_a_factor(cli):
    table = cli("table", "lenet5", "--input", "1xNxN").out
    assert "6×(N − 4)×(N − 4)" in table and "6×⌊(N − 4)/2⌋×⌊(N − 4)/2⌋" in table  # a floor is one factor already
    explained = cli("explain", "lenet5", "C1", "--input", "1xNxN").out
    assert "(N − 4)·(N − 4) · 5·5·1·6 = 150·N² − 1,200·N + 2,400" in explained
    rows = cli("table", "lenet5", "--input", "1xNxN", "-f", "csv").out.splitlines()
    output = rows[1].split(",")[2]
    assert output == "6x(N - 4)x(N - 4)"
    assert [expr.evaluate(d, {"N": 32}, max_length=100) for d in output.split("x")] == [6, 28, 28]


def test_formulas_under_at_say_the_figures_are_at_those_sizes(cli):
    explained = cli("explain", "lenet5", "C3", "--input", "1xNxN", "--at", "N=33").out
    assert "  MACs" in explained and "150,000   ⌊(N − 12)/2⌋·⌊(N − 12)/2⌋" in explained
    assert explained.endswith("Formulas are in the sizes; the figures are at N=33\n")
    assert "the figures are at N=33" in cli("table", "lenet5", "--input", "1xNxN", "--at", "N=33", "--formulas").out
    strict = cli("table", "lenet5", "--input", "1xNxN", "--at", "N=33", "--strict")
    assert strict.code == 1 and "--strict refuses inexact divisions" in strict.err


def test_the_sizes_summary_reads_as_one_sentence(cli, write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3, p: 1}\n")
    ran = cli("table", path, "--input", "3xNxN")
    assert ran.code == 0, ran.err
    assert "Sizes: every layer accepts N ≥ 1; every division is whole for every N from 1\n" in ran.out


@pytest.mark.parametrize("row", ["conv1", "conv2_x"])  # a layer, and a block
def test_explain_json_of_a_symbolic_size_is_formulas_as_text(cli, row):
    ran = cli("explain", "resnet18", row, "--input", "3xHxW", "--format", "json")
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    assert isinstance(data["macs"], str) and expr.names(data["macs"]) <= {"H", "W"}


def test_sizes_of_a_rectangle_each_side_alone(cli):
    ran = cli("sizes", "resnet50", "--input", "3xHxW", "--range", "200..260")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == [
        "resnet50: input 3×H×W (each side read alone)",
        "  H: every layer accepts H ≥ 1; every division is whole for H ≡ 1 (mod 32): 1, 33, 65, … (1 + 32k)",
        f"  H within 200..260: {260 - 200 + 1} accepted, 2 exact: {1 + 32 * 7}, {1 + 32 * 8}",
        "  W: every layer accepts W ≥ 1; every division is whole for W ≡ 1 (mod 32): 1, 33, 65, … (1 + 32k)",
        f"  W within 200..260: {260 - 200 + 1} accepted, 2 exact: {1 + 32 * 7}, {1 + 32 * 8}",
    ]
    found = json.loads(cli("sizes", "googlenet", "--input", "3xHx320", "-f", "json").out)
    assert list(found["sizes"]) == ["H"] and found["input"] == "3xHx320" and found["tried"] is None
    assert found["sizes"]["H"]["smallest"] == json.loads(cli("sizes", "googlenet", "-f", "json").out)["smallest"]
    tried = cli("sizes", "resnet50", "--input", "3x225x320")
    assert tried.out == ("resnet50: input 3×225×320: accepted; first rounding at conv1: W: (320 − 7 + 2·3)/2 = 159.5 "
                         "is not whole; rounded down\n")
    assert "not accepted: layers[18].avgpool 'pool5'" in cli("sizes", "googlenet", "--input", "3x100x320").out
    both = cli("sizes", "resnet50", "224", "--input", "3xHxW")
    assert both.code == 2 and both.err.startswith("error: N tries square inputs; with --input, give the input")


@pytest.mark.parametrize("args, meant", [
    (["table", "resnet18", "--input", "224x224x3"], "C×H×W; did you mean 3x224x224?"),
    (["explain", "alexnet", "conv1", "--input", "227x227x3"], "C×H×W; did you mean 3x227x227?"),
    (["sizes", "resnet18", "--input", "320x224x3"], "C×H×W; did you mean 3x320x224?"),
    (["table", "r3d-18", "--input", "16x112x112x3"], "C×T×H×W; did you mean 3x16x112x112?"),
])
def test_a_channels_last_input_is_asked_about(cli, args, meant):
    ran = cli(*args)
    assert ran.code == 1 and ran.err == f"error: --input {args[-1]}: an input is channels first, {meant}\n"
