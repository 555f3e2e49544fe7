"""Property-based tests: no input breaks the loader, the expander or the analysis.

Every input — a bundled spec with its values mutated, its keys deleted,
duplicated or swapped, its types changed; its text truncated or sprinkled
with random bytes; a spec drawn at random from the rule table; random bytes;
a hostile contributor's spec (wide fan-in through `from:` lists in repeated
blocks, control characters, escape sequences, rich markup and workflow
commands in its texts, late arguments, `mul` bodies, token inputs, analysed
in a symbolic size too) — must either be analysed or refused with
archcalc's own error (`ArchcalcError`): one line, with file:line:col for a
spec error, within a second; and every format it is shown in must be safe
for a terminal and a CI log. Every number typed on a command line is within
its bounds or a one-line usage error, and `check` of a random tree of files,
symbolic links and FIFOs reads nothing outside it and skips nothing in
silence. Anything else (an IndexError, a RecursionError, a hang) is a bug.

The normal run is small and deterministic (200 examples in all, the same
ones each time). A longer, random run explores further:

    ARCHCALC_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py

(the total is shared out among the tests below; hypothesis keeps any
failure it finds in .hypothesis/ and replays it first next time).
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")  # a test dependency ("archcalc[test]")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archcalc import check, expand, render, source  # noqa: E402
from archcalc.analysis import analyze  # noqa: E402
from archcalc.budget import BUDGET_KEYS, from_mapping, overruns  # noqa: E402
from archcalc.errors import ArchcalcError, SpecError  # noqa: E402
from archcalc.rules import RULES, Inputs  # noqa: E402
from archcalc.symbolic import Expr  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPEC_FILES = sorted((REPO / "specs").glob("*.yaml"))
TEXTS = {path.stem: path.read_bytes() for path in SPEC_FILES}
TREES = {name: yaml.safe_load(raw) for name, raw in TEXTS.items()}
LIMIT_S = 5.0  # CPU seconds: a hang or a blow-up, not a benchmark (benchmarks/ times the worst cases)
NAME = "fuzz.yaml"

_EXAMPLES = os.environ.get("ARCHCALC_FUZZ_EXAMPLES")
TOTAL = int(_EXAMPLES) if _EXAMPLES else 200


def fuzz(share: float) -> settings:
    """Settings for one test: its share of the total examples; random only when a total is asked for."""
    return settings(max_examples=max(1, round(TOTAL * share)), deadline=None, derandomize=_EXAMPLES is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(raw: bytes, strict: bool = False, batch: int = 1, shown: bool = False, symbolic: bool = False) -> str:
    """Load, expand, analyse and hold to its budget: 'ok', or the one-line error; fails on anything else.

    `shown`: the report is rendered in every format, each safe to show; `symbolic`: analysed for an
    input of symbolic size H×W too (refused within its budget of work, which bounds it, or answered)."""
    start = time.process_time()
    report = network = None
    try:
        network = expand.build(source.load_bytes(raw, NAME), NAME, "fuzz")
        report = analyze(network, batch, strict=strict)
        budget = from_mapping(network.budget, lambda key, mark: key, in_spec=True)
        if budget.limits:
            overruns(analyze(network, budget.batch or batch) if budget.memory() else report, budget.limits)
        result = "ok"
    except ArchcalcError as err:
        result = one_line_error(err)
    seconds = time.process_time() - start
    assert seconds < LIMIT_S, f"{seconds:.2f} s for {raw[:300]!r}"
    if symbolic and network is not None and len(network.input) == 3:
        try:
            analyze(network, input_shape=(network.input[0], Expr.var("H"), Expr.var("W")))
        except ArchcalcError as err:
            one_line_error(err)
    if shown:
        assert_safe(source.shorten(result, 10**6))  # as the CLI writes an error line
        if report is not None:
            for text in (render.table_text(report, formulas=True, memory=True), render.to_json(report),
                         render.to_csv(report), render.to_markdown(report, memory=True)):
                assert_safe(text)
            json.loads(render.to_json(report))
    return result


def one_line_error(err: ArchcalcError) -> str:
    result = str(err)
    assert "\n" not in result and "\r" not in result, result
    if isinstance(err, SpecError):
        assert err.mark is not None and err.mark.file == NAME and err.mark.line >= 1 and err.mark.col >= 1, result
    return result


def assert_safe(text: str) -> None:
    """Nothing that acts on a terminal or that a GitHub runner reads as a command; valid UTF-8."""
    text.encode("utf-8")
    for line in text.split("\n"):
        assert line.isprintable() and "##[" not in line and not line.lstrip().startswith(":"), repr(line)


def test_every_bundled_spec_is_ok():
    for name, raw in TEXTS.items():
        assert outcome(raw) == "ok", name


# ── values to plant in a spec ────────────────────────────────────────────────────────────

KEYS = sorted({*expand.TOP_KEYS, *expand.ITEM_KEYS, *expand.BLOCK_KEYS, *BUDGET_KEYS, *RULES,
               *(arg.name for rule in RULES.values() for arg in rule.args)})
WORDS = ["n - 1", "out * 4", "mid", "stride", "same", "valid", "relu", "global", "input", "x // 0", "10**9", "7 / 2",
         "(((1)))", "conv1", "stage2", "branch1", "25M", "8GiB", "1e-5", "-1", "1e999", "yes", "null", ".inf",
         "identity", "projection", "pad", "a.b", "", " ", "\t", "0x10", "1_000"]
ATOMS = st.one_of(
    st.integers(-3, 300),
    st.sampled_from([0, 1, 2, 3, 7, 64, 10**6, 10**9, 10**9 + 1, 10**15, 10**15 + 1, 10**16, -1, -(10**15)]),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.sampled_from(WORDS),
    st.sampled_from(KEYS),
    st.text(max_size=12),
)
VALUES = st.recursive(ATOMS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4), max_leaves=10)


def _places(tree: Any, path: tuple = ()) -> list[tuple]:
    """Every (container path, key) in a plain YAML tree."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.append(path + (key,))
            found.extend(_places(value, path + (key,)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found.append(path + (index,))
            found.extend(_places(value, path + (index,)))
    return found


def _parent(tree: Any, place: tuple) -> Any:
    for key in place[:-1]:
        tree = tree[key]
    return tree


def _retype(value: Any) -> Any:
    """The same value, as another type: 64 → '64', [3, 3] → {'3': 3}, 'relu' → ['relu'] …"""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return [str(value), float(value), value == 1, None][value % 4]
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


@st.composite
def mutated_trees(draw) -> bytes:
    """A bundled spec, one to four mutations of its data, dumped back to YAML."""
    import copy

    name = draw(st.sampled_from(sorted(TREES)))
    tree = copy.deepcopy(TREES[name])
    pick = random.Random(draw(st.integers(0, 2**32 - 1))).choice  # places evenly, not mostly the first ones
    for _ in range(draw(st.integers(1, 4))):
        places = _places(tree)
        place = pick(places)
        parent, key = _parent(tree, place), place[-1]
        numbers = [p for p in places if type(_parent(tree, p)[p[-1]]) is int]
        op = draw(st.sampled_from(["number", "number", "value", "retype", "delete", "duplicate", "swap", "rename", "wrap"]))
        if op == "number" and numbers:  # a nearby or extreme integer where there was one: shapes, sizes, budgets move
            place = pick(numbers)
            parent, key = _parent(tree, place), place[-1]
            near = min(abs(parent[key]) * 2 + 2, 10**6)
            parent[key] = draw(st.integers(-1, near) | st.sampled_from([0, 1, 10**4, 10**6, 10**9, 10**9 + 1]))
        elif op == "value":  # most often an empty or missing value, where code tends to assume one
            parent[key] = draw(st.sampled_from([None, [], {}, 0, -1, "", True]) | VALUES)
        elif op == "retype":
            parent[key] = _retype(parent[key])
        elif op == "delete":
            del parent[key]
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[f"{key}_copy" if draw(st.booleans()) else draw(st.sampled_from(KEYS))] = copy.deepcopy(parent[key])
        elif op == "swap":
            other = pick(places)
            other_parent = _parent(tree, other)
            if other[: len(place)] != place and place[: len(other)] != other:  # neither inside the other
                parent[key], other_parent[other[-1]] = other_parent[other[-1]], parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = parent.pop(key)
        elif op == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {draw(st.sampled_from(KEYS)): parent[key]}
        if not isinstance(tree, (dict, list)) or not tree:
            break
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True).encode("utf-8")


@st.composite
def mutated_texts(draw) -> bytes:
    """A bundled spec's bytes, truncated, spliced with random bytes, lines duplicated, swapped or re-indented."""
    raw = bytearray(draw(st.sampled_from([TEXTS[name] for name in sorted(TEXTS)])))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["truncate", "insert", "delete", "byte", "dup-line", "swap-lines", "indent"]))
        lines = bytes(raw).split(b"\n")
        line = draw(st.integers(0, len(lines) - 1))
        if op == "truncate":
            raw = raw[:at]
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\x00", b"\xff", b"\t", b"&a ", b"*a",
                                                                                    b"!!python/none ", b"<<: ", b"---\n",
                                                                                    b"[", b"{", b": ", b"- ", b"'", b'"']))
        elif op == "delete":
            del raw[at:at + draw(st.integers(1, 40))]
        elif op == "byte" and raw:
            raw[min(at, len(raw) - 1)] = draw(st.integers(0, 255))
        elif op == "dup-line":
            lines.insert(line, lines[line])
            raw = bytearray(b"\n".join(lines))
        elif op == "swap-lines":
            other = draw(st.integers(0, len(lines) - 1))
            lines[line], lines[other] = lines[other], lines[line]
            raw = bytearray(b"\n".join(lines))
        elif op == "indent":
            lines[line] = b" " * draw(st.integers(1, 6)) + lines[line]
            raw = bytearray(b"\n".join(lines))
    return bytes(raw)


