"""The symbolic engine: figures as exact formulas in the input size, and what they say about sizes.

Expected formulas are worked by hand from (N − K + 2P)/S + 1, as the notes
do; every formula is also checked by evaluating it against the concrete
engine.
"""

from __future__ import annotations

import os
import random
import textwrap
from fractions import Fraction

import pytest

import archcalc
from archcalc import expr
from archcalc.errors import ShapeError
from archcalc.sizes import at, largest_input, parse_shape, parse_sizes, sizes
from archcalc.symbolic import Expr, Undecided, decide, largest, text
from helpers import report_of

H, W, N = Expr.var("H"), Expr.var("W"), Expr.var("N")


def symbolic(name: str, shape: tuple = ()):
    net = archcalc.load(name)
    return net, archcalc.analyze(net, input_shape=shape or (net.input[0], N, N))


# ── the algebra ──────────────────────────────────────────────────────────────

def test_a_strided_conv_and_its_projection_shortcut_are_one_size():
    conv = (H - 3 + 2 * 1) // 2 + 1     # 3×3, stride 2, padding 1
    shortcut = (H - 1) // 2 + 1         # 1×1, stride 2
    assert conv == shortcut
    assert text(conv) == "⌈H/2⌉"         # ⌊(H − 1)/2⌋ + 1 = ⌊(H + 1)/2⌋


