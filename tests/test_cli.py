"""The command line through its real entry points: `archcalc.cli.run` and the installed script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from archcalc.catalog import bundled
from typer.testing import CliRunner

from archcalc.cli import commands, typer_app
from archcalc.cli.registry import MODULES, SUMMARIES, load
from archcalc.cli.command import REGISTERED
from conftest import REPO, torch_or_fail


def test_list_shows_every_bundled_network(cli):
    ran = cli("list")
    assert ran.code == 0
    for name in bundled():
        assert f"\n{name} " in ran.out
    assert "138,357,544" in ran.out  # vgg16's parameters


def test_table_has_rows_and_totals(cli):
    ran = cli("table", "alexnet")
    assert ran.code == 0
    lines = ran.out.splitlines()
    conv1 = next(line for line in lines if line.startswith("conv1 "))
    assert conv1.split()[:5] == ["conv1", "conv", "96×55×55", "34,944", "105,415,200"]
    assert any(line.startswith("total") for line in lines)
    assert "FLOPs = 2 × MACs" in ran.out
    assert "MiB = 2²⁰ bytes" in ran.out


def test_piped_output_is_plain_text(cli):
    out = cli("table", "vgg16").out
    assert "\x1b[" not in out
    table = out.split("\nvgg16: ")[0].splitlines()  # the title, header, rows and totals, before the footer
    assert len(table) == 1 + 1 + 24 + 1 and max(len(line) for line in table) < 100  # not padded to the terminal


def test_formulas_column(cli):
    ran = cli("table", "vgg16", "--formulas")
    assert ran.code == 0
    assert "(224 − 3 + 2·1)/1 + 1 = 224" in ran.out
    assert "3·3·3·64 + 64 = 1,792" in ran.out


JSON_LAYER_KEYS = {"name", "kind", "output", "params", "trainable_params", "macs", "activations", "receptive_field"}
JSON_TOTAL_KEYS = {"params", "trainable_params", "macs", "flops", "activations", "activation_bytes",
                   "forward_backward_bytes", "param_bytes"}


def test_json_contract(cli):
    data = json.loads(cli("table", "vgg16", "--format", "json", "--batch", "4", "--dtype", "float16").out)
    assert {"name", "input", "batch", "dtype", "layers", "totals"} <= set(data)
    assert (data["name"], data["input"], data["batch"], data["dtype"]) == ("vgg16", [3, 224, 224], 4, "float16")
    for layer in data["layers"]:
        assert JSON_LAYER_KEYS <= set(layer)
        assert isinstance(layer["output"], list)
    totals = data["totals"]
    assert JSON_TOTAL_KEYS <= set(totals)
    assert totals["flops"] == 2 * totals["macs"]
    assert totals["activations"] == sum(layer["activations"] for layer in data["layers"])  # per sample
    assert totals["activation_bytes"] == totals["activations"] * 2 * 4  # float16, whole batch of 4
    assert totals["forward_backward_bytes"] == 2 * totals["activation_bytes"]
    assert totals["param_bytes"] == totals["params"] * 2


def test_depth_folds_rows_with_figures_summed(cli):
    full = json.loads(cli("table", "vgg16", "-f", "json").out)
    folded = json.loads(cli("table", "vgg16", "-f", "json", "--depth", "1").out)
    assert len(folded["layers"]) < len(full["layers"]) or all("." not in l["name"] for l in full["layers"])
    for key in ("params", "macs", "activations"):
        assert sum(l[key] for l in folded["layers"]) == sum(l[key] for l in full["layers"])


def test_csv_has_a_header_and_one_row_per_layer(cli):
    rows = list(csv.DictReader(io.StringIO(cli("table", "lenet5", "--format", "csv").out)))
    assert [r["name"] for r in rows] == ["C1", "S2", "C3", "S4", "C5", "F6", "output"]
    assert rows[2]["params"] == str(5 * 5 * 60 + 16)
    assert rows[0]["output"] == "6x28x28"


def test_markdown_is_a_pipe_table(cli):
    out = cli("table", "lenet5", "--format", "markdown").out
    lines = out.splitlines()
    assert lines[0].startswith("| Layer | Kind | Output |")
    assert lines[1].startswith("|---|---|")
    assert "| C3 | conv | 16×10×10 | 1,516 |" in out


def test_input_override_and_batch(cli):
    data = json.loads(cli("table", "vgg16", "--input", "3x32x32", "-f", "json").out)
    assert data["input"] == [3, 32, 32]
    assert data["layers"][0]["output"] == [64, 32, 32]


def test_explain_unknown_layer(cli):
    ran = cli("explain", "alexnet", "cnv1")
    assert ran.code == 1
    assert ran.err.startswith("error: alexnet has no layer or block 'cnv1'; did you mean 'conv1'?")


def test_explain_shows_every_figure(cli):
    out = cli("explain", "vgg16", "conv3_2").out
    for label in ("input", "output", "params", "MACs", "FLOPs", "memory", "receptive field"):
        assert f"  {label} " in out
    assert "56·56 · 3·3·256·256 = 1,849,688,064" in out


def test_the_registry_names_every_command_where_it_is_defined():
    for name in MODULES:
        assert load(name) is REGISTERED[name]
    assert set(REGISTERED) == set(MODULES)  # no command defined outside the registry


def test_the_program_help_summaries_are_the_first_sentence_of_each_command_help():
    for command in commands():
        first = " ".join(command.help.split("\n\n")[0].split())
        assert first.startswith(SUMMARIES[command.name].removesuffix(".")), command.name


@pytest.mark.parametrize("name", MODULES)
def test_every_command_has_help_with_an_example(cli, name):
    for ask in ("--help", "-h"):
        ran = cli(name, ask)
        assert ran.code == 0, name
        assert ran.out.lstrip().startswith(f"Usage: archcalc {name} [OPTIONS]"), ran.out
        assert "Example" in ran.out, name


def test_program_help_lists_every_command(cli):
    ran = cli("--help")
    assert ran.code == 0 and "--version" in ran.out and "--install-completion" in ran.out
    for name in MODULES:
        assert f"\n  {name} " in ran.out
    bare = cli()  # bare `archcalc`: the help, as a usage error
    assert bare.code == 2 and bare.out == ran.out


def test_piped_help_is_plain_text_and_uncut(cli):
    for args in (["--help"], ["table", "--help"], ["fit", "--help"]):
        out = cli(*args).out
        assert not set("│╭╮╰╯─") & set(out) and "\x1b[" not in out, args
        assert "…" not in out.replace("NET|PATH…", "").replace(",…", ""), args  # nothing cut short
    assert "inference peak and training memory, with ratios to the first." in " ".join(cli("--help").out.split())


def test_flags_show_as_flags_and_values_by_their_metavar(cli):
    out = cli("table", "--help").out
    formulas = next(line for line in out.splitlines() if line.lstrip().startswith("--formulas"))
    assert formulas.split("--formulas")[1].split()[0] == "Show"  # no value after a flag
    assert "-b, --batch N|B " in out and "[default: (1, or B with a symbolic input)]" in " ".join(out.split())
    assert "[default: 1]" in cli("compare", "--help").out
    assert "--version " in cli("--help").out


@pytest.mark.parametrize("args, message", [
    (["table", "vgg16", "--batch", "0"], "error: --batch/-b: expected an integer from 1 to 1,000,000,000, or B; received '0'"),
    (["compare", "vgg16", "alexnet", "--batch", "0"], "error: --batch/-b: expected an integer from 1 to 1,000,000,000; received '0'"),
    (["table", "vgg16", "--dtype", "float64"], "error: --dtype: expected float32, float16, bfloat16 or int8 (or fp32, fp16, "
                                               "bf16); received 'float64'"),
    (["table", "vgg16", "--input", "3x224x224x1x1"], "error: --input/-i: expected C×H×W such as 3x224x224, 3xHxW or "
                                                     "3xNxN, C×L such as 1xL, C×T×H×W such as 3xTxHxW, N×D tokens such "
                                                     "as 197x768 or Sx768, features, or S token ids; received "
                                                     "'3x224x224x1x1'"),
    (["table", "vgg16", "--input", "Hx224x224"], "error: --input/-i: expected the channels (the first dimension) as a "
                                                 "number, only H, W, N, T, L symbolic (or S, a token sequence's "
                                                 "length: Sx768); received 'Hx224x224'"),
    (["table", "vgg16", "--at", "N=224"], "error: --at evaluates a symbolic input: give --input 3xHxW or 3xNxN "
                                          "(or a spec with one)"),
    (["table", "vgg16", "--input", "3x224x0"], "error: --input/-i: expected dimensions from 1 to 1,048,576; "
                                              "received '0'"),
    (["table"], "error: Missing argument 'NET|PATH'. (see archcalc table --help)"),
    (["table", "vgg16", "--batchsize", "2"], "error: No such option '--batchsize'. Did you mean '--batch'? "
                                             "(see archcalc table --help)"),
    (["tabel", "vgg16"], "error: no such command 'tabel'; did you mean 'table'?"),
    (["--verison"], "error: No such option '--verison'. Did you mean '--version'? (see archcalc --help)"),
    (["completion", "tcsh"], "error: bash|zsh|fish: expected bash, zsh or fish; received 'tcsh'"),
])
def test_usage_errors_are_one_line_and_exit_2(cli, args, message):
    ran = cli(*args)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.startswith(message) and ran.err.count("\n") == 1, ran.err


def test_options_and_arguments_mix_in_any_order(cli):
    ran = cli("compare", "--batch", "2", "alexnet", "-f", "json", "lenet5")
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    assert data["batch"] == 2 and [n["name"] for n in data["networks"]] == ["alexnet", "lenet5"]


def test_options_and_arguments_mix_in_any_order_in_every_command(cli):
    ran = cli("table", "--format", "json", "lenet5", "--batch", "2")
    assert ran.code == 0 and json.loads(ran.out)["batch"] == 2
    after_dashes = cli("table", "--", "--format=json.yaml")  # a file whose name looks like an option
    assert after_dashes.code == 1 and "--format=json.yaml" in after_dashes.err


def test_typer_runs_the_commands_as_it_runs_any_app():
    """The click group through typer's own test runner: the commands, their help and their usage errors."""
    runner = CliRunner()
    done = runner.invoke(typer_app(), ["table", "lenet5", "--format", "json"])
    assert done.exit_code == 0 and json.loads(done.stdout)["name"] == "lenet5"
    helped = runner.invoke(typer_app(), ["explain", "-h"])
    assert helped.exit_code == 0 and "archcalc explain alexnet conv1" in helped.stdout
    refused = runner.invoke(typer_app(), ["table", "vgg16", "--depth", "0"])
    assert refused.exit_code == 2 and "expected an integer from 1 to 64; received '0'" in refused.output


