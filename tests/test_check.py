"""`archcalc check`: findings with file:line:col, budgets from three places, formats, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from archcalc import analyze, load
from archcalc.budget import Limit, load_budget_file, parse_value
from archcalc.check import Finding, Result, check_paths, check_spec, find_specs, github_annotation
from archcalc.errors import SpecError
from archcalc.plan import Plan
from archcalc.rules import RULES
from archcalc.units import format_bytes

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "check_fixtures"
FINE_BLOCKS = str(REPO / "specs" / "resnet20.yaml")  # small, and written in blocks (checkpoint every-block)
BROKEN, FINE, OVER = (str(FIXTURES / name) for name in ("broken.yaml", "fine.yaml", "over-budget.yaml"))

BROKEN_LINE = f"{BROKEN}:10:5: layers[3].conv 'too_big': output size 0 ≤ 0: (4 − 5 + 2·0)/1 + 1 = 0"
OVER_LINE = (f"{OVER}:13:11: budget: parameters over budget: expected at most 1,000,000 (1.00M), set by budget.params;"
             f" received 1,098,570 (1.10M)")


def test_fixtures_give_exactly_two_findings(cli):
    ran = cli("check", str(FIXTURES))
    assert (ran.code, ran.err) == (1, "")
    assert ran.out == f"{BROKEN_LINE}\n{OVER_LINE}\n3 specs, 2 findings\n"


def test_over_budget_fixture_figures_are_its_own():
    # fc6 reads 64·4·4 = 1,024 inputs: the network is 1,098,570 parameters, over its 1M budget
    params = (3 * 3 * 3 * 64 + 64) + (3 * 3 * 64 * 64 + 64) + (64 * 4 * 4 * 1024 + 1024) + (1024 * 10 + 10)
    assert params == 1_098_570 == analyze(load(OVER)).totals.params


def test_github_format_annotates_each_line(cli):
    ran = cli("check", str(FIXTURES), "--format", "github")
    assert ran.code == 1
    assert ran.out.splitlines() == [
        f"::error file={BROKEN},line=10,col=5::layers[3].conv 'too_big': output size 0 ≤ 0: (4 − 5 + 2·0)/1 + 1 = 0",
        f"::error file={OVER},line=13,col=11::budget: parameters over budget: expected at most 1,000,000 (1.00M),"
        f" set by budget.params; received 1,098,570 (1.10M)",
        "3 specs, 2 findings",
    ]


def test_json_format_is_a_list_of_findings(cli):
    ran = cli("check", str(FIXTURES), "--format", "json")
    assert ran.code == 1
    assert json.loads(ran.out) == [
        {"file": BROKEN, "line": 10, "col": 5, "layer": "layers[3].conv 'too_big'",
         "message": "output size 0 ≤ 0: (4 − 5 + 2·0)/1 + 1 = 0", "kind": "shape"},
        {"file": OVER, "line": 13, "col": 11, "layer": "budget",
         "message": "parameters over budget: expected at most 1,000,000 (1.00M), set by budget.params;"
                    " received 1,098,570 (1.10M)", "kind": "budget"},
    ]


def test_clean_specs_exit_0(cli):
    ran = cli("check", FINE)
    assert (ran.code, ran.out, ran.err) == (0, "1 spec, 0 findings\n", "")
    assert json.loads(cli("check", FINE, "--format", "json").out) == []


def test_bundled_specs_are_clean(cli):
    ran = cli("check", str(REPO / "specs"))
    assert ran.code == 0, ran.out
    count = len(list((REPO / "specs").glob("*.yaml")))
    assert ran.out == f"{count} specs, 0 findings\n"


def test_command_line_budgets(cli):
    ran = cli("check", FINE, "--max-params", "5K", "--max-macs", "1.5M")
    assert ran.code == 1
    assert ran.out.splitlines() == [
        f"{FINE}:1:1: parameters over budget: expected at most 5,000 (5.00K), set by --max-params; received 5,466 (5.47K)",
        f"{FINE}:1:1: MACs over budget: expected at most 1,500,000 (1.50M), set by --max-macs; received 1,622,336 (1.62M)",
        "1 spec, 2 findings",
    ]
    assert cli("check", FINE, "--max-params", "5466", "--max-macs", "2M").code == 0  # at the limit is within it


def test_train_memory_at_a_batch(cli):
    vgg16 = str(REPO / "specs" / "vgg16.yaml")
    needed = analyze(load(vgg16), 128).train_total_bytes
    ran = cli("check", vgg16, "--max-train-memory", "8GiB", "--batch", "128")
    assert ran.code == 1
    assert ran.out.splitlines() == [
        f"{vgg16}:1:1: training memory at batch 128 (sgd, float32) over budget: expected at most 8,589,934,592 B (8.0 GiB),"
        f" set by --max-train-memory; received {needed:,} B ({format_bytes(needed)})",
        "1 spec, 1 finding",
    ]
    assert cli("check", vgg16, "--max-train-memory", "8GiB", "--batch", "32").code == 0  # 3.2 GiB fits


def test_memory_budgets_are_what_fit_and_table_report(cli):
    report = analyze(load(FINE), 2)
    budgets = {"activation_memory": report.totals.activation_bytes,
               "inference_memory": sum(report.inference_breakdown().values()),
               "train_memory": report.train_total_bytes}
    for key, value in budgets.items():
        option = "--max-" + key.replace("_", "-")
        assert cli("check", FINE, option, str(value), "--batch", "2").code == 0
        ran = cli("check", FINE, option, str(value - 1), "--batch", "2", "--format", "json")
        assert [f["kind"] for f in json.loads(ran.out)] == ["budget"], key


def test_spec_budget_batch_sets_its_memory_batch(write_spec, cli):
    # fine.yaml: train_memory 1MiB at batch 2 holds; the same limit at batch 4 does not
    path = write_spec(Path(FINE).read_text(encoding="utf-8").replace("batch: 2", "batch: 4"))
    ran = cli("check", path)
    needed = analyze(load(path), 4).train_total_bytes
    assert ran.out.splitlines() == [
        f"{path}:11:47: budget: training memory at batch 4 (sgd, float32) over budget: expected at most 1,048,576 B (1.0 MiB),"
        f" set by budget.train_memory; received {needed:,} B ({format_bytes(needed)})",
        "1 spec, 1 finding",
    ]
    assert cli("check", path, "--batch", "1").code == 1  # the spec's own batch wins for its own budget


def test_budget_file(tmp_path, cli):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("# team limits\nparams: 5K\nmacs: 4G\n", encoding="utf-8")
    ran = cli("check", FINE, "--budget", str(budgets))
    assert ran.code == 1
    assert ran.out.splitlines() == [
        f"{FINE}:1:1: parameters over budget: expected at most 5,000 (5.00K), set by {budgets}:2:9; received 5,466 (5.47K)",
        "1 spec, 1 finding",
    ]


@pytest.mark.parametrize("text, message", [
    ("params: lots\n", ":1:9: expected a count such as 25M, 4G or 1500000 for 'params'; received text 'lots'"),
    ("train_memory: 8 gigs\n", ":1:15: expected a size such as 8GiB, 8G, 512MiB or 16GB for 'train_memory'; received text '8 gigs'"),
    ("parms: 25M\n", ":1:1: unknown budget key 'parms'; did you mean 'params'?"),
    ("batch: 0\n", ":1:8: expected an integer from 1 to 1,000,000,000 for 'batch'; received integer 0"),
    ("- params: 25M\n", ":1:1: a budget file is a mapping such as {params: 25M, macs: 4G}; this file is not one"),
    ("just some secret text\n", ":1:1: a budget file is a mapping such as {params: 25M, macs: 4G}; this file is not one"),
])
def test_bad_budget_file_is_a_usage_error_with_its_line(tmp_path, cli, text, message):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(text, encoding="utf-8")
    ran = cli("check", FINE, "--budget", str(budgets))
    assert ran.code == 2
    assert ran.err.startswith(f"error: {budgets}{message}")
    assert ran.out == ""


@pytest.mark.parametrize("how", ["the file", "a folder above it"])
def test_a_budget_file_linked_from_outside_the_checkout_is_never_read(tmp_path, monkeypatch, cli, how):
    secret = tmp_path / "home" / "token.txt"
    secret.parent.mkdir()
    secret.write_text("ghp_secret_token\n", encoding="utf-8")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    if how == "the file":
        (checkout / "budgets.yaml").symlink_to(secret)
        given = "budgets.yaml"
    else:
        (checkout / "ci").symlink_to(secret.parent)
        given = "ci/token.txt"
    ran = cli("check", FINE, "--budget", given)
    assert ran.code == 2 and "ghp_secret_token" not in ran.out + ran.err
    assert ran.err.startswith(f"error: {given}: budget file is a ") and "symbolic link" in ran.err


def test_a_budget_file_linked_inside_the_checkout_is_read(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "limits.yaml").write_text("params: 5K\n", encoding="utf-8")
    (tmp_path / "budgets.yaml").symlink_to(tmp_path / "limits.yaml")
    ran = cli("check", FINE, "--budget", "budgets.yaml")
    assert ran.code == 1 and "parameters over budget" in ran.out


@pytest.mark.parametrize("args", [
    ["check"],
    ["check", FINE, "--budget", "no/such/budgets.yaml"],
    ["check", "no/such/dir"],
    ["check", FINE, "--max-params", "lots"],
    ["check", FINE, "--max-train-memory", "8GB!"],
    ["check", FINE, "--format", "xml"],
    ["check", FINE, "--batch", "0"],
])
def test_usage_errors_exit_2(cli, args):
    assert cli(*args).code == 2


def test_bad_option_value_says_which_option(cli):
    ran = cli("check", FINE, "--max-params", "lots")
    assert ran.err == "error: --max-params: expected a count such as 25M, 4G or 1500000 for 'params'; received text 'lots'\n"


def test_a_directory_without_specs_is_a_usage_error(tmp_path, cli):
    (tmp_path / "notes.txt").write_text("no specs here", encoding="utf-8")
    ran = cli("check", str(tmp_path))
    assert (ran.code, ran.err) == (2, f"error: {tmp_path}: no *.yaml or *.yml specs in this directory\n")


def test_directories_are_searched_recursively_and_sorted(tmp_path):
    for name in ("b.yaml", "a/z.yml", "a/b/c.yaml", "notes.md", "a/data.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x: 1\n", encoding="utf-8")
    found = find_specs([str(tmp_path), str(tmp_path / "b.yaml")])
    assert [Path(p).relative_to(tmp_path).as_posix() for p, problem in found] == ["a/b/c.yaml", "a/z.yml", "b.yaml"]
    assert not any(problem for _, problem in found)


def test_keeps_going_after_a_bad_file(write_spec, cli):
    bad = write_spec("input: [3, 8, 8]\nlayers: [conv: {out: 8}]\n", "a-bad.yaml")
    worse = write_spec("input: [3, 8, 8]\nlayers: [\n", "b-worse.yaml")
    good = write_spec("input: [3, 8, 8]\nlayers: [relu: ]\n", "c-good.yaml")
    ran = cli("check", bad, worse, good)
    assert ran.code == 1
    assert ran.out.splitlines() == [
        f"{bad}:2:10: layers[0].conv: conv is missing 'k' (required: out, k)",
        f"{worse}:3:1: YAML syntax error: expected the node content, but found '<stream end>'"
        " (in the flow sequence that starts at 2:9)",
        "3 specs, 2 findings",
    ]


def test_strict_reports_every_inexact_division(write_spec, cli):
    path = write_spec("""
        input: [3, 224, 224]
        layers:
          - conv: {out: 8, k: 7, s: 2, p: 1, name: conv1}
          - maxpool: {k: 3, s: 2}
          - maxpool: {k: 2, s: 2}
    """)
    assert cli("check", path).code == 0
    ran = cli("check", path, "--strict")
    assert ran.code == 1
    # Every division whole: (N − 5)/2 needs N odd, then ((N − 3)/2 − 3)/2 needs N ≡ 1 (mod 4), then
    # ((N − 5)/4 − 2)/2 needs N ≡ 5 (mod 8); the smallest such N with every output ≥ 1 is 13.
    exact = "; inexact at 224×224, exact for N ≡ 5 (mod 8): 13, 21, 29, … (13 + 8k)"
    assert ran.out.splitlines() == [
        f"{path}:3:5: layers[0].conv 'conv1': (224 − 7 + 2·1)/2 = 109.5 is not whole; rounded down"
        " (--strict refuses inexact divisions)" + exact,
        f"{path}:4:5: layers[1].maxpool 'maxpool1': (110 − 3 + 2·0)/2 = 53.5 is not whole; rounded down"
        " (--strict refuses inexact divisions)" + exact,
        "1 spec, 2 findings",  # maxpool2: (54 − 2)/2 = 26 is whole
    ]


def test_spec_budget_values_are_parsed_with_their_marks(write_spec):
    path = write_spec("""
        input: [3, 8, 8]
        layers: [relu: ]
        budget: {params: 25M, macs: 4G, train_memory: 8GiB, batch: 32}
    """)
    budget = load(path).budget
    assert dict(budget) == {"params": 25 * 10**6, "macs": 4 * 10**9, "train_memory": 8 * 2**30, "batch": 32}
    assert str(budget.value_marks["macs"]) == f"{path}:3:29"


@pytest.mark.parametrize("key, text, value", [
    ("params", "25M", 25_000_000), ("params", "0.5G", 500_000_000), ("params", 1500, 1500),
    ("macs", "4g", 4 * 10**9), ("train_memory", "8GiB", 8 * 2**30), ("train_memory", "512 MB", 512 * 10**6),
    ("train_memory", "8G", 8 * 2**30), ("train_memory", "1.5GiB", 1_610_612_736), ("train_memory", "1073741824", 2**30),
    ("inference_memory", 1024, 1024), ("batch", 32, 32),
])
def test_budget_values(key, text, value):
    assert parse_value(key, text) == value


@pytest.mark.parametrize("key, value", [
    ("params", "25 parameters"), ("params", True), ("params", -1), ("params", 2.5), ("params", None),
    ("params", "9" * 400 + "T"), ("macs", "8GiB"), ("train_memory", "8 gigs"), ("batch", "32"), ("batch", 0), ("batch", True),
])
def test_bad_budget_values(key, value):
    with pytest.raises(ValueError, match=f"^expected .* for '{key}'; received "):
        parse_value(key, value)


def test_budget_file_keeps_where_each_limit_was_set(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("macs: 4G\nbatch: 8\n", encoding="utf-8")
    budget = load_budget_file(path)
    assert budget.limits == (Limit("macs", 4 * 10**9, f"{path}:1:7"),)  # no mark: findings point at the spec
    assert budget.batch == 8


def test_bad_spec_budget_is_a_spec_error(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers: [relu: ]\nbudget: {macs: 4G, memory: 8GiB}\n")
    with pytest.raises(SpecError, match=r":3:20: budget: unknown budget key 'memory'"):
        load(path)


def test_library_result():
    result = check_paths([str(FIXTURES)])
    assert isinstance(result, Result) and not result.ok
    assert result.specs == (BROKEN, FINE, OVER)
    assert [f.kind for f in result.findings] == ["shape", "budget"]
    assert [str(f) for f in result.findings] == [BROKEN_LINE, OVER_LINE]
    with pytest.raises(AttributeError):
        result.findings[0].line = 1  # type: ignore[misc]  (frozen)


def test_a_bug_of_ours_is_an_internal_finding_not_a_traceback(monkeypatch):
    import archcalc.check as check

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(check, "analyze", broken)
    [finding] = check_spec(FINE)
    assert finding == Finding(FINE, 1, 1, "", "internal error: RuntimeError: boom second line (please report this spec)",
                              "internal")


def test_github_annotation_escapes():
    finding = Finding("dir,1/a:b.yaml", 3, 4, "layers[0].conv", "100% over budget", "budget")
    assert github_annotation(finding) == "::error file=dir%2C1/a%3Ab.yaml,line=3,col=4::layers[0].conv: 100%25 over budget"
    broken = Finding("a\rb.yaml", 1, 1, "", "over\nbudget", "budget")  # never a second line: escaped as text
    assert github_annotation(broken) == "::error file=a\\rb.yaml,line=1,col=1::over\\nbudget"


def test_pre_commit_hook_runs_check():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "archcalc-check"
    assert hook["entry"] == "archcalc check"
    assert hook["language"] == "python"
    assert re.search(hook["files"], "specs/resnet50.yaml") and not re.search(hook["files"], ".github/workflows/ci.yml")


def test_ci_doc_workflow_checks_a_specs_folder():
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    workflow = next(yaml.safe_load(b) for b in blocks if "jobs:" in b)
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("pip install" in s for s in steps)
    assert any(s.startswith("archcalc check specs/") and "--format github" in s for s in steps)
    assert "# yaml-language-server: $schema=" in text


def test_a_tree_deeper_than_pythons_stack_is_searched(tmp_path, cli):
    levels = [tmp_path]
    for _ in range(1_200):  # Python's recursion limit is 1,000: a recursive walk cannot reach the bottom
        levels.append(levels[-1] / "d")
        levels[-1].mkdir()
    spec = levels[-1] / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers: [relu: ]\n", encoding="utf-8")
    try:
        ran = cli("check", str(tmp_path))
    finally:  # removed here, bottom up: pytest's own clean-up of tmp_path recurses too
        spec.unlink()
        for level in reversed(levels[1:]):
            level.rmdir()
    assert (ran.code, ran.err) == (0, "")
    assert ran.out.splitlines()[-1] == "1 spec, 0 findings"


def test_words_after_a_double_dash_are_paths_even_when_they_look_like_options(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "--format=json.yaml").write_text("input: [3, 8, 8]\nlayers: [conv: {out: 8}]\n", encoding="utf-8")
    ran = cli("check", "--format", "text", "--", "--format=json.yaml")
    assert ran.code == 1
    assert ran.out.splitlines() == ["--format=json.yaml:2:10: layers[0].conv: conv is missing 'k' (required: out, k)",
                                    "1 spec, 1 finding"]


def test_three_mistakes_are_three_findings_in_one_run(write_spec, cli):
    path = write_spec("""
        input: [3, 32, 32]
        budget: {param: 25M, train_mem: 8GiB}
        layers:
          - conv: {out: 16, k: 3, kernel: 3}
          - linear: {out: 10}
        """)
    ran = cli("check", path)
    assert ran.code == 1
    assert ran.out.splitlines() == [
        f"{path}:2:10: budget: unknown budget key 'param'; did you mean 'params'? (known: activation_memory, batch, "
        "checkpoint, inference_memory, macs, optimizer, params, precision, train_memory)",
        f"{path}:2:22: budget: unknown budget key 'train_mem'; did you mean 'train_memory'? (known: activation_memory, "
        "batch, checkpoint, inference_memory, macs, optimizer, params, precision, train_memory)",
        f"{path}:4:27: layers[0].conv: unknown argument of conv 'kernel'; did you mean 'k'? (known: act, bias, bn, d, "
        "from, groups, k, name, out, p, s, table)",
        "1 spec, 3 findings",
    ]
    with pytest.raises(SpecError, match="unknown budget key 'param'"):  # other commands stop at the first
        load(path)


def test_every_impossible_layer_and_the_strict_finding_beside_a_shape_error(write_spec, cli):
    # conv1 on 32: (32 − 3)/2 + 1 = 15.5, inexact; `bad` (k 99 on 15) and `worse` (k 50 on 13) are impossible,
    # each on its own branch; `after` reads `bad` and is passed over; `head` reads the fine branch
    path = write_spec("""
        input: [3, 32, 32]
        layers:
          - conv: {out: 16, k: 3, s: 2}
          - conv: {out: 8, k: 99, name: bad}
          - conv: {out: 8, k: 3, name: after}
          - conv: {out: 8, k: 3, from: conv1, name: ok}
          - conv: {out: 8, k: 50, from: ok, name: worse}
          - linear: {out: 10, from: ok, name: head}
        """)
    found = json.loads(cli("check", path, "--strict", "--format", "json").out)
    assert [(f["kind"], f["layer"].split()[-1]) for f in found] == [
        ("shape", "'bad'"), ("shape", "'worse'"), ("inexact", "'conv1'"), ("unread", "'after'"),
        ("unread", "'worse'")]
    assert found[0]["message"] == f"output size {(15 - 99) + 1} ≤ 0: (15 − 99 + 2·0)/1 + 1 = {(15 - 99) + 1}"


def test_a_block_s_mistake_is_one_finding_and_what_it_makes_is_passed_over(write_spec, cli):
    path = write_spec("""
        input: [3, 32, 32]
        blocks:
          unit:
            layers:
              - conv: {out: 8, k: 3, p: 1, stride: 1}
              - relu: {}
        layers:
          - unit:
            repeat: 3
          - cnv: {out: 8}
          - linear: {out: 10}
        """)
    ran = cli("check", path)
    assert ran.out.splitlines()[1:] == [f"{path}:10:5: layers[1].cnv: unknown layer kind 'cnv'; did you mean 'conv'? "
                                        f"(known: {', '.join(sorted([*RULES, 'unit']))})", "1 spec, 2 findings"]
    assert ran.out.startswith(f"{path}:5:36: layers[0].unit > blocks.unit.layers[0].conv: unknown argument of conv "
                              "'stride'; did you mean 's'?")


def test_training_budgets_price_the_plan(write_spec, cli):
    vgg16 = str(REPO / "specs" / "vgg16.yaml")
    plan = Plan("amp-bf16", "adam", None)
    needed = plan.analyze(load(vgg16), 32).train_total_bytes
    ran = cli("check", vgg16, "--max-train-memory", str(needed - 1), "--batch", "32", "--optimizer", "adam",
              "--precision", "amp-bf16")
    assert ran.out.splitlines()[0].endswith(f"training memory at batch 32 (adam, amp-bf16) over budget: expected at "
                                            f"most {needed - 1:,} B ({format_bytes(needed - 1)}), set by "
                                            f"--max-train-memory; received {needed:,} B ({format_bytes(needed)})")
    assert cli("check", vgg16, "--max-train-memory", str(needed), "--batch", "32", "--optimizer", "adam",
               "--precision", "amp-bf16").code == 0
    assert needed != analyze(load(vgg16), 32).train_total_bytes  # sgd, fp32 would price another step
    # the spec's own plan keys win over the command line's, key by key
    checkpointed = Plan("bf16", "momentum", "every-block").analyze(load(FINE_BLOCKS), 4).train_total_bytes
    path = write_spec(Path(FINE_BLOCKS).read_text(encoding="utf-8") +
                      f"budget: {{train_memory: {checkpointed}, batch: 4, optimizer: momentum, precision: bfloat16,"
                      " checkpoint: every-block}\n")
    assert cli("check", path, "--optimizer", "adam").code == 0
    assert cli("check", path, "--checkpoint", "none").code == 0
    tighter = write_spec(Path(path).read_text(encoding="utf-8").replace(f"train_memory: {checkpointed}",
                                                                        f"train_memory: {checkpointed - 1}"), "t.yaml")
    assert "(momentum, bf16, checkpoint every block) over budget" in cli("check", tighter).out
    team = Path(write_spec(f"train_memory: {needed - 1}\nbatch: 32\noptimizer: adam\nprecision: amp-bf16\n", "b.yaml"))
    assert "(adam, amp-bf16) over budget" in cli("check", vgg16, "--budget", str(team)).out  # a budget file's plan
    bad = write_spec("input: [3, 8, 8]\nbudget: {optimizer: lion}\nlayers:\n  - linear: {out: 2}\n", "bad.yaml")
    assert "expected one of sgd, momentum, adam for 'optimizer'; received text 'lion'" in cli("check", bad).out


def test_a_limit_stops_the_expansion_and_keeps_what_was_found(write_spec, cli):
    path = write_spec("input: [16, 32]\nbogus: 1\nlayers:\n  - linear: {out: 4}\n    repeat: 9000\n  - conv: {kk: 3}\n")
    found = json.loads(cli("check", path, "--format", "json").out)
    assert [(f["line"], f["kind"]) for f in found] == [(2, "spec"), (4, "spec")]
    assert found[1]["message"] == "network expands past 5,000 layers"  # and the conv after it is not read


def test_a_hole_in_a_mixture_s_body_is_one_finding(write_spec, cli):
    path = write_spec("""
        input: [16, 32]
        blocks:
          expert:
            layers:
              - linear: {out: 64, bais: true}
              - linear: {out: 32}
        layers:
          - moe: {experts: 4, top: 2, body: expert}
          - linear: {out: 10}
        """)
    ran = cli("check", path)
    assert ran.out.splitlines()[1:] == ["1 spec, 1 finding"]
    assert "unknown argument of linear 'bais'; did you mean 'bias'?" in ran.out
