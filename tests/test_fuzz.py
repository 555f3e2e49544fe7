"""Property-based tests: no input breaks the loader, the expander or the analysis.

Every input — a bundled spec with its values mutated, its keys deleted,
duplicated or swapped, its types changed; its text truncated or sprinkled
with random bytes; a spec drawn at random from the rule table; random bytes —
must either be analysed or refused with archcalc's own error
(`ArchcalcError`): one line, with file:line:col for a spec error, within a
second. Anything else (an IndexError, a RecursionError, a hang) is a bug.

The normal run is small and deterministic (200 examples in all, the same
ones each time). A longer, random run explores further:

    ARCHCALC_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py

(the total is shared out among the tests below; hypothesis keeps any
failure it finds in .hypothesis/ and replays it first next time).
"""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")  # a test dependency ("archcalc[test]")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archcalc import expand, source  # noqa: E402
from archcalc.analysis import analyze  # noqa: E402
from archcalc.budget import BUDGET_KEYS, from_mapping, overruns  # noqa: E402
from archcalc.errors import ArchcalcError, SpecError  # noqa: E402
from archcalc.rules import RULES  # noqa: E402

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


def outcome(raw: bytes, strict: bool = False, batch: int = 1) -> str:
    """Load, expand, analyse and hold to its budget: 'ok', or the one-line error; fails on anything else."""
    start = time.process_time()
    try:
        network = expand.build(source.load_bytes(raw, NAME), NAME, "fuzz")
        report = analyze(network, batch, strict=strict)
        budget = from_mapping(network.budget, lambda key, mark: key, in_spec=True)
        if budget.limits:
            overruns(analyze(network, budget.batch or batch) if budget.memory() else report, budget.limits)
        result = "ok"
    except ArchcalcError as err:
        result = str(err)
        assert "\n" not in result and "\r" not in result, result
        if isinstance(err, SpecError):
            assert err.mark is not None and err.mark.file == NAME and err.mark.line >= 1 and err.mark.col >= 1, result
    seconds = time.process_time() - start
    assert seconds < LIMIT_S, f"{seconds:.2f} s for {raw[:300]!r}"
    return result


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
    low = 1 if arg.type in ("pos", "pair", "ints") else 0
    pair = st.lists(_small(low), min_size=2, max_size=2)
    return {
        "int": _small(0), "pos": _small(1),
        "pair": _small(1) | _rarely(pair, st.lists(_small(1), max_size=3)),
        "pair0": st.integers(0, 2) | _rarely(pair, st.lists(_small(0), max_size=3)),
        "pad": st.integers(0, 2) | _rarely(st.sampled_from(["same", "valid"]), st.sampled_from(["full", [1, 2, 3]])),
        "float": _rarely(st.floats(0, 0.9), st.floats() | st.sampled_from(["1e-5", "1e999", 2.0, -0.1])),
        "bool": _rarely(st.booleans(), st.sampled_from(["yes", 1, None])),
        "str": _rarely(st.sampled_from(list(arg.choices) or ["x"]), st.sampled_from(["rleu", "", "none"])),
        "table": st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=4), min_size=1, max_size=6),
        "ints": st.lists(_small(low), min_size=1, max_size=3),
        "ints0": st.lists(st.integers(0, 3), min_size=1, max_size=4),
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
        if rule.inputs == "many" and depth < 2 and (not names or draw(st.booleans())):
            branch = st.lists(layer_items(names, blocks, depth + 1), max_size=3)
            item[kind] = draw(st.lists(branch, min_size=2, max_size=3))
        else:
            chosen = draw(st.lists(st.sampled_from(rule.args), unique=True, max_size=len(rule.args))) if rule.args else []
            required = [a for a in rule.args if a.required and not draw(_ONE_IN_EIGHT)]
            args = {a.name: draw(_arg_value(a)) for a in {*chosen, *required}}
            item[kind] = args or None
            if rule.inputs == "many":
                item[kind] = {**(args or {}), "from": draw(st.lists(st.sampled_from(names + ["input"]), min_size=2, max_size=3))}
    if draw(st.integers(0, 4)) == 0:
        item["repeat"] = draw(_rarely(st.integers(1, 3), st.sampled_from([0, "n", "n - 1", 10_000, 10_001])))
    if draw(st.integers(0, 2)) == 0:
        item["name"] = draw(_rarely(st.sampled_from([f"n{len(names)}", "a", "b"]), st.sampled_from(["x.y", "", 1])))
        if "repeat" not in item and depth == 0:
            names.append(str(item["name"]))
    if names and kind not in blocks and RULES[kind].inputs == "one" and draw(st.integers(0, 6)) == 0:
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

@fuzz(0.35)
@hypothesis.given(raw=mutated_trees(), strict=st.booleans())
def test_mutated_specs_analyse_or_refuse(raw, strict):
    outcome(raw, strict)


@fuzz(0.25)
@hypothesis.given(raw=mutated_texts())
def test_damaged_spec_text_analyses_or_refuses(raw):
    outcome(raw)


@fuzz(0.3)
@hypothesis.given(raw=random_specs(), strict=st.booleans(), batch=st.integers(1, 4) | st.just(10**9))
def test_random_specs_analyse_or_refuse(raw, strict, batch):
    outcome(raw, strict, batch)


@fuzz(0.1)
@hypothesis.given(raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_random_bytes_are_refused(raw):
    assert outcome(raw) != "ok"
