"""Command-line conventions: -h, shell completion in real shells, one meaning per short option, explain of blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import click

from archcalc.cli import commands
from archcalc.cli.registry import MODULES
from conftest import REPO, tool_or_fail


def test_dash_h_is_help_everywhere(cli):
    assert cli("-h").out == cli("--help").out
    for name in MODULES:
        assert cli(name, "-h").out == cli(name, "--help").out


def test_a_flag_shows_as_a_flag_in_help(cli):
    version = next(line for line in cli("--help").out.splitlines() if "--version" in line)
    assert version.split("--version")[1].split()[0] == "Show"  # no value, no <bool>
    bars = next(line for line in cli("table", "--help").out.splitlines() if line.lstrip().startswith("--bars"))
    assert bars.split("--bars")[1].split()[0] == "Add"


def test_one_meaning_per_short_option():
    meaning: dict[str, tuple[str, bool]] = {}
    for command in commands():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            longs = [f for f in param.opts if f.startswith("--")]
            for short in (f for f in param.opts if not f.startswith("--")):
                seen = meaning.setdefault(short, (longs[0], param.is_flag))
                assert seen == (longs[0], param.is_flag), f"{short} in {command.name}: {longs[0]} vs {seen}"
    assert meaning["-m"] == ("--memory", False)  # fit's budget; table's --memory has no short form


def _script(cli, shell: str, tmp_path) -> str:
    ran = cli("completion", shell)
    assert ran.code == 0, ran.err
    path = tmp_path / f"archcalc.{shell}"
    path.write_text(ran.out, encoding="utf-8")
    return str(path)


def _shell_env(tmp_path) -> dict[str, str]:
    """The script asks the archcalc on PATH (this one: the console script beside this Python, this checkout)."""
    bin_dir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bin_dir, "archcalc")):
        pytest.fail("the archcalc console script is not installed beside this Python")
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
            "HOME": str(tmp_path)}


BASH_CASES = [
    (["archcalc", "ta"], {"table"}),
    (["archcalc", "co"], {"compare", "completion"}),
    (["archcalc", "table", "vgg1"], {"vgg11", "vgg11-lrn", "vgg13", "vgg16", "vgg16-bn", "vgg16c", "vgg19"}),
    (["archcalc", "table", "vgg16", "--dt"], {"--dtype"}),
    (["archcalc", "table", "vgg16", "--dtype", ""], {"float32", "float16", "bfloat16", "int8"}),
    (["archcalc", "plot", "vgg16", "--kind", ""], {"layers", "timeline", "all"}),
    (["archcalc", "diagram", "googlenet", "--format", ""], {"dot", "mermaid"}),
    (["archcalc", "completion", ""], {"bash", "zsh", "fish"}),
    (["archcalc", "table", "my"], {"my.yaml"}),  # a spec file in the working directory
    (["archcalc", "explain", "alexnet", "conv"], {f"conv{k}" for k in range(1, 6)}),  # the network's layers
    (["archcalc", "explain", "resnet50-tv", "layer1.bottleneck1.branch2"], {"layer1.bottleneck1.branch2",
                                                                              "layer1.bottleneck1.branch2.shortcut1"}),
]


@pytest.mark.parametrize("words, expected", BASH_CASES, ids=[" ".join(w) for w, _ in BASH_CASES])
def test_bash_completion(cli, tmp_path, words, expected):
    tool_or_fail("bash")
    script = _script(cli, "bash", tmp_path)
    (tmp_path / "my.yaml").write_text("input: [1]\nlayers: [{fc: 1}]\n")
    program = (f'source "{script}"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _archcalc_completion archcalc; '
               'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", program, "bash", *words], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60, env=_shell_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == expected


def test_zsh_completion(cli, tmp_path):
    """zsh loads the script, and the program answers what the script asks it, as typer's zsh script asks."""
    tool_or_fail("zsh")
    script = _script(cli, "zsh", tmp_path)
    env = _shell_env(tmp_path)
    loaded = subprocess.run(["zsh", "-f", "-c", f'autoload -U +X compinit && compinit -u; source "{script}"; '
                                                "print -r -- $_comps[archcalc]"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env)
    assert (loaded.returncode, loaded.stdout.strip()) == (0, "_archcalc_completion"), loaded.stderr
    asked = subprocess.run(["archcalc"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                           env={**env, "_ARCHCALC_COMPLETE": "complete_zsh",
                                "_TYPER_COMPLETE_ARGS": "archcalc table vgg16 --dtype "})
    assert asked.returncode == 0, asked.stderr
    assert {"float32", "float16", "bfloat16", "int8"} <= set(asked.stdout.replace('"', " ").split())


def test_fish_completion(cli, tmp_path):
    tool_or_fail("fish")
    script = _script(cli, "fish", tmp_path)
    program = f'source "{script}"; complete -C "archcalc ta"; complete -C "archcalc fit vgg16 --me"'
    done = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60, env=_shell_env(tmp_path))
    assert done.returncode == 0, done.stderr
    completions = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert completions == ["table", "--memory"]


def test_completion_of_an_unknown_shell_is_a_usage_error(cli):
    ran = cli("completion", "tcsh")
    assert (ran.code, ran.err) == (2, "error: bash|zsh|fish: expected bash, zsh or fish; received 'tcsh' "
                                      "(see archcalc completion --help)\n")


def test_explain_a_block_shows_its_totals_and_its_layers(cli):
    table = json.loads(cli("table", "resnet50-tv", "--depth", "1", "-f", "json").out)
    layer1 = next(row for row in table["layers"] if row["name"] == "layer1")
    ran = cli("explain", "resnet50-tv", "layer1")
    assert ran.code == 0, ran.err
    assert f"params          {layer1['params']:,}" in ran.out and f"MACs            {layer1['macs']:,}" in ran.out
    for k in (1, 2, 3):
        assert f"\nlayer1.bottleneck{k} " in ran.out
    data = json.loads(cli("explain", "resnet50-tv", "layer1", "-f", "json").out)
    assert (data["params"], data["macs"], data["inputs"]) == (layer1["params"], layer1["macs"], ["maxpool"])
    assert [row["name"] for row in data["layers"]] == [f"layer1.bottleneck{k}" for k in (1, 2, 3)]
    assert sum(row["params"] for row in data["layers"]) == data["params"]


def test_explain_json_of_a_layer(cli):
    data = json.loads(cli("explain", "alexnet", "conv1", "--format", "json").out)
    assert (data["name"], data["params"], data["inputs"], data["input_shapes"]) == (
        "conv1", 11 * 11 * 3 * 96 + 96, ["input"], {"input": [3, 227, 227]})
    assert data["args"]["k"] == [11, 11] and data["formulas"]["shape"] == "(227 − 11 + 2·0)/4 + 1 = 55"


def test_explain_says_where_blocks_are_when_a_name_is_wrong(cli):
    ran = cli("explain", "resnet50-tv", "layr1")
    assert ran.code == 1 and "did you mean 'layer1'?" in ran.err and "--depth N" in ran.err


def test_the_installed_completion_names_every_command(cli, tmp_path):
    script = cli("completion", "bash").out
    assert script.endswith("complete -o default -F _archcalc_completion archcalc\n")
    assert script == cli("--show-completion", "bash").out  # typer's own script, printed by a thin wrapper
    assert (REPO / "README.md").read_text(encoding="utf-8").count("archcalc completion") >= 2
