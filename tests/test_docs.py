"""The docs are fresh and whole: docs/make_docs.py writes what is committed, and every relative link resolves."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archcalc import conventions
from archcalc.cli.registry import MODULES
from archcalc.models import ONNX_SUFFIX, SOURCES
from archcalc.rules import RULES
from conftest import REPO


def _generator():
    spec = importlib.util.spec_from_file_location("make_docs", REPO / "docs" / "make_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_docs = _generator()


def test_the_generated_pages_are_not_stale():
    done = subprocess.run([sys.executable, str(REPO / "docs" / "make_docs.py"), "--check"], capture_output=True,
                          text=True, timeout=300, cwd=REPO.parent, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("page", make_docs.pages(), ids=lambda page: page.name)
def test_every_relative_link_points_at_a_file_and_anchor(page):
    assert make_docs.broken(page) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## `archcalc fit NET` (needs a size)\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](other.md#archcalc-fit-net-needs-a-size) [self](#title) [gone](missing.md)\n"
                    "[wrong](other.md#nowhere) `[in code](missing.md)`\n\n```sh\n[also code](missing.md)\n```\n",
                    encoding="utf-8")
    assert make_docs.broken(page) == ["missing.md: no such file", "other.md#nowhere: no such anchor in other.md"]


def test_the_readme_is_short_and_names_every_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 13 * 1024, "README.md is for a newcomer: move reference prose into docs/"
    assert all(f"`archcalc {name}`" in readme for name in MODULES)
    assert readme.count("```console") >= 5  # examples, their output written by docs/make_docs.py


def test_the_quick_start_is_the_command_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    test_command = re.findall(r"```sh\n(.*?)\n```", readme)[1]
    assert test_command.endswith("python -m pytest") and "pip install torch==" in test_command
    assert test_command.split(" && ", 2)[2] in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_every_kind_has_its_costs_in_the_spec_page():
    page = (REPO / "docs" / "spec.md").read_text(encoding="utf-8")
    costs = page.split("## What each kind costs", 1)[1]
    listed = {kind for row in costs.splitlines() if row.startswith("| `")
              for kind in re.findall(r"`(\w+)`", row.split(" | ")[0])}
    assert set(RULES) - listed == set(), "add a row to docs/spec.md's 'What each kind costs'"
    assert listed - set(RULES) == set(), "docs/spec.md's costs name a kind that does not exist"


def test_the_mac_convention_is_written_once():
    texts = (conventions.MACS, conventions.ZERO_MACS, conventions.FUSED)
    for path in (REPO / "archcalc").rglob("*.py"):
        if path.name != "conventions.py":
            source = path.read_text(encoding="utf-8")
            assert not any(text in source for text in texts), f"{path.relative_to(REPO)}: quote archcalc.conventions"
    assert f"> MACs are {conventions.MACS}" in (REPO / "docs" / "conventions.md").read_text(encoding="utf-8")


def test_the_anchor_of_a_heading_is_githubs():
    assert make_docs.anchor("`archcalc verify NET|PATH…` / `archcalc verify --all` (needs torch)") == \
        "archcalc-verify-netpath--archcalc-verify---all-needs-torch"
    assert make_docs.anchor("The notes' figures, checked") == "the-notes-figures-checked"
    assert make_docs.anchor("`pos_embed`") == "pos_embed"


def test_an_example_prints_what_the_command_prints(cli):
    assert make_docs.output("archcalc table lenet5 | head -2") == "".join(
        cli("table", "lenet5").out.splitlines(keepends=True)[:2])


def test_an_example_names_files_as_from_the_repository_root():
    said = make_docs.output("archcalc explain alexnet conv1")
    assert "(layers[0].conv, specs/alexnet.yaml:" in said and str(REPO) not in said
    assert not any(str(REPO) in page.read_text(encoding="utf-8") for page in make_docs.pages())


def test_an_example_that_fails_stops_the_generator(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLUMNS", raising=False)
    with pytest.raises(SystemExit, match="no such spec file"):
        make_docs.output("archcalc table nope.yaml")
    assert Path.cwd() == tmp_path and "COLUMNS" not in os.environ  # the run's directory and width are undone


@pytest.mark.parametrize("command", ["table", "compare"])
def test_the_network_argument_names_models(cli, command):
    shown = " ".join(cli(command, "--help").out.split())
    assert "torchvision:NAME" in shown and ONNX_SUFFIX in shown
    if command == "table":
        assert all(f"{source}:" in shown for source in SOURCES) and "package.module:callable" in shown
