"""Shared fixtures: the real CLI app through typer's runner, and spec files on disk."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archcalc.cli import app

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def cli():
    """Run `archcalc ARGS…` through the real typer app; stdout and stderr apart."""
    runner = CliRunner()

    def run(*args: str) -> Ran:
        result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text (dedented) to a file and return its path as a string."""

    def write(text: str, name: str = "net.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return str(path)

    return write


def torch_or_fail():
    """Import torch; in CI (CI=true) a missing torch is a failure, elsewhere a skip."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("torch is required in CI (pip install 'archcalc[torch]')")
        pytest.skip("torch not installed (pip install 'archcalc[torch]')")
    return torch