# ── specs drawn from the rule table ──────────────────────────────────────────────────────

_ONE_IN_EIGHT = st.sampled_from([False] * 7 + [True])


@st.composite
def _rarely(draw, usual: st.SearchStrategy, wild: st.SearchStrategy) -> Any:
    """Usually `usual`; about one time in eight, `wild` (the usual choice is the one hypothesis shrinks to)."""
    return draw(wild) if draw(_ONE_IN_EIGHT) else draw(usual)


def _small(low: int) -> st.SearchStrategy:
    return _rarely(st.integers(max(low, 1), 7), st.sampled_from([low, 64, 10**6, 10**9, 10**9 + 1]) | st.integers(-2, 2))


def _arg_value(arg) -> st.SearchStrategy:
    low = 1 if arg.type in ("pos", "per_axis", "ints") else 0
    pair = st.lists(_small(low), min_size=2, max_size=2)
    return {
        "int": _small(0), "pos": _small(1),
        "per_axis": _small(1) | _rarely(pair, st.lists(_small(1), max_size=4)),
        "per_axis0": st.integers(0, 2) | _rarely(pair, st.lists(_small(0), max_size=4)),
        "pad": st.integers(0, 2) | _rarely(st.sampled_from(["same", "valid"]), st.sampled_from(["full", [1, 2, 3]])),
        "float": _rarely(st.floats(0, 0.9), st.floats() | st.sampled_from(["1e-5", "1e999", 2.0, -0.1])),
        "bool": _rarely(st.booleans(), st.sampled_from(["yes", 1, None])),
        "str": _rarely(st.sampled_from(list(arg.choices) or ["x"]), st.sampled_from(["rleu", "", "none"])),
        "table": st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=4), min_size=1, max_size=6),
        "ints": st.lists(_small(low), min_size=1, max_size=3),
        "ints0": st.lists(st.integers(0, 3), min_size=1, max_size=4),
        "shape": _rarely(st.lists(st.sampled_from([-1, 1, 2, 4, 8]), min_size=1, max_size=3),
                         st.sampled_from([[0], [-1, -1], [], "x"])),
        "index": st.integers(-3, 3),
    }[arg.type]


