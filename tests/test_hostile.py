"""Hostile specs (tests/hostile/, one file per attack): each is refused at once with one exact line.

Through `archcalc table` every file gets exit 1, nothing on stdout and one
line on stderr, `error: FILE:LINE:COL: [layer path: ]message`, within a
second and without a traceback; through `archcalc check` the same line is a
finding. The files were written to be exactly what their names say; see the
comment at the top of the larger ones.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

HOSTILE = Path(__file__).resolve().parent / "hostile"
LIMIT_S = 5.0  # CPU seconds: a hang or a blow-up, not a benchmark (benchmarks/ times the worst cases)


def _chain(top: str, calls: list[tuple[int, str]]) -> str:
    """A layer path through nested blocks: `layers[0].b0 > blocks.b0.layers[0].b1 > …`."""
    path, block = top, top.rsplit(".", 1)[1]
    for index, callee in calls:
        path += f" > blocks.{block}.layers[{index}].{callee}"
        block = callee
    return path


_EXPONENTIAL = [(int(bit), f"b{n}") for bit, n in zip("0000000000010000010000", range(23, 1, -1))]
_LONG = "b" * 60  # long-layer-name.yaml's blocks: b…b1 to b…b4
_RUNAWAY = " is beyond {:,} (no network is this large: a runaway concatenation, upsampling or stride?)"
_TEXT = " must be one line of printable text of at most 300 characters (no control characters, line breaks or escape sequences)"

# (file, everything after the file name in the one-line error)
REFUSED = [
    # YAML itself: size, depth, aliases, documents, encodings, tags
    ("oversized-file.yaml", ":1:1: file is larger than 131,072 bytes, the limit for a spec"),
    ("alias-bomb.yaml", ":2:45: aliases expand the document past 10,000 nodes (alias bomb?)"),
    ("too-many-nodes.yaml", ":4:29969: more than 10,000 YAML nodes; a spec is limited to 10,000"),
    ("deep-nesting.yaml", ":3:73: nesting deeper than 64 levels"),
    ("empty-file.yaml", ":1:1: empty spec"),
    ("comments-only.yaml", ":1:1: empty spec"),
    ("multiple-documents.yaml", ":3:1: YAML syntax error: more than one YAML document; a spec is a single document"),
    ("truncated.yaml", ":4:1: YAML syntax error: expected ',' or '}', but got '<stream end>'"
                       " (in the flow mapping that starts at 3:11)"),
    ("tab-indentation.yaml", ":3:1: YAML syntax error: found character '\\t' that cannot start any token"),
    ("non-utf8.yaml", ":1:6: not UTF-8 text (byte 0xe9)"),
    ("utf16.yaml", ":1:1: UTF-16 text (by its byte-order mark); save the spec as UTF-8"),
    ("binary-junk.yaml", ":1:1: binary data, not a YAML text file"),
    ("control-character.yaml", ":2:13: YAML syntax error: character '\\x07' is not allowed in YAML text"),
    ("python-tag.yaml", ":2:9: YAML tag '!!python/object/apply:os.system' is not allowed in specs"),
    ("binary-tag.yaml", ":2:8: YAML tag '!!binary' is not allowed in specs"),
    ("unknown-tag.yaml", ":2:9: YAML tag '!custom' is not allowed in specs"),
    ("merge-key.yaml", ":4:12: YAML merge keys ('<<') are not supported in specs"),
    ("duplicate-key.yaml", ":3:26: duplicate key 'out'"),
    ("key-not-text.yaml", ":4:7: keys must be text; received a list"),
    ("long-key.yaml", ":3:12: keys must be printable text of at most 200 characters; received text '"
                      + "k" * 59 + "…'"),
    # integers and other values where an integer belongs
    ("giant-integer-literal.yaml", ":3:17: integer " + "9" * 59 + "… is beyond ±1,000,000,000,000,000"),
    ("huge-integer.yaml", ":3:17: layers[0].conv: 'out' is limited to 1,000,000,000; received out=99999999999999"),
    ("huge-input.yaml", ":1:8: expected input: [C, H, W], [C, T, H, W], [N, D] tokens, [features], {ids: S} token ids or a "
                        "mapping naming the axes ({channels: 1, length: 16000}) of positive integers, spatial sizes possibly "
                        "the symbols H, W, N, T or L, a token sequence's length the symbol S;"
                        " received a list [3, 100000000, 100000000]"),
    ("repeat-billion.yaml", ":4:13: layers[0].relu: repeat must be between 0 and 10,000; received 1000000000"),
    ("repeat-power.yaml", ":4:13: layers[0].relu: in '10**9': '**' (a power) is not supported; write the number out"),
    ("string-for-integer.yaml", ":3:17: layers[0].conv: in 'sixty-four': unknown name 'sixty' (known here: none)"),
    ("float-for-integer.yaml", ":3:17: layers[0].conv: expected an integer for 'out'; received number 64.5"),
    ("boolean-for-integer.yaml", ":3:17: layers[0].conv: expected an integer for 'out'; received boolean true"
                                 " (YAML reads yes/no/on/off as booleans)"),
    ("null-for-integer.yaml", ":3:17: layers[0].conv: expected an integer for 'out'; received null"),
    ("list-for-integer.yaml", ":3:17: layers[0].conv: expected an integer for 'out'; received a list"),
    ("mapping-for-layers.yaml", ":2:9: 'layers' must be a non-empty list of layers; received a mapping"),
    ("expression-too-long.yaml", ":3:17: layers[0].conv: in '" + "1 + " * 14 + "1 +…': expression longer than 200 characters"),
    ("expression-overflow.yaml", ":4:17: layers[0].conv: in 'big * big * big': value 999999998000000001"
                                 " is beyond ±1,000,000,000,000,000"),
    ("division-by-zero.yaml", ":4:17: layers[0].conv: in '8 // zero': division by zero"),
    ("non-finite-float.yaml", ":3:18: layers[0].lrn: expected a finite number for 'alpha'; received alpha=inf"),
    ("quadratic-regex.yaml", ":4:18: layers[0].lrn: expected a number for 'alpha'; received text '" + "1" * 59 + "…'"),
    ("escaped-newline-in-name.yaml", ":3:5: layers[0].conv: a name is letters, digits, '_' or '-', in parts joined by dots"
                                     " (stage1.conv1); received text 'conv\\n1'"),
    ("bad-budget-value.yaml", ":3:18: budget: expected a count such as 25M, 4G or 1500000 for 'params'; received text 'lots'"),
    # the network: names, references, blocks, expansion
    ("duplicate-name.yaml", ":4:5: layers[1].conv: duplicate layer name 'a'"),
    ("missing-reference.yaml", ":4:5: layers[1].concat: 'from' names 'nowhere', which is not an earlier layer"),
    ("self-using-block.yaml", ":6:9: layers[0].loop > blocks.loop.layers[1].loop: block 'loop' uses itself: loop → loop"),
    ("mutually-recursive-blocks.yaml", ":6:14: layers[0].ping > blocks.ping.layers[0].pong > blocks.pong.layers[0].ping:"
                                       " block 'ping' uses itself: ping → pong → ping"),
    ("zero-layers.yaml", ":3:3: the network has no layers once expanded (is every repeat 0?)"),
    ("too-many-layers.yaml", ":10:9: layers[0].b > blocks.b.layers[0].a: network expands past 5,000 layers"),
    ("empty-block-repeats.yaml", ":8:9: layers[0].most > blocks.most.layers[0].more > blocks.more.layers[0].nothing:"
                                 " network expansion takes more than 25,000 steps (items, repeats and branches)"),
    ("exponential-blocks.yaml", ":11:14: " + _chain("layers[0].b24", _EXPONENTIAL)
                                + ": network expansion takes more than 25,000 steps (items, repeats and branches)"),
    ("deep-block-chain.yaml", ":67:14: " + _chain("layers[0].b0", [(0, f"b{i}") for i in range(1, 33)])
                              + ": blocks and branches nest deeper than 32 levels"),
    ("deep-blocks-deep-expression.yaml", ":67:21: " + _chain("layers[0].b0", [(0, f"b{i}") for i in range(1, 31)] + [(0, "conv")])
                                         + ": expected an integer ≥ 1 for 'out'; received out=0"),
    # cost: what multiplies the work is counted at its root (issue 9, class 1)
    ("fan-in-in-repeated-block.yaml", ":6:9: layers[1].fan > blocks.fan.layers[0].concat: network has more than 20,000"
                                      " connections (inputs of layers, 'from' included)"),
    ("long-layer-name.yaml", ":9:14: " + _chain(f"layers[0].{_LONG}1", [(0, f"{_LONG}{i}") for i in (2, 3, 4)])
                             + f": layer name '{'b' * 59}…' is longer than 200 characters"),
    ("runaway-concat.yaml", ":7:9: layers[0].double > blocks.double.layers[1].concat 'double40.concat1': output size"
                            " 1,099,511,627,776" + _RUNAWAY.format(10**12)),
    ("runaway-upsampling.yaml", ":4:5: layers[0].convtranspose 'convtranspose2': output size 7,000,000,000,000,000,001"
                                + _RUNAWAY.format(10**12)),
    ("runaway-stride.yaml", ":4:5: layers[0].conv 'conv3': receptive field or jump 1,000,000,000,000,000,000,000,000,000"
                            + _RUNAWAY.format(10**18)),
    # text that would act on a terminal or a CI log (class 2)
    ("control-character-in-title.yaml", ":2:8: 'title'" + _TEXT + "; received text 'net \\x1b]0;owned\\x07"
                                        " \\x1b]8;;https://evil.example\\x1b\\click\\x1b]8;;\\x1b\\'"),
    ("lone-surrogate.yaml", ":2:9: 'source'" + _TEXT + "; received text 'Smith \\ud800 2024'"),
    ("markup-block-name.yaml", ":4:3: blocks.[link=https://evil.example]::add-mask::x: a block's name is letters, digits,"
                               " '_' or '-'; received text '[link=https://evil.example]::add-mask::x'"),
    # numbers nobody meant (class 7)
    ("octal-literal.yaml", ":4:17: ambiguous number '064': YAML 1.1 reads a leading 0 as octal (52), YAML 1.2 as 64;"
                           " write 64 without the 0"),
    ("sexagesimal-literal.yaml", ":5:15: ambiguous number '1:30': YAML 1.1 reads it in base 60 (90), YAML 1.2 as text;"
                                 " write the number, or quote the text"),
    ("date-as-expression.yaml", ":4:17: layers[0].conv: expected an integer or an expression; received '2001-12-14', a date"
                                " to YAML (as an expression it would be a subtraction); write the number"),
    ("connection-table-twice.yaml", ":4:5: layers[0].conv 'conv1': connection table row [0, 0, 1] lists an input map"
                                    " twice; each map is read once"),
    ("negative-eps.yaml", ":4:15: layers[0].bn: expected a number ≥ 0 for 'eps'; received eps=-0.5"),
    ("negative-lrn-beta.yaml", ":4:26: layers[0].lrn: expected a number ≥ 0 for 'beta'; received beta=-0.75"),
    ("dropout-above-one.yaml", ":4:5: layers[0].dropout 'dropout1': expected 0 ≤ p < 1 for 'p'; received p=1.5"),
]

# Valid but astronomically large: answered at once, Python integers exact; its budget is overrun.
ASTRONOMICAL = "astronomical-network.yaml"
# Valid, and answered: late arguments that use each other, each evaluated once (test_untrusted.py counts them),
# and a network at every limit at once (test_untrusted.py holds its output; benchmarks/hostile.py times it).
ANSWERED = ("late-argument-chain.yaml", "at-every-limit.yaml")
ASTRONOMICAL_FINDINGS = [  # memory: BN's batch count is an int64 of 8 B among the buffers
    ":10:18: budget: parameters over budget: expected at most 1,000,000,000,000 (1.00T), set by budget.params;"
    " received 2,001,009,000,000,004,000,000,000 (2001009000000.00T)",
    ":10:40: budget: inference memory at batch 1 over budget: expected at most 17,179,869,184 B (16.0 GiB),"
    " set by budget.inference_memory; received 8,004,040,008,000,024,000,000,008 B (7279631980054.6 TiB)",
]


def _timed(cli, *args):
    start = time.process_time()
    ran = cli(*args)
    return ran, time.process_time() - start


def test_the_corpus_is_exactly_these_files():
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted([name for name, _ in REFUSED] + [ASTRONOMICAL, *ANSWERED])


@pytest.mark.parametrize("name, tail", REFUSED, ids=[name for name, _ in REFUSED])
def test_table_refuses_in_one_line(cli, name, tail):
    path = str(HOSTILE / name)
    ran, seconds = _timed(cli, "table", path)
    assert (ran.code, ran.out, ran.err) == (1, "", f"error: {path}{tail}\n")
    assert "Traceback" not in ran.err
    assert seconds < LIMIT_S, f"{name} took {seconds:.2f} s"


@pytest.mark.parametrize("name, tail", REFUSED, ids=[name for name, _ in REFUSED])
def test_check_reports_the_same_line(cli, name, tail):
    path = str(HOSTILE / name)
    ran, seconds = _timed(cli, "check", path)
    assert (ran.code, ran.out, ran.err) == (1, f"{path}{tail}\n1 spec, 1 finding\n", "")
    assert seconds < LIMIT_S, f"{name} took {seconds:.2f} s"


def test_an_astronomical_network_is_answered_at_once(cli):
    path = str(HOSTILE / ASTRONOMICAL)
    ran, seconds = _timed(cli, "table", path, "--format", "json")
    assert ran.code == 0 and ran.err == ""
    assert json.loads(ran.out)["totals"]["macs"] == (
        1000 * 1000 * (1000 * 1000 * 10**6 * 10**9)  # conv1: 1000×1000 positions · k·k·C·out
        + 1000 * 1000 * (3 * 3 * 10**9 * 10**9)  # conv2
        + (2 * 10**9 * 1000 * 1000) * 10**9  # fc on the flattened concat
    )
    assert seconds < LIMIT_S
    assert cli("table", path, "--memory").code == 0
    ran, seconds = _timed(cli, "check", path)
    assert (ran.code, ran.err) == (1, "")
    assert ran.out == "".join(f"{path}{line}\n" for line in ASTRONOMICAL_FINDINGS) + "1 spec, 2 findings\n"
    assert seconds < LIMIT_S


def test_check_keeps_going_through_the_whole_corpus(cli):
    ran = cli("check", str(HOSTILE), "--format", "json")
    assert ran.code == 1
    findings = json.loads(ran.out)
    expected = sorted([f"{HOSTILE / name}{tail}" for name, tail in REFUSED]
                      + [f"{HOSTILE / ASTRONOMICAL}{line}" for line in ASTRONOMICAL_FINDINGS])
    assert ran.out.count('"file"') == len(expected)  # the answered ones: no finding
    shown = sorted(f"{f['file']}:{f['line']}:{f['col']}: " + (f"{f['layer']}: " if f["layer"] else "") + f["message"]
                   for f in findings)
    assert shown == expected


def _wide_merge(n: int) -> str:
    """n named layers, all kept alive until one concat reads them (DenseNet's pattern, taken to the limit)."""
    refs = ", ".join(f"a_{i + 1}" for i in range(n))
    return f"input: [3, 8, 8]\nlayers:\n  - relu: {{name: a}}\n    repeat: {n}\n  - concat: {{from: [{refs}]}}\n"


def test_a_wide_merge_is_analysed_in_linear_time():
    from archcalc import analyze, expand, source

    def seconds(n: int) -> float:
        network = expand.build(source.load_text(_wide_merge(n), "wide.yaml"), "wide.yaml", "wide")
        best = float("inf")
        for _ in range(5):  # the best of five CPU times: the suite's other workers share the cores
            start = time.process_time()
            analyze(network)
            best = min(best, time.process_time() - start)
        return best

    ratio = seconds(3200) / seconds(400)
    assert ratio < 24, f"8× the layers took {ratio:.0f}× the time (linear: about 8×, quadratic: 64×)"
