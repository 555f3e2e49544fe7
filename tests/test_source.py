"""libyaml's parser and PyYAML's read every spec alike: the same values, marks and errors.

`source` parses with libyaml when PyYAML has it, and hands PyYAML's own
parser the texts libyaml refuses or might read differently. These tests load
texts both ways (the pure-Python way by hiding libyaml) and demand the same
outcome: the data with every mark, or the same one-line error. Bundled
specs, the hostile corpus, known disagreements, and bundled specs damaged at
random (a longer, random run: ARCHCALC_FUZZ_EXAMPLES=20000, as tests/test_fuzz.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from archcalc import source
from archcalc.errors import SpecError

hypothesis = pytest.importorskip("hypothesis")  # a test dependency ("archcalc[test]")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "specs").glob("*.yaml"))
CORPUS = sorted((REPO / "tests" / "hostile").glob("*.yaml")) + sorted((REPO / "tests" / "check_fixtures").glob("*.yaml"))
_EXAMPLES = os.environ.get("ARCHCALC_FUZZ_EXAMPLES")

pytestmark = pytest.mark.skipif(source.CParser is None, reason="PyYAML was built without libyaml")


def _marked(value: Any) -> Any:
    """Loaded data with every mark spelled out, to compare two loads exactly."""
    if isinstance(value, source.YMap):
        return ("map", str(value.mark), [(key, str(value.key_marks[key]), str(value.value_marks[key]), _marked(item))
                                         for key, item in value.items()])
    if isinstance(value, source.YList):
        return ("list", str(value.mark), [str(mark) for mark in value.item_marks], [_marked(item) for item in value])
    return (type(value).__name__, repr(value))


def _load(text: str) -> Any:
    try:
        return _marked(source.load_text(text, "net.yaml"))
    except SpecError as err:
        return f"error: {err}"


def both_ways(text: str) -> tuple[Any, Any]:
    """The outcome through libyaml (as archcalc reads), then through PyYAML's parser alone."""
    fast = _load(text)
    parser, source.CParser = source.CParser, None
    try:
        return fast, _load(text)
    finally:
        source.CParser = parser


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_specs_take_the_fast_path_and_read_the_same(path):
    text = path.read_text(encoding="utf-8")
    assert not source._unlike_text(text)
    assert source._single_node(source._FastLoader(text, path.name)) is not None  # libyaml takes it as it is
    fast, pure = both_ways(text)
    assert fast == pure


def _utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False  # refused before any parser
    return True


TEXTS = [p for p in CORPUS if _utf8(p)]


@pytest.mark.parametrize("path", TEXTS, ids=[p.name for p in TEXTS])
def test_hostile_corpus_reads_the_same(path):
    fast, pure = both_ways(path.read_text(encoding="utf-8"))
    assert fast == pure


@pytest.mark.parametrize("text", [
    "layers: [relu: , fc: {out: , k: 3}]\n",  # empty flow values: PyYAML marks them just after the ':'
    "a: {k: 3,\tp: 1}\n",  # a tab PyYAML refuses
    "a: {p?: 1}\n",  # '?' in a flow plain scalar
    "a: {x: !256, y: 1}\n",  # a tag: PyYAML's runs on past the ','
    ">#\n",  # a block scalar header
    "a: 1\ufeffb: 2\n",  # a byte-order mark inside the text
    "input: [3, 32, 32]\n---\nlayers: []\n",  # two documents
    "layers:\n  - conv: {out: 8, k: 3\n",  # truncated
    "title: 'Ü — ß 😀'\nlayers: {x: [ä, {b: 1}], y: }\n",  # columns count characters, not bytes
])
def test_known_disagreements_read_as_pyyaml_reads_them(text):
    fast, pure = both_ways(text)
    assert fast == pure


PIECES = [":", "{", "}", "[", "]", ",", "-", "?", "#", "&a ", "*a", "!", "|", ">", "'", '"', "\n", "\t", " ", "%",
          "@", "`", "ä", "—", "😀", "{a: }", "[b: ]", "{c}", "!!str ", "\\/", "\\x41", "\\N", "\r\n", "\r", "\x85",
          "\u2028", "\ufeff", "...\n", "---\n", "'it''s'", " #c", "0o17", "0x1F", "1_000", "+.inf", ".nan", "~",
          "Yes", "=", "<<: ", "2024-01-01", "1e5", "- - ", "::", ",,", "{}", "[]", "\\"]


@st.composite
def damaged_specs(draw) -> str:
    """A bundled spec's text with YAML's punctuation and oddities inserted, and spans deleted."""
    text = draw(st.sampled_from([p.read_text(encoding="utf-8") for p in SPECS]))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 5)):]
    return text


@settings(max_examples=int(_EXAMPLES) // 10 if _EXAMPLES else 150, deadline=None, derandomize=_EXAMPLES is None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@hypothesis.given(text=damaged_specs())
def test_damaged_specs_read_the_same_both_ways(text):
    fast, pure = both_ways(text)
    assert fast == pure