@st.composite
def layer_items(draw, names: list[str], blocks: dict[str, list[str]], depth: int = 0) -> dict:
    kinds = sorted(RULES) + sorted(blocks)
    kind = draw(st.sampled_from(kinds))
    item: dict[str, Any] = {}
    if kind in blocks:
        params = blocks[kind]
        item[kind] = draw(st.lists(st.integers(1, 16) | st.sampled_from(["relu", "n - 1"]),
                                   min_size=len(params), max_size=len(params)))
    else:
        rule = RULES[kind]
        if rule.inputs is Inputs.MANY and depth < 2 and (not names or draw(st.booleans())):
            branch = st.lists(layer_items(names, blocks, depth + 1), max_size=3)
            item[kind] = draw(st.lists(branch, min_size=2, max_size=3))
        else:
            chosen = draw(st.lists(st.sampled_from(rule.args), unique=True, max_size=len(rule.args))) if rule.args else []
            required = [a for a in rule.args if a.required and not draw(_ONE_IN_EIGHT)]
            args = {a.name: draw(_arg_value(a)) for a in {*chosen, *required}}
            item[kind] = args or None
            if rule.inputs is Inputs.MANY:
                item[kind] = {**(args or {}), "from": draw(st.lists(st.sampled_from(names + ["input"]), min_size=2, max_size=3))}
    if draw(st.integers(0, 4)) == 0:
        item["repeat"] = draw(_rarely(st.integers(1, 3), st.sampled_from([0, "n", "n - 1", 10_000, 10_001])))
    if draw(st.integers(0, 2)) == 0:
        item["name"] = draw(_rarely(st.sampled_from([f"n{len(names)}", "a", "b"]), st.sampled_from(["x.y", "", 1])))
        if "repeat" not in item and depth == 0:
            names.append(str(item["name"]))
    if names and kind not in blocks and RULES[kind].inputs is Inputs.ONE and draw(st.integers(0, 6)) == 0:
        item["from"] = draw(st.sampled_from(names + ["input"]))
    return item


