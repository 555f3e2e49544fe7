"""docs/ci.md runs as written: the install it shows works from the repository, and its pins exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, tool_or_fail

DOC = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
# The code that reads a stranger's spec before anything else does: the YAML reader, the link rule, what is shown.
# A CI that follows the docs must run a commit with its last change.
UNTRUSTED_INPUT = ("archcalc/source.py", "archcalc/links.py", "archcalc/safe.py")


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def history():
    tool_or_fail("git")
    if git("rev-parse", "--git-dir").returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("docs/ci.md's pins are checked against the repository's history: run from a git clone")
        pytest.skip("not a git checkout")
    if git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.fail("docs/ci.md's pins are checked against the repository's history: clone it whole "
                    "(actions/checkout: fetch-depth: 0)")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.S)


def pins() -> set[str]:
    return set(re.findall(r"@([0-9a-f]{40})\"", DOC)) | set(re.findall(r"rev: ([0-9a-f]{40})", DOC))


def test_no_words_that_assume_a_release(history):
    if git("tag").stdout.strip():
        pytest.fail("the repository has tags now: document installing a release, then update this test")
    assert not re.search(r"pip install[^\n]* archcalc\b(?! @)", DOC), "archcalc is on no package index"
    assert not re.search(r"\b(release|tag|tags|PyPI)\b", DOC, re.I)
    assert "rev: v" not in DOC


def test_every_pin_is_a_commit_with_the_hook_and_the_command(history):
    (commit,) = pins()  # one commit, the same for pip and pre-commit
    assert git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0, f"{commit} is not in this repository"
    hooks = yaml.safe_load(git("show", f"{commit}:.pre-commit-hooks.yaml").stdout)
    assert [hook["id"] for hook in hooks] == ["archcalc-check"] and hooks[0]["entry"] == "archcalc check"
    assert 'archcalc = "archcalc.cli:main"' in git("show", f"{commit}:pyproject.toml").stdout


def test_the_pin_has_the_last_change_to_the_code_that_reads_untrusted_specs(history):
    (commit,) = pins()
    last = git("log", "-1", "--format=%H", "--", *UNTRUSTED_INPUT).stdout.strip()
    assert last, f"no commit changes {', '.join(UNTRUSTED_INPUT)}"
    assert git("merge-base", "--is-ancestor", last, commit).returncode == 0, (
        f"docs/ci.md pins {commit[:7]}, older than {last[:7]}, the last change to {', '.join(UNTRUSTED_INPUT)}: "
        "a CI that follows the docs would run code without it; pin a commit that has it")


def test_the_documented_yaml_parses():
    workflow = yaml.safe_load(next(text for text in blocks("yaml") if "jobs:" in text))
    config = yaml.safe_load(next(text for text in blocks("yaml") if "repos:" in text))
    steps = workflow["jobs"]["check-specs"]["steps"]
    assert any("git+${ARCHCALC_REPO}@" in step.get("run", "") for step in steps)
    assert config["repos"][0]["hooks"][0]["id"] == "archcalc-check"


def test_the_documented_install_works_from_a_clone(history, tmp_path, write_spec):
    """The doc's own install line, with ARCHCALC_REPO set to this clone: pip builds the pinned commit."""
    line = next(line for line in blocks("sh")[0].splitlines() if line.startswith("python -m pip install"))
    command = line.replace("python -m pip install", f"{sys.executable} -m pip install --no-deps --no-build-isolation "
                                                    f"--no-index --quiet --target {tmp_path / 'site'}")
    env = {**os.environ, "ARCHCALC_REPO": f"file://localhost{REPO}", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_CACHE_DIR": "1"}  # nothing written under the home folder
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    spec = write_spec("""
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3}
          - fc: 10
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    check = subprocess.run([sys.executable, "-c", "from archcalc.cli import main; main()", "check", spec],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert (check.returncode, check.stdout.splitlines()[-1]) == (0, "1 spec, 0 findings"), check.stderr
    site = subprocess.run([sys.executable, "-c", "import archcalc; print(archcalc.__file__)"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60)
    assert site.stdout.startswith(str(tmp_path / "site")), "the check ran the archcalc pip installed"