QUIET = """
import contextlib, io, json, sys
from archcalc.cli import run
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = run(sys.argv[1:])
print(json.dumps({"status": status, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"]])
def test_version_and_help_import_no_engine(args):
    done = subprocess.run([sys.executable, "-c", QUIET, *args], capture_output=True, text=True, timeout=60)
    result = json.loads(done.stdout)
    assert result["status"] == 0 and result["out"]
    ours = [name for name in result["modules"] if name.startswith("archcalc")]
    outside_the_cli = [name for name in ours if not name.startswith("archcalc.cli")]
    assert set(outside_the_cli) <= {"archcalc", "archcalc.errors", "archcalc.safe"}, outside_the_cli
    assert set(ours) - set(outside_the_cli) <= {"archcalc.cli", "archcalc.cli.command", "archcalc.cli.registry",
                                                 "archcalc.cli.streams"}, ours
    assert "yaml" not in result["modules"]


def test_readme_documents_every_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in MODULES:
        assert f"archcalc {name}" in readme, name


@pytest.mark.parametrize("launcher", [[sys.executable, "-m", "archcalc"], ["archcalc"]])
def test_real_entry_points(launcher, tmp_path):
    env = {**os.environ, "NO_COLOR": "1"}
    if launcher == ["archcalc"]:
        script = os.path.join(os.path.dirname(sys.executable), "archcalc")
        if not os.path.exists(script):
            pytest.fail("the archcalc console script is not installed beside this Python")
        launcher = [script]
    done = subprocess.run([*launcher, "table", "lenet5"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "60,000 trainable" in done.stdout
    bad = subprocess.run([*launcher, "table", "nope.yaml"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert (bad.returncode, bad.stderr) == (1, "error: nope.yaml: no such spec file\n")


def test_version(cli):
    ran = cli("--version")
    assert ran.code == 0 and ran.out.startswith("archcalc ")


def test_memory_columns(cli):
    ran = cli("table", "alexnet", "--memory", "--batch", "8")
    assert ran.code == 0
    header = next(line for line in ran.out.splitlines() if line.startswith("Layer"))
    assert header.split()[-2:] == ["Alive", "Saved"]
    total = next(line for line in ran.out.splitlines() if line.startswith("total"))
    assert "peak " in total


def test_verify_reports_each_network_as_it_ends(cli):
    torch_or_fail()
    ran = cli("verify", "lenet5", "--batch", "1")
    assert ran.code == 0, ran.err
    assert ran.err.startswith("[1/1] lenet5: ok: 7 nodes, every node agrees; saved b1 +0.00% (cpu); "), ran.err


def test_a_bundled_spec_is_named_specs_name_yaml_wherever_it_is_installed(cli):
    ran = cli("explain", "alexnet", "conv1")
    assert ran.code == 0
    assert ran.out.splitlines()[0].endswith("(layers[0].conv, specs/alexnet.yaml:14:5)")


@pytest.mark.parametrize("command", ["table", "plot", "diagram"])
def test_depth_0_is_refused_with_its_reason(cli, command):
    ran = cli(command, "vgg16", "--depth", "0")
    assert ran.code == 2 and ran.err.count("\n") == 1
    assert "received '0': depth 0 would fold every layer into the network's total row" in ran.err