def test_floors_of_floors_collapse():
    size = H
    for _ in range(5):  # five stride-2 stages of ResNet
        size = (size - 3 + 2) // 2 + 1
    assert text(size) == "⌈H/32⌉" and text(size, "code") == "(H + 31) // 32"
    # ⌊(⌊X/a⌋ + k)/b⌋ = ⌊(X + a·k)/(a·b)⌋
    assert ((H // 2) + 3) // 4 == (H + 6) // 8


def test_ceil_mode_is_one_floor():
    size = (H - 3 + 2 - 1) // 2 + 1     # ⌈(H − 3)/2⌉ + 1, as sliding writes a ceil
    assert text(size) == "⌊H/2⌋"  # ⌈(H − 1)/2⌉


@pytest.mark.parametrize("seed", range(5))
def test_the_code_form_evaluates_as_the_expression(seed):
    rng = random.Random(seed)
    e = ((3 * H + 5) // 4 + W) * ((H - 1) // 2 + 1) + 7
    for _ in range(50):
        sizes_at = {"H": rng.randint(1, 999), "W": rng.randint(1, 999)}
        assert expr.evaluate(text(e, "code"), sizes_at) == e.at(sizes_at)


def test_deciding_signs():
    assert decide((H - 1) // 2 + 1, strict=True)   # ⌈H/2⌉ > 0 for every H ≥ 1
    assert not decide(-H, strict=False)
    with pytest.raises(Undecided):
        decide(H - 5, strict=False)
    # 2·⌊(H − 2)/2⌋ < H: a ceil-mode window never starts in the padding when K ≥ S
    assert not decide(2 * ((H - 2) // 2) - H, strict=False)


def test_largest_keeps_only_what_may_be_largest():
    assert largest([64 * H * W, 32 * H * W + 5, 7]) == 64 * H * W
    both = largest([H * H, 100 * H])  # H² wins past 100, 100·H below: both stay
    assert {text(both)} == {"max(H², 100·H)"} or text(both) == "max(100·H, H²)"
    assert both.at({"H": 10}) == 1000 and both.at({"H": 1000}) == 1000 ** 2
    assert expr.evaluate(text(both, "code"), {"H": 10}) == 1000


# ── networks ─────────────────────────────────────────────────────────────────

def test_resnet50_final_map_and_macs():
    net, report = symbolic("resnet50", (3, H, W))
    rows = {r.name: r for r in report.rows}
    last_conv = next(r for r in reversed(report.rows) if r.kind == "conv")
    assert last_conv.output == (2048, (H + 31) // 32, (W + 31) // 32)  # ⌈H/32⌉, H/32 when 32 divides H
    assert rows["fc"].output == (1000,) and rows["fc"].params == 2048 * 1000 + 1000  # after a global pool
    concrete = archcalc.analyze(net)
    assert report.totals.macs.at({"H": 224, "W": 224}) == concrete.totals.macs
    assert report.totals.params == concrete.totals.params  # no size reaches the parameters


def test_a_size_that_reaches_the_parameters_is_a_formula():
    report = report_of("""
        input: [3, 32, 32]
        layers:
          - conv: {out: 8, k: 3, s: 2, p: 1}
          - fc: 10
    """, input_shape=(3, N, N))
    fc = report.rows[1]
    assert fc.params == 8 * ((N + 1) // 2) * ((N + 1) // 2) * 10 + 10  # 8·⌈N/2⌉²·10 + 10
    assert fc.params.at({"N": 32}) == 8 * 16 * 16 * 10 + 10


def test_memory_is_a_formula_in_the_batch_too():
    net = archcalc.load("vgg16")
    batch = Expr.var("B")
    report = archcalc.analyze(net, batch=batch, input_shape=(3, N, N))
    for b, n in ((1, 224), (3, 64), (8, 320)):
        concrete = archcalc.analyze(net, batch=b, input_shape=(3, n, n))
        assert report.totals.train_saved_bytes.at({"B": b, "N": n}) == concrete.totals.train_saved_bytes
        assert report.totals.inference_peak_bytes.at({"B": b, "N": n}) == concrete.totals.inference_peak_bytes


def test_the_derivation_is_shown_step_by_step():
    _, report = symbolic("alexnet")
    conv1, pool1 = report.rows[0], report.rows[1]
    # (227 − 11)/4 + 1 = 55 in the notes; for every N: ⌊(N − 11)/4⌋ + 1 = ⌊(N − 7)/4⌋
    assert conv1.formulas["shape"] == "⌊(N − 11 + 2·0)/4⌋ + 1 = ⌊(N − 7)/4⌋"
    # ⌊(⌊(N − 7)/4⌋ − 3)/2⌋ + 1 = ⌊(⌊(N − 7)/4⌋ − 1)/2⌋ = ⌊(N − 7 − 4)/8⌋
    assert pool1.formulas["shape"] == "⌊(⌊(N − 7)/4⌋ − 3 + 2·0)/2⌋ + 1 = ⌊(N − 11)/8⌋"
    assert conv1.flags == ("(N − 11 + 2·0)/4 is whole only when N − 11 ≡ 0 (mod 4); otherwise rounded down",)


# ── sizes ────────────────────────────────────────────────────────────────────

def test_unet_sizes_are_the_paper_s():
    _, report = symbolic("unet")
    found = sizes(report, 32, 1024)
    assert (found.smallest, found.smallest_exact, found.period) == (188, 188, 16)
    assert 572 in found.exact and 570 not in found.exact   # Figure 1's 572 = 188 + 16·24
    assert found.rule().startswith("N ≡ 12 (mod 16)")


def test_googlenet_needs_a_seven_by_seven_map_for_its_average_pool():
    net, report = symbolic("googlenet")
    found = sizes(report)
    assert found.smallest == 223  # the paper's 7×7/1 average pool needs 7×7: N ≥ 223
    with pytest.raises(ShapeError, match="avgpool"):
        archcalc.analyze(net, input_shape=(3, 200, 200))
    archcalc.analyze(net, input_shape=(3, 223, 223))


def test_where_every_division_is_whole():
    assert sizes(symbolic("vgg16")[1]).rule().startswith("N ≡ 0 (mod 32)")
    # ResNet's 7×7/2 stem and 3×3/2 pool round at 224: (224 − 7 + 2·3)/2 = 111.5
    assert sizes(symbolic("resnet50")[1]).rule().startswith("N ≡ 1 (mod 32)")


def test_an_invalid_size_fails_at_the_layer_the_concrete_engine_names():
    net, report = symbolic("vgg16")
    with pytest.raises(ShapeError) as concrete:
        archcalc.analyze(net, input_shape=(3, 20, 20))
    with pytest.raises(ShapeError) as symbolic_error:
        at(report, {"N": 20}, net)
    assert concrete.value.path == symbolic_error.value.path


def test_largest_input_that_fits():
    net = archcalc.load("resnet50")
    report = archcalc.analyze(net, batch=32, input_shape=(3, N, N))

    def need(r):
        return sum(r.train_breakdown().values())

    budget = 16 * 2**30
    side = largest_input(report, need, budget, {})
    assert need(archcalc.analyze(net, batch=32, input_shape=(3, side, side))) <= budget
    assert need(archcalc.analyze(net, batch=32, input_shape=(3, side + 1, side + 1))) > budget


@pytest.mark.parametrize("text_in, shape", [
    ("3x224x224", (3, 224, 224)), ("3xHxW", (3, H, W)), ("3×N×N", (3, N, N)), ("197x768", (197, 768)),
])
def test_parse_shape(text_in, shape):
    assert parse_shape(text_in) == shape


@pytest.mark.parametrize("bad", ["Hx224x224", "3xQx2", "3x" + "9" * 5000 + "x2", "3x0x2", "", "3xHxWxWxW"])
def test_parse_shape_refuses(bad):
    with pytest.raises(ValueError, match="expected"):
        parse_shape(bad)


def test_parse_sizes():
    assert parse_sizes("N=224") == {"N": 224}
    assert parse_sizes("H=224, W=320,B=8") == {"H": 224, "W": 320, "B": 8}
    with pytest.raises(ValueError):
        parse_sizes("X=3")


# ── exactness: every bundled spec, every figure, at up to 200 random sizes ────

FIGURES = ("output", "params", "trainable_params", "buffers", "macs", "backward_macs", "activations",
           "saved_bytes", "alive_bytes", "peak_bytes")
TOTALS = ("params", "macs", "backward_macs", "activations", "activation_bytes", "inference_peak_bytes",
          "train_saved_bytes", "param_bytes", "buffer_bytes", "depth")


@pytest.mark.parametrize("name", sorted(n for n in archcalc.catalog.bundled() if len(archcalc.load(n).input) == 3))
def test_symbolic_figures_equal_the_concrete_engine(name):
    net = archcalc.load(name)
    count = max(16, min(200, 40_000 // len(net.layers)))  # 200 sizes, fewer past 200 layers (ResNet-1202: 16)
    assert_exact(net, lambda n: (net.input[0], n, n), "N", random.Random(name), count, 600)


def assert_exact(net, shape_at, variable: str, rng: random.Random, count: int, high: int) -> None:
    """The symbolic report of `net` (input `shape_at(variable)`, batch 2), evaluated at `count` random sizes
    up to `high`, equals the concrete engine's there: every figure of every row and the totals, or the same
    failing layer."""
    report = archcalc.analyze(net, batch=2, input_shape=shape_at(Expr.var(variable)))
    sides = [rng.randint(1, high) for _ in range(count)]
    invalid = 0
    for side in sides:
        try:
            concrete = archcalc.analyze(net, batch=2, input_shape=shape_at(side))
        except ShapeError as err:
            invalid += 1
            with pytest.raises(ShapeError) as symbolic_error:
                at(report, {variable: side}, net)
            assert symbolic_error.value.path == err.path, side
            continue
        evaluated = at(report, {variable: side}, net)
        for mine, theirs in zip(evaluated.rows, concrete.rows):
            assert [getattr(mine, f) for f in FIGURES] == [getattr(theirs, f) for f in FIGURES], (side, mine.name)
            if mine.receptive_field is not None:  # a closed form exists
                assert mine.receptive_field == theirs.receptive_field, (side, mine.name)
            assert bool(mine.flags) == bool(theirs.flags), (side, mine.name)
        assert [getattr(evaluated.totals, f) for f in TOTALS] == [getattr(concrete.totals, f) for f in TOTALS], side
    assert invalid < len(sides)


# ── rational jumps: upsampling from a symbolic size to a fixed one ────────────

def test_a_global_pool_then_upsampling_to_a_size_is_a_rational_jump():
    spec = """
        input: [3, 64, 64]
        layers:
          - conv: {out: 8, k: 3, p: 1}
          - avgpool: {global: true}
          - upsample: {size: [64, 64]}
          - conv: {out: 4, k: 3, p: 1}
    """
    report = report_of(spec, input_shape=(3, N, N))
    assert text(N * Fraction(3, 64)) == "3·N/64" and N * Fraction(64, 64) == N
    assert (N * Fraction(1, 2)) // 3 == N // 6
    net = archcalc.load(textwrap.dedent(spec))
    for side in (1, 7, 64, 100, 333):
        evaluated = at(report, {"N": side}, net)
        concrete = report_of(spec, input_shape=(3, side, side))
        assert [r.receptive_field for r in evaluated.rows] == [r.receptive_field for r in concrete.rows], side
        assert [r.output for r in evaluated.rows] == [r.output for r in concrete.rows], side


def test_attention_sees_the_whole_input_and_no_more():
    net = archcalc.load("vit-b16")
    concrete = archcalc.analyze(net)
    attention = [row for row in concrete.rows if row.kind == "attention"]
    assert {row.receptive_field for row in attention} == {(224, 224)}  # 16 + (14 − 1)·16: the image
    assert concrete.rows[-1].receptive_field == (224, 224)
    assert {row.jump for row in attention} == {(16, 16)}  # its tokens stay one patch apart
    report = archcalc.analyze(net, input_shape=(3, N, N))
    for side in (32, 224, 384):
        evaluated = at(report, {"N": side}, net)
        rows = archcalc.analyze(net, input_shape=(3, side, side)).rows
        assert [r.receptive_field for r in evaluated.rows] == [r.receptive_field for r in rows], side
        assert evaluated.rows[-1].receptive_field == (side // 16 * 16,) * 2, side


def test_an_expression_pickled_in_one_process_computes_alike_in_another():
    """Atoms cache their hashes, which differ between processes (string hashing is seeded): a pickled
    expression carries its atoms' fields only, so it meets the atoms made where it is loaded."""
    import pickle
    import subprocess
    import sys

    n = Expr.var("N")
    sent = pickle.dumps(n * ((n + 1) // 2))
    program = ("import pickle, sys\nfrom archcalc.symbolic import Expr\nn = Expr.var('N')\nhalf = (n + 1) // 2\n"
               "loaded = pickle.loads(sys.stdin.buffer.read())\nprint(loaded * half == half * half * n)")
    done = subprocess.run([sys.executable, "-c", program], input=sent, capture_output=True,
                          env={**os.environ, "PYTHONHASHSEED": "1"})
    assert done.stdout.decode().strip() == "True", done.stderr.decode()
