"""The command line parses, calls the library and prints: every JSON document it writes is a library function's.

Each test runs a command with --format json and holds its output to what the
library returns for the same question, so that a script calling archcalc gets
exactly what the command prints.
"""

from __future__ import annotations

import json

import pytest

import archcalc
from archcalc import catalog, plan, render, sizes
from archcalc.errors import ShapeError
from archcalc.explain import explain
from archcalc.fit import DEFAULT_HEADROOM, Goal, Headroom, answer, fit_batch
from archcalc.plan import Plan
from archcalc.symbolic import Expr
from conftest import module_or_fail

N, H, W, B = (Expr.var(name) for name in ("N", "H", "W", "B"))


@pytest.mark.parametrize(("args", "shape", "batch", "sides"), [
    (("--input", "3xHxW"), (3, H, W), B, {"H", "W"}),
    (("--input", "3xNxN", "--batch", "8"), (3, N, N), 8, {"N"}),
])
def test_a_symbolic_table_prints_the_reports_own_json(cli, args, shape, batch, sides):
    report = archcalc.analyze("resnet50", batch=batch, input_shape=shape)
    ran = cli("table", "resnet50", *args, "--format", "json")
    assert ran.code == 0, ran.err
    assert ran.out == render.to_json(report) + "\n"
    assert json.loads(ran.out) == report.to_dict()
    found = report.to_dict()["symbolic"]["sizes"]
    assert set(found) == sides  # each side read alone
    for side, read in found.items():
        assert read == sizes.sizes(report, variable=side).to_dict()
        assert read["period"] == 2**5  # five stages halve the side


def test_a_concrete_report_has_no_symbolic_part(cli):
    report = archcalc.analyze("alexnet", batch=4)
    ran = cli("table", "alexnet", "--batch", "4", "--format", "json")
    assert json.loads(ran.out) == report.to_dict() and "symbolic" not in report.to_dict()
    assert report.sides() == {} and report.variables() == set()


def test_strict_at_sizes_is_refused_by_the_library_as_by_the_command(cli):
    network = catalog.load("resnet50")
    symbolic = archcalc.analyze(network, input_shape=(3, N, N))
    found = sizes.sizes(symbolic)
    exact = found.smallest_exact + 7 * found.period  # 225: every stride divides
    inexact = exact - 1
    assert any(row.flags for row in sizes.at(symbolic, {"N": inexact}, network).rows)  # rounded, and said
    with pytest.raises(ShapeError) as refused:
        sizes.at(symbolic, {"N": inexact}, network, strict=True)
    ran = cli("table", "resnet50", "--input", "3xNxN", "--at", f"N={inexact}", "--strict")
    assert ran.code == 1 and ran.err == f"error: {refused.value}\n"
    assert "--strict refuses inexact divisions" in ran.err
    assert not any(row.flags for row in sizes.at(symbolic, {"N": exact}, network, strict=True).rows)


TRAINED = Goal(16 * 2**30, True, Plan("amp-bf16", "adam", "every-block", 4, 2, "optimizer"), DEFAULT_HEADROOM)


@pytest.mark.parametrize(("args", "goal", "solve", "batch"), [
    (("--memory", "16GiB", "--train", "--optimizer", "adam", "--precision", "amp-bf16", "--checkpoint", "every-block",
      "--accumulate", "4", "--data-parallel", "2", "--shard", "optimizer"), TRAINED, "batch", 1),
    (("--memory", "8GB"), Goal(8 * 10**9, dtype="float32", headroom=DEFAULT_HEADROOM), "batch", 1),
    (("--memory", "4GiB", "--reserve", "0", "--fragmentation", "0", "--dtype", "bfloat16"),
     Goal(4 * 2**30, dtype="bfloat16", headroom=Headroom(0, 0)), "batch", 1),
    (("--memory", "16GiB", "--train", "--solve", "input", "--batch", "32"),
     Goal(16 * 2**30, True, Plan("fp32"), DEFAULT_HEADROOM), "input", 32),
])
def test_fit_prints_the_answers_json(cli, args, goal, solve, batch):
    ran = cli("fit", "resnet50", *args, "--format", "json")
    assert ran.code == 0, ran.err
    found = answer(catalog.load("resnet50"), goal, solve, batch)
    assert ran.out == json.dumps(found.to_dict(), indent=2) + "\n"
    step = found.fit.step
    assert step.bytes == sum(part.bytes for part in step.parts) <= goal.budget < found.fit.next_step.bytes


