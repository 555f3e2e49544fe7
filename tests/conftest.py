"""Shared fixtures: the real command line run in-process, and spec files on disk."""

from __future__ import annotations

import io
import os
import shutil
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from archcalc.cli import run

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per worker: the workers already fill the cores, and OpenMP threads that spin waiting
    # for a core taken by another worker made torch's passes several times slower.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
HOME_LIMIT = 1_000_000  # entries of the home folder snapshotted; past it the check is left out, with a note


def _home_tree(limit: int = HOME_LIMIT) -> dict[str, tuple[int, int]] | None:
    """Every entry under the real home folder (links not followed) → (size, mtime): what a user's home
    holds. None past `limit` entries."""
    tree: dict[str, tuple[int, int]] = {}
    folders = [os.path.expanduser("~")]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                tree[entry.path] = (stat.st_size, stat.st_mtime_ns)
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                if len(tree) > limit:
                    return None
    return tree


def pytest_sessionstart(session):
    """Nothing under the home folder may change during the suite (no download, no cache, no
    config written): its tree is read now and again at the end (by the controller, under xdist)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        session.config.stash[_HOME] = _home_tree()


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(_HOME, None)
    if os.environ.get("PYTEST_XDIST_WORKER") or before is None:
        return
    after = _home_tree()
    if after is None:
        return
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    if changed:
        shown = "\n  ".join(f"{'added' if p not in before else 'removed' if p not in after else 'changed'} {p}"
                             for p in changed[:20])
        session.config.get_terminal_writer().line(
            f"\nThe suite changed the home folder ({len(changed):,} entries):\n  {shown}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_HOME = pytest.StashKey[dict]()


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(monkeypatch):
    """Run `archcalc ARGS…` as the console script does, in this process; stdout and stderr apart (piped)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> Ran:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = run(list(args))
        return Ran(code, out.getvalue(), err.getvalue())

    return invoke


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text (dedented) to a file and return its path as a string."""

    def write(text: str, name: str = "net.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return str(path)

    return write


def module_or_fail(name: str, install: str = "pip install -e '.[test]'"):
    """Import an optional module; in CI (CI=true) a missing one is a failure, elsewhere a skip."""
    try:
        return __import__(name)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI ({install})")
        pytest.skip(f"{name} not installed ({install})")


def torch_or_fail():
    """Import torch; in CI (CI=true) a missing torch is a failure, elsewhere a skip."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("torch is required in CI (pip install 'archcalc[torch]')")
        pytest.skip("torch not installed (pip install 'archcalc[torch]')")
    return torch


def tool_or_fail(program: str, install: str = "") -> str:
    """The path of a program on PATH; in CI (CI=true) a missing one is a failure, elsewhere a skip."""
    path = shutil.which(program)
    if path is None:
        hint = install or f"apt-get install {program}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{program} is required in CI ({hint}; .ci/run installs it)")
        pytest.skip(f"{program} not installed ({hint})")
    return path