@st.composite
def random_specs(draw) -> bytes:
    channels = draw(_rarely(st.integers(1, 8), st.sampled_from([1000, 10**6])))
    size = draw(_rarely(st.integers(8, 64), st.sampled_from([1, 224, 10**6])))
    spec: dict[str, Any] = {"input": draw(_rarely(st.just([channels, size, size]), st.just([channels * size]))),
                            "vars": {"n": draw(st.integers(0, 4))}}
    blocks: dict[str, list[str]] = {}
    if draw(st.booleans()):
        names: list[str] = []
        params = draw(st.sampled_from([[], ["w"], ["w", "act"]]))
        body = draw(st.lists(layer_items(names, {}), min_size=1, max_size=3))
        if params:
            body[0] = {"conv": {"out": "w", "k": 3, "p": 1, **({"act": "act"} if "act" in params else {})}}
        key = draw(st.sampled_from(["layers", "add", "concat"]))
        spec["blocks"] = {"blk": {"args": params, key: body if key == "layers" else [body, []]}}
        blocks["blk"] = params
    names = []
    spec["layers"] = draw(st.lists(layer_items(names, blocks), min_size=1, max_size=8))
    if draw(st.integers(0, 3)) == 0:
        spec["budget"] = draw(st.dictionaries(st.sampled_from(BUDGET_KEYS),
                                              st.sampled_from(["25M", "4G", "1KiB", "8GiB", 0, 2, "lots", -1]), max_size=3))
    if draw(_ONE_IN_EIGHT):  # break one thing: an empty, missing or scalar value anywhere
        place = random.Random(draw(st.integers(0, 2**32 - 1))).choice(_places(spec))
        _parent(spec, place)[place[-1]] = draw(st.sampled_from([None, [], {}, 0, -1, "", "x"]))
    return yaml.safe_dump(spec, sort_keys=False).encode("utf-8")


