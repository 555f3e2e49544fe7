"""The symbolic path is total: every bundled spec and every spec of the suite, at its input, at a
symbolic square input and evaluated at a few sizes, gives figures or one clean line, never an
internal error."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import archcalc
from archcalc.catalog import bundled
from archcalc.errors import ArchcalcError, ShapeError
from archcalc.fit import Headroom, needed
from archcalc.rules import RULES, Inputs
from archcalc.sizes import at
from archcalc.symbolic import Expr
from helpers import network_of
from test_rules import CASES
from test_symbolic import FIGURES, TOTALS

REPO = Path(__file__).resolve().parent.parent
AT = 33  # one size through the command line: every formula evaluated (test_symbolic checks the values, at many)
MORE_SIZES = (1, 2, 7, 224, 1000)  # and a few more through the library, the smallest among them


def _specs() -> list[str]:
    suite = [str(p) for p in sorted((REPO / "tests").rglob("*.yaml")) if "hostile" not in p.parts]
    return sorted(bundled()) + suite


def _symbolic_input(spec: str) -> tuple[str, str, tuple]:
    """A spec's input made symbolic, as --input writes it, with its variable and shape: an image's side N,
    a sequence's length S, a signal's L; a spec the loader refuses, or another input, is given 3×N×N."""
    n, s, length = Expr.var("N"), Expr.var("S"), Expr.var("L")
    try:
        net = archcalc.load(spec)
    except ArchcalcError:
        return "3xNxN", "N", (3, n, n)
    shape = net.input
    if net.ids:
        return "S", "S", (s,)
    if len(shape) == 2 and net.input_rank() == 0:
        return f"Sx{shape[1]}", "S", (s, shape[1])
    if len(shape) == 2:
        return f"{shape[0]}xL", "L", (shape[0], length)
    return f"{shape[0]}xNxN", "N", (shape[0], n, n)


@pytest.mark.parametrize("spec", _specs())
def test_no_internal_error_at_any_input(cli, spec):
    given, variable, shape = _symbolic_input(spec)
    runs = [("table", spec), ("table", spec, "--input", given, "-b", "B", "--at", f"{variable}={AT},B=2")]
    for args in runs:
        ran = cli(*args)
        assert "internal error" not in ran.err, (args, ran.err)
        assert ran.code in (0, 1) and (ran.code == 0 or ran.err.startswith("error: ")), (args, ran.err)
    if ran.code == 0:  # the symbolic report at a few more sizes: figures or a clean refusal
        net = archcalc.load(spec)
        report = archcalc.analyze(net, batch=Expr.var("B"), input_shape=shape)
        for size in MORE_SIZES:
            try:
                at(report, {variable: size, "B": 3}, net)
            except ArchcalcError as err:
                assert "\n" not in str(err), err


# ── every kind × every dimension of its input made symbolic ──────────────────

def _kind_cases() -> list[tuple[str, str, list[int]]]:
    """(kind, spec text, concrete input) for every kind of the rule table: each row of test_rules' CASES
    (which covers every kind but these), an activation on a map, a merge and a crop of the input twice,
    and moe on tokens (combine is moe's own)."""
    cases = [(layer.split(":")[0], f"layers:\n  - {layer}\n", shape) for layer, shape, *_ in CASES]
    covered = {kind for kind, *_ in cases}
    for kind, rule in sorted(RULES.items()):
        if kind in covered or kind == "combine":
            continue
        if kind == "moe":
            body = "blocks:\n  expert: {layers: [linear: 8, linear: 6]}\n"
            cases.append((kind, f"{body}layers:\n  - moe: {{experts: 3, top: 2, body: expert}}\n", [5, 6]))
        elif rule.inputs is Inputs.ONE:
            cases.append((kind, f"layers:\n  - {kind}:\n", [4, 6, 6]))
        else:
            cases.append((kind, f"layers:\n  - {kind}: {{from: [input, input]}}\n", [4, 6, 6]))
    assert {kind for kind, *_ in cases} == set(RULES) - {"combine"}
    return cases


def _spec(text: str, given: list[int] | dict[str, int]) -> str:
    """The spec of a case: its input (a list, or {ids: S}) and its layers."""
    written = given if isinstance(given, list) else f"{{ids: {given['ids']}}}"
    return f"input: {written}\n{text}"


KIND_CASES = [(kind, _spec(text, given), axis) for kind, text, given in _kind_cases()
              for axis in range(len(given) if isinstance(given, list) else 1)]


@pytest.mark.parametrize("kind, spec, axis", KIND_CASES,
                         ids=[f"{spec.split(chr(10))[-2].strip('- ')}@{axis}" for _, spec, axis in KIND_CASES])
def test_every_kind_is_total_at_a_symbolic_input(kind, spec, axis):
    """A spec of the kind with one dimension of its input symbolic (channels, a side, tokens, features):
    it analyses, and its formulas at random sizes are the concrete engine's figures there (or the same
    layer fails), or it refuses in one clean line. Never another exception."""
    net = network_of(spec)
    shape = list(net.input)
    shape_at = lambda n: (*shape[:axis], n, *shape[axis + 1:])  # noqa: E731
    try:
        report = archcalc.analyze(net, batch=2, input_shape=shape_at(Expr.var("N")))
    except ArchcalcError as err:
        assert "\n" not in str(err) and str(err), err
        return
    rng = random.Random(f"{spec}{axis}")
    for side in sorted({shape[axis], *(rng.randint(1, 2 * max(shape)) for _ in range(4))}):
        try:
            concrete = archcalc.analyze(net, batch=2, input_shape=shape_at(side))
        except ShapeError as err:
            with pytest.raises(ShapeError) as symbolic_error:
                at(report, {"N": side}, net)
            assert symbolic_error.value.path == err.path, side
            continue
        evaluated = at(report, {"N": side}, net)
        for mine, theirs in zip(evaluated.rows, concrete.rows):
            assert [getattr(mine, f) for f in FIGURES] == [getattr(theirs, f) for f in FIGURES], (side, mine.name)
        assert [getattr(evaluated.totals, f) for f in TOTALS] == [getattr(concrete.totals, f) for f in TOTALS], side


# ── the hostile run's symbolic cases, each answered or refused in one line ──

PERMUTED = """
    input: [16, 8, 8]
    blocks:
      wider: {layers: [conv: {out: in_channels * 2, k: 1}]}
    layers:
      - permute: [1, 2, 0]
      - wider:
"""
TRANSPOSED_THEN_FC = """
    input: [3, 8, 8]
    layers:
      - convtranspose: {out: 4, k: 3, s: 2, p: 1, output_padding: 1}
      - flatten:
      - fc: 10
"""


def test_abs_of_a_size_is_defined_where_its_sign_is():
    n = Expr.var("N")
    assert abs(n - 1) is n - 1 and abs(1 - n) is n - 1 and abs(Expr.of(-3)) == 3
    with pytest.raises(ValueError, match="depends on the size"):
        abs(n - 5)


def test_in_channels_that_a_permute_made_symbolic_is_one_line(cli, write_spec):
    ran = cli("table", write_spec(PERMUTED), "--input", "16xHxW")
    assert ran.code == 1 and ran.err.count("\n") == 1, ran.err
    assert "'out' would be the symbolic size 2·H" in ran.err and "analyse at a concrete size" in ran.err


def test_layernorm_over_symbolic_features(cli, write_spec):
    spec = write_spec("input: {channels: 16, length: 8}\nlayers:\n  - layernorm:\n  - linear: 4\n")
    ran = cli("table", spec, "--input", "16xL", "--at", "L=12", "--format", "json")
    assert ran.code == 0, ran.err
    concrete = json.loads(cli("table", spec, "--input", "16x12", "--format", "json").out)
    assert json.loads(ran.out)["totals"] == concrete["totals"]


def test_explain_a_symbolic_layer_as_json(cli):
    ran = cli("explain", "alexnet", "conv2", "--input", "3xHxW", "--format", "json")
    assert ran.code == 0, ran.err
    assert "H" in json.dumps(json.loads(ran.out)["formulas"])


def test_a_transposed_conv_before_an_fc_through_sizes_and_fit(cli, write_spec):
    spec = write_spec(TRANSPOSED_THEN_FC)
    ran = cli("sizes", spec)
    assert ran.code == 0 and "every layer accepts N ≥ 1" in ran.out, ran.err
    fitted = json.loads(cli("fit", spec, "--solve", "input", "-m", "1.5GiB", "--reserve", "0", "--format", "json").out)
    side, net = fitted["side"], archcalc.load(spec)
    budget, headroom = 3 * 2**29, Headroom(reserve=0, fragmentation=10)
    assert [needed(archcalc.analyze(net, input_shape=(3, n, n)), False, headroom=headroom) <= budget
            for n in (side, side + 1)] == [True, False]  # the concrete engine's answer
    refused = cli("fit", spec, "--solve", "input", "-m", "1GB")  # the default reserve, 1 GiB, is past it
    assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
    assert "the smallest it takes, N 1, needs 1.0 GiB; the reserve alone is 1.0 GiB (--reserve)" in refused.err
