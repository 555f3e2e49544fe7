"""Every bundled spec keeps its figures: the JSON totals at the default input, pinned in a golden file.

A change that moves a figure on purpose rewrites the file with `ARCHCALC_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden.py`, and the diff of tests/golden/totals.json shows what moved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archcalc import analyze, catalog

GOLDEN = Path(__file__).parent / "golden" / "totals.json"


# The default analysis, and a training plan that goes through every memory model (autocast, checkpoints, Adam).
PLANS = {"default": {}, "adam-amp-bf16-4-segments-b2": {"batch": 2, "optimizer": "adam", "precision": "amp-bf16",
                                                         "checkpoint": 4}}


def _totals(name: str) -> dict:
    return {plan: json.loads(json.dumps(analyze(name, **options).to_dict()["totals"])) for plan, options in PLANS.items()}


def _current() -> dict[str, dict]:
    return {name: _totals(name) for name in catalog.bundled()}


def test_golden_file_holds_every_bundled_spec():
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))
    if os.environ.get("ARCHCALC_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(_current(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden file rewritten")
    assert set(pinned) <= set(catalog.bundled()), "a pinned spec is no longer bundled"
    missing = sorted(set(catalog.bundled()) - set(pinned))
    assert not missing, f"bundled specs without pinned figures (rewrite the golden file): {missing}"


@pytest.mark.parametrize("name", sorted(json.loads(GOLDEN.read_text(encoding="utf-8"))))
def test_bundled_figures_are_unchanged(name):
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    now = _totals(name)
    moved = {f"{plan}.{key}": (pinned[plan].get(key), now[plan].get(key))
             for plan in PLANS for key in pinned[plan].keys() | now[plan].keys() if pinned[plan].get(key) != now[plan].get(key)}
    assert not moved, f"{name}: figures moved (pinned, now): {moved}"
