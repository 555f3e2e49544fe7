"""Each analytic command imports what it uses and nothing more: which modules, not how long they took.

Every command runs in a fresh interpreter, its output piped as in a script.
The third-party packages it loaded must be exactly those it needs (PyYAML,
typer with click, and rich only where it draws with rich: never for a piped
`table` or for `check`); of archcalc's own modules, only its command's module of the CLI,
never the torch backend, the JSON Schema or another command's module.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from archcalc.catalog import specs_dir

CHILD = """
import contextlib, io, json, sys
from archcalc.cli import run
with contextlib.redirect_stdout(io.StringIO()):
    status = run(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""

TYPER = {"typer", "click", "shellingham", "annotated_doc"}  # typer 0.24 imports these two of its own dependencies
# command line → (its module in archcalc.cli, the third-party packages it may load besides TYPER)
COMMANDS = {
    ("table", "resnet50"): ("table", {"yaml"}),
    ("table", "resnet50", "--format", "json"): ("table", {"yaml"}),
    ("compare", "alexnet", "googlenet"): ("compare", {"yaml", "rich"}),
    ("list",): ("networks", {"yaml", "rich"}),
    ("explain", "alexnet", "conv1"): ("explain", {"yaml", "rich"}),
    ("check", str(specs_dir())): ("check", {"yaml"}),
    ("diagram", "googlenet", "--format", "mermaid"): ("pictures", {"yaml"}),
    ("import", "resnet18"): ("importing", {"yaml"}),
}
HEAVY = ("torch", "torchvision", "torchinfo", "numpy", "jsonschema", "matplotlib", "pydantic")
SHARED = {"archcalc.cli", "archcalc.cli.command", "archcalc.cli.registry", "archcalc.cli.common",
          "archcalc.cli.streams", "archcalc.cli.plan"}  # plan: the training-plan options of compare, fit and verify


def imported(args: tuple[str, ...]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] in (0, 1), result  # `check` finds nothing in the bundled specs, but may say 1 one day
    return result["modules"]


@pytest.mark.parametrize("args", COMMANDS, ids=["table", "table json", "compare", "list", "explain", "check specs/", "diagram",
                                            "import"])
def test_a_command_loads_only_what_it_uses(args):
    module, allowed = COMMANDS[args]
    modules = imported(args)
    top = {name.split(".")[0] for name in modules}
    third_party = {name for name in top if name not in sys.stdlib_module_names and not name.startswith("_")
                   and name not in ("archcalc", "cython_runtime")}  # cython_runtime: PyYAML's libyaml binding
    assert third_party == allowed | TYPER, f"{args}: loaded {sorted(third_party)}"
    assert not [name for name in modules if name.split(".")[0] in HEAVY]
    cli = {name for name in modules if name.startswith("archcalc.cli")}
    assert cli <= SHARED | {f"archcalc.cli.{module}", "archcalc.cli.terminal"}, sorted(cli)
    assert f"archcalc.cli.{module}" in cli
    assert not [name for name in modules if name.startswith(("archcalc.backends", "archcalc.schema"))]
    # the front door's builder and writer load on first use (archcalc.Builder, archcalc.dump), never by a command
    # but import, which writes a spec
    assert not ({"archcalc.builder", "archcalc.write"} - ({"archcalc.write"} if module == "importing" else set())) \
        & set(modules)
    assert "rich.progress" not in modules  # bench and verify's bars


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_table_for_a_terminal_is_drawn_with_rich(monkeypatch):
    """The other side of a piped `table` without rich: in a terminal, rich draws it."""
    from archcalc.cli import common, run

    drawn = []
    monkeypatch.setattr(common, "terminal", lambda: SimpleNamespace(table=lambda *args, **kw: drawn.append(args)))
    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert run(["table", "lenet5", "--memory"]) == 0
    (report, formulas, memory, bars), = drawn
    assert (report.name, formulas, memory, bars) == ("lenet5", False, True, False)
    assert sys.stdout.getvalue() == ""


def test_only_plot_and_report_load_matplotlib(tmp_path):
    modules = imported(("plot", "lenet5", "-o", str(tmp_path / "x.svg")))
    assert "matplotlib" in modules and not [name for name in modules if name.startswith("archcalc.backends")]
    assert "archcalc.plot" in modules and "archcalc.html" not in modules
