"""The README's pictures are those docs/make_images.py draws today: a fresh drawing must match byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO, module_or_fail, tool_or_fail

IMAGES = REPO / "docs" / "images"


def test_the_readme_shows_the_pictures():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "![VGG-16: activation memory and parameters per layer" in readme and "(docs/images/vgg16.svg)" in readme
    assert "(docs/images/googlenet.svg)" in readme


def test_the_committed_pictures_are_not_stale(tmp_path):
    matplotlib = module_or_fail("matplotlib")
    tool_or_fail("dot", "apt-get install graphviz")
    done = subprocess.run([sys.executable, str(REPO / "docs" / "make_images.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    for name in ("vgg16.svg", "googlenet.svg"):
        fresh, committed = (tmp_path / name).read_bytes(), (IMAGES / name).read_bytes()
        assert fresh == committed, (f"docs/images/{name} is stale (or drawn by another matplotlib than "
                                    f"{matplotlib.__version__} or another Graphviz): run python docs/make_images.py")
    twice = tmp_path / "again"
    subprocess.run([sys.executable, str(REPO / "docs" / "make_images.py"), "--out", str(twice)], check=True,
                   timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (twice / "vgg16.svg").read_bytes() == (tmp_path / "vgg16.svg").read_bytes()  # deterministic
