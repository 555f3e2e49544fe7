"""The symbolic path is total: every bundled spec and every spec of the suite, at its input, at a
symbolic square input and evaluated at a few sizes, gives figures or one clean line, never an
internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

import archcalc
from archcalc.catalog import bundled

REPO = Path(__file__).resolve().parent.parent
SIZES = "N=33,B=2"  # one size: every formula evaluated (test_symbolic checks the values, at many sizes)


def _specs() -> list[str]:
    suite = [str(p) for p in sorted((REPO / "tests").rglob("*.yaml")) if "hostile" not in p.parts]
    return sorted(bundled()) + suite


@pytest.mark.parametrize("spec", _specs())
def test_no_internal_error_at_any_input(cli, spec):
    try:
        channels = archcalc.load(spec).input[0]
    except archcalc.ArchcalcError:
        channels = 3
    runs = [("table", spec), ("table", spec, "--input", f"{channels}xNxN", "-b", "B", "--at", SIZES)]
    for args in runs:
        ran = cli(*args)
        assert "internal error" not in ran.err, (args, ran.err)
        assert ran.code in (0, 1) and (ran.code == 0 or ran.err.startswith("error: ")), (args, ran.err)
