"""Bad specs: each gets one line on stderr with file:line:col, the layer path and what was expected."""

from __future__ import annotations

import pytest

from archcalc.rules import ACTIVATIONS

CASES = [
    ("unknown kind", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3}
          - maxpol: {k: 2}
     """, "net.yaml:4:5: layers[1].maxpol: unknown layer kind 'maxpol'; did you mean 'maxpool'? (known: "),
    ("unknown argument", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, kernel: 3}
     """, "net.yaml:3:20: layers[0].conv: unknown argument of conv 'kernel'; did you mean 'k'?"),
    ("missing argument", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8}
     """, "net.yaml:3:5: layers[0].conv: conv is missing 'k' (required: out, k)"),
    ("boolean where an integer belongs", """
        input: [3, 32, 32]
        layers:
          - conv: {out: yes, k: 3}
     """, "net.yaml:3:17: layers[0].conv: expected an integer for 'out'; received boolean true (YAML reads yes/no/on/off as booleans)"),
    ("zero filters", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 0, k: 3}
     """, "net.yaml:3:17: layers[0].conv: expected an integer ≥ 1 for 'out'; received out=0"),
    ("no read as false", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, act: no}
     """, "net.yaml:3:31: layers[0].conv: expected text for 'act'; received boolean false (YAML reads no/off as false; quote it)"),
    ("unknown activation", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, act: rleu}
     """, "net.yaml:3:31: layers[0].conv: expected one of relu, relu6, leaky_relu, elu, tanh, sigmoid, gelu, gelu_tanh, gelu_new, silu, hardswish, hardsigmoid for 'act'; received 'rleu'"),
    ("kernel larger than input", """
        input: [3, 4, 4]
        layers:
          - conv: {out: 8, k: 5, name: big}
     """, "net.yaml:3:5: layers[0].conv 'big': output size 0 ≤ 0: (4 − 5 + 2·0)/1 + 1 = 0"),
    ("unknown name in an expression", """
        input: [3, 32, 32]
        vars: {width: 8}
        layers:
          - conv: {out: widht * 2, k: 3}
     """, "net.yaml:4:17: layers[0].conv: in 'widht * 2': unknown name 'widht' (known here: width)"),
    ("inexact division in an expression", """
        input: [3, 32, 32]
        vars: {width: 9}
        layers:
          - conv: {out: width / 2, k: 3}
     """, "net.yaml:4:17: layers[0].conv: in 'width / 2': 9 / 2 is not a whole number; use // to floor"),
    ("unknown top-level key", """
        input: [3, 32, 32]
        layer:
          - conv: {out: 8, k: 3}
     """, "net.yaml:2:1: unknown top-level key 'layer'; did you mean 'layers'?"),
    ("bad input", """
        input: [3, 32, 32, 1, 1]
        layers:
          - relu:
     """, "net.yaml:1:8: expected input: [C, H, W], [C, T, H, W], [N, D] tokens, [features], {ids: S} token ids or a "
          "mapping naming the axes ({channels: 1, length: 16000}) of positive integers, spatial sizes possibly the symbols H, W, N, T or L, "
          "a token sequence's length the symbol S; received a list [3, 32, 32, 1, 1]"),
    ("YAML syntax", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3
     """, "net.yaml:4:1: YAML syntax error: expected ',' or '}', but got '<stream end>'"
          " (in the flow mapping that starts at 3:11)"),
    ("unclosed bracket, noticed lines later", """
        input: [3, 32, 32]
        layers: [  # a ] in a comment, and one in quotes, close nothing
          {conv: {out: 8, k: 3, name: "a]"}},
          - fc: 10
     """, "net.yaml:4:3: YAML syntax error: expected the node content, but found '-'"
          " (in the flow sequence that starts at 2:9)"),
    ("version", """
        version: 2
        input: [3, 32, 32]
        layers: [relu: ]
     """, "net.yaml:1:10: unsupported spec version 2; this archcalc reads version 1"),
    ("fc before a kind that needs a map", """
        input: [3, 32, 32]
        layers:
          - fc: 10
          - maxpool: 2
     """, "net.yaml:4:5: layers[1].maxpool 'maxpool1': maxpool expects a C×L, C×H×W or C×T×H×W input; received 10"),
    ("groups that do not divide", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, groups: 2}
     """, "net.yaml:3:5: layers[0].conv 'conv1': groups=2 must divide input channels (3)"),
    # graph networks
    ("reference to a missing layer", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, name: a}
          - concat: {from: [a, b]}
     """, "net.yaml:4:5: layers[1].concat: 'from' names 'b', which is not an earlier layer"),
    ("reference to a later layer", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, name: a}
          - add: {from: [a, c]}
          - conv: {out: 8, k: 3, name: c}
     """, "net.yaml:4:5: layers[1].add: 'from' names 'c', which is not an earlier layer"),
    ("block that uses itself", """
        input: [3, 32, 32]
        blocks:
          loop:
            args: []
            layers:
              - other:
          other:
            layers:
              - loop:
        layers:
          - loop:
     """, "net.yaml:9:9: layers[0].loop > blocks.loop.layers[0].other > blocks.other.layers[0].loop: block 'loop' uses itself: loop → other → loop"),
    ("merge of different shapes", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, p: 1, name: a}
          - conv: {out: 8, k: 3, name: b}
          - add: {from: [a, b], name: sum}
     """, "net.yaml:5:5: layers[2].add 'sum': add needs equal shapes; received 8×32×32, 8×30×30"),
    ("concat of different sizes", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, p: 1, name: a}
          - maxpool: {k: 2, name: b}
          - concat: {from: [a, b], name: cat}
     """, "net.yaml:5:5: layers[2].concat 'cat': concat needs equal sizes apart from channels; received 8×32×32, 8×16×16"),
    ("duplicate name", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, name: a}
          - conv: {out: 8, k: 3, name: a}
     """, "net.yaml:4:5: layers[1].conv: duplicate layer name 'a'"),
    ("dropout as a block's act", """
        input: [3, 32, 32]
        blocks:
          noisy:
            layers:
              - conv: {out: 8, k: 3}
            act: dropout
        layers:
          - noisy:
     """, "net.yaml:6:10: layers[0].noisy > blocks.noisy: expected an activation for 'act' ("
         f"{', '.join(ACTIVATIONS)}); received text 'dropout'; dropout is a layer of its own, "
         "not an activation"),
    ("stochastic depth as a merge block's act", """
        input: [3, 32, 32]
        blocks:
          res:
            add:
              - - conv: {out: 3, k: 3, p: 1}
              - []
            act: stochastic_depth
        layers:
          - res:
     """, "net.yaml:7:10: layers[0].res > blocks.res: expected an activation for 'act' ("
         f"{', '.join(ACTIVATIONS)}); received text 'stochastic_depth'; stochastic_depth "
         "is a layer of its own, not an activation"),
    ("'same' padding with a stride", """
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, s: 2, p: same}
     """, "net.yaml:3:5: layers[0].conv 'conv1': padding 'same' needs stride 1 (as in PyTorch); give p explicitly"),
    ("block argument count", """
        input: [3, 32, 32]
        blocks:
          pair:
            args: [out, stride]
            layers:
              - conv: {out: out, k: 3, s: stride}
        layers:
          - pair: [8]
     """, "net.yaml:8:11: layers[0].pair: block 'pair' takes 2 arguments (out, stride); received 1"),
]


@pytest.mark.parametrize("spec, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_is_one_clean_line(cli, write_spec, spec, message):
    path = write_spec(spec)
    ran = cli("table", path)
    assert ran.code == 1
    assert ran.out == ""
    assert ran.err.count("\n") == 1 and "Traceback" not in ran.err
    assert ran.err.startswith(f"error: {path[: -len('net.yaml')]}{message}")


def test_strict_refuses_an_inexact_division(cli, write_spec):
    path = write_spec("""
        input: [3, 224, 224]
        layers:
          - conv: {out: 96, k: 7, s: 2, p: 1, name: conv1}
    """)
    assert cli("table", path).code == 0
    ran = cli("table", path, "--strict")
    assert ran.code == 1
    assert ran.err == (f"error: {path}:3:5: layers[0].conv 'conv1': (224 − 7 + 2·1)/2 = 109.5 is not whole; "
                       "rounded down (--strict refuses inexact divisions)\n")


def test_float_written_as_1e_minus_5_is_a_number(write_spec, cli):
    path = write_spec("""
        input: [3, 8, 8]
        layers:
          - lrn: {size: 5, alpha: 1e-4, beta: 0.75}
    """)
    assert cli("table", path).code == 0


def test_unknown_network_suggests_a_name(cli):
    ran = cli("table", "vgg-16")
    assert ran.code == 1
    assert ran.err.startswith("error: unknown network 'vgg-16'; did you mean 'vgg16'?")


def test_missing_file(cli):
    ran = cli("table", "no/such/net.yaml")
    assert (ran.code, ran.err) == (1, "error: no/such/net.yaml: no such spec file\n")


@pytest.mark.parametrize("args", [["table", "vgg16", "--batch", "0"], ["table", "vgg16", "--dtype", "float64"],
                                  ["table", "vgg16", "--input", "3x224x0"], ["table", "vgg16", "--input", "3x224x224x1x1"],
                                  ["table"], ["nosuchcommand"]])
def test_usage_errors_exit_2(cli, args):
    assert cli(*args).code == 2