# ── the properties ───────────────────────────────────────────────────────────────────────

@fuzz(0.25)
@hypothesis.given(raw=mutated_trees(), strict=st.booleans())
def test_mutated_specs_analyse_or_refuse(raw, strict):
    outcome(raw, strict)


@fuzz(0.15)
@hypothesis.given(raw=mutated_texts())
def test_damaged_spec_text_analyses_or_refuses(raw):
    outcome(raw)


@fuzz(0.2)
@hypothesis.given(raw=random_specs(), strict=st.booleans(), batch=st.integers(1, 4) | st.just(10**9))
def test_random_specs_analyse_or_refuse(raw, strict, batch):
    outcome(raw, strict, batch)


@fuzz(0.05)
@hypothesis.given(raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_random_bytes_are_refused(raw):
    assert outcome(raw) != "ok"


# ── what a hostile contributor writes ────────────────────────────────────────────────────

NASTY_TEXTS = ["::add-mask::x", "  ::error::x", "##[add-mask]x", "[link=https://evil.example]y[/link]", "[/bold]",
               "a|b", "=HYPERLINK(1)", "\x1b[31mred", "\x1b]8;;https://evil.example\x07l", "\x1b]0;title\x07", "a\nb",
               "a\rb", "\x00", "\ud800", "\udcff", "\u202egnp", "\u2028", "\x9b31m", ":warning:", "%0A::x", ":"]
STRANGE_TEXTS = st.sampled_from(NASTY_TEXTS) | st.text(max_size=20) | st.lists(st.sampled_from(NASTY_TEXTS), max_size=3).map("".join)
LATE = ["in_channels", "in_channels // 2", "max(in_channels // 4, 1)", "in_channels * 2", "in_features", "in_channels - 7"]


@st.composite
def hostile_specs(draw) -> bytes:
    """A stranger's spec: nasty texts, wide fan-in in repeated blocks, late arguments, mul bodies, tokens."""
    shape = draw(st.sampled_from([[3, 8, 8], [4, 16, 16], [16, 8], [12]]))
    fan = draw(st.integers(2, 60))
    names = [f"a_{i + 1}" for i in range(draw(st.integers(1, 8)))]
    refs = draw(st.lists(st.sampled_from(names + ["input", "a", "nowhere"]), min_size=1, max_size=fan))
    merge = draw(st.sampled_from(["concat", "add", "mul"]))
    body = draw(st.sampled_from(["layers", "add", "concat", "mul"]))
    late = {"conv": {"out": draw(st.sampled_from(LATE)), "k": 1}} if len(shape) == 3 else {"linear": {"out": draw(st.sampled_from(LATE))}}
    branch = [late, {"relu": None}]
    spec: dict[str, Any] = {
        **{key: draw(STRANGE_TEXTS) for key in draw(st.lists(st.sampled_from(["name", "title", "source"]), unique=True))},
        "input": shape,
        "blocks": {"wide": {"layers": [{merge: {"from": refs}}]},
                   "late": {body: branch if body == "layers" else [branch, []]}},
        "layers": [{"relu": {"name": "a"}, "repeat": len(names)},
                   {"wide": None, "repeat": draw(st.integers(0, 3) | st.sampled_from([100, 300, 2000]))},
                   {"late": None, "repeat": draw(st.integers(0, 3))}],
    }
    if draw(st.booleans()):
        spec["layers"].insert(1, {merge: {"from": refs, "name": draw(STRANGE_TEXTS)}})
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass") if draw(_ONE_IN_EIGHT) else text.encode("utf-8", "backslashreplace")


@fuzz(0.2)
@hypothesis.given(raw=hostile_specs())
def test_hostile_specs_are_answered_or_refused_and_shown_safely(raw):
    outcome(raw, shown=True, symbolic=True)


def _converters() -> list[tuple[str, Any]]:
    """Every option of every command that converts its value, by name."""
    from archcalc.cli import commands
    from archcalc.cli.command import Checked

    return [(f"{command.name} {param.opts[0]}", param.type.read) for command in commands() for param in command.params
            if isinstance(param.type, Checked) and not param.type.choices]


NUMBERS = (st.integers(-10, 10**20).map(str) | st.sampled_from(["9" * 300, "1e9", "1e999", "-0", "0x10", "1_000",
                                                                "١٢", "16G", "16GiB", "1.5GiB", "16 GB", "nan",
                                                                "inf", "3x224x224", "3x" + "9" * 5000 + "x1", "",
                                                                "3xHxW", "3xNxN", "Nx3x3", "B", "N=" + "9" * 300,
                                                                "H=224,W=0", "B=0", "1..9999999999", "5..1",
                                                                "10%", "1000%", "every-block", "1,2," + "9" * 30])
           | st.text(max_size=30))


@fuzz(0.1)
@hypothesis.given(option=st.sampled_from(_converters()), text=NUMBERS)
def test_every_number_typed_is_bounded_or_a_usage_error(option, text):
    """Each converter returns a bounded value, or refuses in one line (the usage error); nothing else."""
    name, convert = option
    try:
        value = convert(text)
    except ValueError as err:
        message = str(err)
        assert "\n" not in message and len(message) < 300, (name, message)
        return
    assert all(isinstance(n, int) and 0 <= n <= 2**60 for n in _numbers(value)), (name, text, value)


def _numbers(value: Any) -> list[Any]:
    """The numbers in a converted value (a shape, sizes by name, a list per column); a symbol (H, B) or a
    word (every-block) is none, anything else is returned to fail."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [n for item in value for n in _numbers(item)]
    return [] if isinstance(value, (str, Expr)) else [value]


ENTRIES = ["good", "bad", "link-inside", "link-outside", "link-dangling", "link-loop", "fifo", "dir-link-outside",
           "dir", "link-to-dir"]


@fuzz(0.05)
@hypothesis.given(entries=st.lists(st.tuples(st.sampled_from(ENTRIES), st.sampled_from([".yaml", ".yml", ""])),
                                   min_size=1, max_size=8), nest=st.booleans())
def test_check_reads_nothing_outside_its_tree_and_skips_nothing_in_silence(entries, nest):
    with tempfile.TemporaryDirectory() as place:
        root = Path(place)
        secret = root / "secret.yaml"
        secret.write_text("input: [3, 8, 8]\nlayers: [relu: ]\nleak: SECRET-TOKEN\n", encoding="utf-8")
        tree = root / "tree"
        (tree / "sub").mkdir(parents=True)
        (tree / "good.yaml").write_text("input: [3, 8, 8]\nlayers: [relu: ]\n", encoding="utf-8")
        for index, (kind, suffix) in enumerate(entries):
            path = (tree / "sub" if nest else tree) / f"e{index}{suffix}"
            targets = {"link-inside": tree / "good.yaml", "link-outside": secret, "link-dangling": tree / "none",
                       "link-loop": path, "dir-link-outside": root, "link-to-dir": tree / "sub"}
            if kind in targets:
                path.symlink_to(targets[kind])
            elif kind == "fifo":
                os.mkfifo(path)
            elif kind == "dir":
                path.mkdir()
            else:
                path.write_text("input: [3, 8, 8]\nlayers: [relu: ]\n" if kind == "good" else "leak: [\n",
                                encoding="utf-8")
        result = check.check_paths([str(tree)])
        shown = "\n".join(str(f) for f in result.findings)
        assert "SECRET" not in shown and "leak" not in shown.replace("layers", "")
        named = {str(p) for p in tree.rglob("*") if p.name.endswith((".yaml", ".yml"))}
        accounted = set(result.specs) | {f.file for f in result.findings}
        assert {p for p in named if not Path(p).is_dir() or Path(p).is_symlink()} <= accounted