def test_fit_analyses_each_batch_it_tries_once(monkeypatch):
    tried = []
    analyze = plan.analyze
    monkeypatch.setattr(plan, "analyze", lambda net, batch, *args, **kw: tried.append(batch) or analyze(net, batch, *args, **kw))
    fit = fit_batch(catalog.load("resnet50"), TRAINED)
    assert len(tried) == len(set(tried)) and {1, 2, fit.batch, fit.batch + 1} <= set(tried)
    assert fit.at_batch.batch == fit.batch and fit.at_next.batch == fit.batch + 1


def test_fit_of_a_symbolic_spec_names_what_to_do(write_spec, cli):
    path = write_spec("""
        version: 1
        name: square
        input: [3, N, N]
        layers:
          - conv: {out: 8, k: 3}
    """)
    ran = cli("fit", path, "--memory", "1GiB")
    with pytest.raises(archcalc.ArchcalcError) as refused:
        answer(catalog.load(path), Goal(2**30, headroom=DEFAULT_HEADROOM))
    assert ran.code == 1 and ran.err == f"error: {refused.value}\n"
    assert "fit --solve batch needs a concrete input; square's is symbolic (3×N×N)" in ran.err
    solved = answer(catalog.load(path), Goal(2 * 2**30, headroom=DEFAULT_HEADROOM), "input")
    assert solved.fit is None and solved.side_steps[0].bytes <= 2 * 2**30 < solved.side_steps[1].bytes
    assert json.loads(cli("fit", path, "--memory", "2GiB", "--solve", "input", "--format", "json").out) == solved.to_dict()


def _timeless(documents):
    """verify's JSON without the seconds each check took (two runs never take the same time)."""
    for document in documents:
        document.pop("seconds")
        if document["against"] is not None:
            document["against"].pop("seconds")
    return documents


def test_verify_prints_the_verifications_json(cli):
    module_or_fail("torch")
    module_or_fail("torchvision")
    from archcalc.backends import reference, verify

    ran = cli("verify", "alexnet-tv", "--against", "spec", "--batch", "1", "--format", "json")
    assert ran.code == 0, ran.err
    network = catalog.load("alexnet-tv")
    checked = verify.verify(network, (1,))
    compared = reference.compare(network, network.reference, (1,))  # --batch 1: the reference too
    document = verify.document([checked], [compared])
    assert _timeless(json.loads(ran.out)) == _timeless(json.loads(json.dumps(document)))
    assert document[0]["saved"][0]["engine"] == checked.saved[0].engine > 0
    assert document[0]["against"]["params"] == {"engine": checked.params[0], "model": compared.params[1]}


def test_explain_prints_the_rows_json(cli):
    network = catalog.load("resnet50-tv")
    report = archcalc.analyze(network)
    for name in ("conv1", "layer1", "layer1.bottleneck2", "layer1.bottleneck2.branch1.conv1"):
        found = explain(network, report, name)
        assert cli("explain", "resnet50-tv", name, "--format", "json").out == render.dumps(found.to_dict()) + "\n"
    block = explain(network, report, "layer1")
    assert block.depth == 1 and block.row.params == sum(row.params for row in block.inside)
    assert explain(network, report, "conv1").to_dict()["input_shapes"] == {"input": list(network.input)}
    with pytest.raises(archcalc.ArchcalcError, match="no layer or block 'layer9'"):
        explain(network, report, "layer9")


def test_list_prints_the_networks_json(cli):
    listed = archcalc.api.networks()
    assert cli("list", "--format", "json").out == render.dumps(listed) + "\n"
    alexnet = next(entry for entry in listed if entry["name"] == "alexnet")
    assert alexnet["params"] == archcalc.analyze("alexnet").totals.params


def test_sizes_prints_the_surveys_json(cli):
    network = catalog.load("googlenet")
    survey = sizes.survey(network, 200, 260, (223, 224))
    assert cli("sizes", "googlenet", "223", "224", "--range", "200..260", "--format", "json").out == \
        render.dumps(survey.to_dict()) + "\n"
    assert [t["side"] for t in survey.trials] == [223, 224] and survey.found.within == (200, 260)
    below = survey.below()
    assert below["side"] == survey.found.smallest - 1 and not below["accepted"]
