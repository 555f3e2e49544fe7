"""Tables in a terminal of any width: numbers are never cut, columns that do not fit are left out visibly.

Each table is drawn through rich at a fixed width, as `table`, `verify` and
`bench --per-layer` draw it in a terminal of that width.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from archcalc import catalog, render
from archcalc.analysis import analyze
from archcalc.cli import terminal
from archcalc.report import fold
from archcalc.units import format_bytes
from conftest import SPECS

WIDTHS = (60, 80, 120)


def console(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None, highlight=False)


def drawn(name: str, width: int, depth: int | None = None, **options) -> tuple[str, object]:
    report = fold(analyze(catalog.load(name)), depth)
    out = console(width)
    terminal.table(report, console=out, **options)
    return out.file.getvalue(), report


def whole(number: str, text: str) -> bool:
    """`number` appears in `text` as a whole figure, not as part of a longer one or cut short."""
    return re.search(rf"(?<![\d,.]){re.escape(number)}(?![\d,])", text) is not None


CASES = [
    ("resnet18", 1, {"memory": True}),
    ("alexnet", None, {"memory": True}),
    ("alexnet", None, {"formulas": True}),
    ("vgg16", None, {"bars": True, "memory": True}),
    ("googlenet", 2, {"memory": True, "formulas": True}),
]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name, depth, options", CASES, ids=[f"{n}-{'-'.join(o)}" for n, _, o in CASES])
def test_no_number_is_cut_at_any_width(name, depth, options, width):
    text, report = drawn(name, width, depth, **options)
    assert "…" not in text
    header = next(line for line in text.splitlines() if "Layer" in line and "Params" in line)
    left_out = re.search(r"not shown, to fit (\d+) columns: ([^(]*)", text.replace("\n", " "))
    for row in report.rows:
        assert whole(f"{row.params:,}", text) and whole(f"{row.macs:,}", text), row.name
        if "RF" in header.split():
            assert whole(str(row.receptive_field[0]), text)
    assert whole(f"{report.totals.params:,}", text) and whole(f"{report.totals.macs:,}", text)
    headers = ["Kind", "Output", "Activations", "RF"] + (["Alive", "Saved"] if options.get("memory") else [])
    for column in headers:  # every column is shown, or named as left out
        assert column in header.split() or (left_out and column in left_out.group(2)), (column, header)
    table_lines = text.split("\nnot shown")[0].split(f"\n{report.name}: ")[0].splitlines()
    assert max(map(len, table_lines)) <= width, "the table itself fits the terminal"


def test_the_issue_s_cut_numbers_are_whole_at_80_columns():
    text, _ = drawn("resnet18", 80, 1, memory=True)
    for figure in ("2,099,712", "8,393,728", "11,689,512", "1,814,073,344"):
        assert whole(figure, text), figure
    assert "not shown, to fit 80 columns: Kind, RF" in text
    wide, _ = drawn("resnet18", 120, 1, memory=True)
    assert whole("211", wide) and "not shown" not in wide  # conv4_x's field, all columns at 120


def test_formulas_fold_under_their_rows_when_their_column_does_not_fit():
    narrow, _ = drawn("alexnet", 60, formulas=True)
    lines = narrow.splitlines()
    conv1 = next(i for i, line in enumerate(lines) if line.startswith("conv1 "))
    assert lines[conv1 + 1].strip() == "shape: (227 − 11 + 2·0)/4 + 1 = 55"
    assert "params: 11·11·3·96 + 96 = 34,944" in narrow and "macs: 55·55 · 11·11·3·96 = 105,415,200" in narrow
    assert max(len(line) for line in lines[:conv1 + 4]) <= 60
    wide, _ = drawn("alexnet", 120, formulas=True)
    assert re.search(r"conv1 .*34,944 .*shape: \(227 − 11 \+ 2·0\)/4 \+ 1 = 55", wide)  # a column beside the row


def row_lines(text: str, report) -> list[int]:
    """Where each of the report's rows is drawn: the line that holds its last name segment, indented two
    spaces a level of its dotted name, then its parameters and MACs; in order, one line each."""
    lines, at, found = text.splitlines(), 0, []
    for row in report.rows:
        *path, last = row.name.split(".")
        figures = rf"(?<![\d,]){row.params:,}\s+{row.macs:,}(?![\d,])"
        pattern = re.compile(rf" ?{'  ' * len(path)}{re.escape(last)}( ⚠)? .*{figures}")
        at = next(i for i in range(at, len(lines)) if pattern.match(lines[i]))
        found.append(at)
    return found


@pytest.mark.parametrize("name, options", [("resnet50", {"memory": True}), ("densenet121", {}),
                                           ("gpt2", {}), ("mixtral-8x7b", {})])
def test_deep_networks_are_a_tree_of_names_one_line_a_row_at_80_columns(name, options):
    text, report = drawn(name, 80, **options)
    lines = text.splitlines()
    table = lines[:next(i for i, line in enumerate(lines) if line.startswith("not shown"))]
    assert max(map(len, table)) <= 80
    found = row_lines(text, report)
    assert len(set(found)) == len(report.rows)
    first = report.rows[found.index(next(i for i in found if "." in report.rows[found.index(i)].name))]
    *blocks, _ = first.name.split(".")
    headers = lines[found[report.rows.index(first)] - len(blocks):found[report.rows.index(first)]]
    assert [line.strip() for line in headers] == blocks  # a header row for each block the first deep row enters
    assert all(not line.strip(" " + block) for line, block in zip(headers, blocks))  # the header rows are names only


def test_the_tree_s_footer_names_what_shows_the_columns_left_out():
    text, _ = drawn("resnet50", 80, memory=True)
    assert re.search(r"not shown, to fit 80 columns: Kind, RF, Output, Activations \(a wider terminal shows them;",
                     " ".join(text.split()))
    text, _ = drawn("gpt2", 80)  # its names are long: folded to one level, RF fits too
    assert "(--depth 1 or a wider terminal shows them; piped, every column is written)" in " ".join(text.split())
    wide, report = drawn("gpt2", 80, 1)
    assert "not shown, to fit 80 columns: Kind (" in wide and all("." not in row.name for row in report.rows)
    narrow, _ = drawn("mixtral-8x7b", 60)
    assert "rows are wider than 60 columns; --depth 1 fits each on one line" in " ".join(narrow.split())


def test_piped_tables_keep_full_dotted_names(cli):
    ran = cli("table", "resnet50", "--memory")
    assert ran.code == 0, ran.err
    assert re.search(r"^conv2_x\.bottleneck1\.branch1\.conv1 +conv ", ran.out, re.M)
    assert not re.search(r"^ +bottleneck1", ran.out, re.M)


def test_the_floor_rounding_footer_is_one_line_and_formulas_show_each():
    report = analyze(catalog.load("resnet50"))
    assert len([f for row in report.rows for f in row.flags]) > 1
    (summary,) = render.flag_lines(report)
    assert summary.startswith("⚠ ") and "--formulas" in summary and "explain" in summary
    each = render.flag_lines(report, each=True)
    assert len(each) == sum(len(row.flags) for row in report.rows)
    assert "⚠ conv1: (224 − 7 + 2·3)/2 = 111.5 is not whole; rounded down" in "\n".join(each)
    assert render.table_text(report).count("⚠ ") == sum(1 for row in report.rows if row.flags) + 1
    assert render.table_text(report, formulas=True).count("\n⚠ ") == len(each)


def test_bars_are_proportional_and_need_no_dependency():
    assert render.bar(8, 8, width=4) == "████"
    assert render.bar(1, 8, width=4) == "▌"  # half a cell: 4 eighths of 32
    assert render.bar(0, 8) == "" and render.bar(1, 10**9) == "▏"  # above zero, at least a sliver
    report = analyze(catalog.load("vgg16"))
    cells = render.grid(report, bars=True)
    act, par = cells.headers.index("Act bar"), cells.headers.index("Param bar")
    rows = {row.name: cells.body[i] for i, row in enumerate(report.rows)}
    assert rows["conv1_1"][act] == "█" * render.BAR_WIDTH  # the notes: memory is spent early…
    assert rows["fc6"][par] == "█" * render.BAR_WIDTH  # …and parameters in the first fully connected layer
    assert len(rows["fc6"][act]) < 2 and len(rows["conv1_1"][par]) == 1


def test_table_bars_through_the_command_line(cli):
    ran = cli("table", "vgg16", "--bars")
    assert ran.code == 0, ran.err
    header = next(line for line in ran.out.splitlines() if line.startswith("Layer"))
    assert header.split()[-4:] == ["Act", "bar", "Param", "bar"]
    fc6 = next(line for line in ran.out.splitlines() if line.startswith("fc6 "))
    assert fc6.endswith("█" * render.BAR_WIDTH)


def test_the_plain_layout_when_even_the_essential_columns_do_not_fit():
    text, report = drawn("resnet18", 30, memory=True)
    assert "…" not in text
    assert all(whole(f"{row.params:,}", text) for row in report.rows)


@pytest.mark.parametrize("width", WIDTHS)
def test_generic_tables_keep_the_columns_that_matter(width):
    out = console(width)
    headers = ["Network", "Nodes", "Params", "MACs", "Per node", "b1 engine", "b1 torch", "b1 diff", "b1 on",
               "b8 engine", "b8 torch", "b8 diff", "b8 on", "Status"]
    row = ["resnet50", "176", "25,557,032", "4,089,184,256", "3 mismatch(es)", "110,000,000", "109,000,000",
           "+0.92%", "cpu", "880,000,000", "872,000,000", "+0.92%", "meta", "MISMATCH"]
    drop = ["Nodes", "b1 on", "b8 on", "MACs", "Params", "b1 torch", "b8 torch", "b1 engine", "b8 engine"]
    terminal.draw(out, headers, [False, True, True, True, False, True, True, True, False, True, True, True,
                                 False, False], [row], drop=drop)
    text = out.file.getvalue()
    assert "MISMATCH" in text and "3 mismatch(es)" in text and "+0.92%" in text and "…" not in text
    assert max(len(line) for line in text.split("\nnot shown")[0].splitlines()) <= width


def test_piped_generic_tables_are_plain_text():
    out = Console(file=io.StringIO(), width=10_000)  # not a terminal
    terminal.draw(out, ["Layer", "Median"], [False, True], [["conv1", "1.00 ms"]])
    assert out.file.getvalue() == "Layer   Median\nconv1  1.00 ms\n"


def test_the_footer_names_its_memory_figures_as_check_s_budgets_do(cli):
    """One definition of each memory figure: the footer's inference memory is the figure `check
    --max-inference-memory` holds to (peak activations, parameters and buffers), by the same name."""
    report = analyze(catalog.load("resnet50"))
    t = report.totals
    inference = t.inference_peak_bytes + t.param_bytes + t.buffer_bytes
    footer = cli("table", "resnet50").out
    shown = (f"Inference memory {format_bytes(inference)} (peak activations {format_bytes(t.inference_peak_bytes)}, "
             f"parameters {format_bytes(t.param_bytes)}, buffers {format_bytes(t.buffer_bytes)}); training memory "
             f"{format_bytes(report.train_total_bytes)}")
    assert shown in footer
    over = cli("check", str(SPECS / "resnet50.yaml"), "--max-inference-memory", str(inference - 1))
    assert over.code == 1 and "inference memory at batch 1 over budget" in over.out
    assert f"received {inference:,} B ({format_bytes(inference)})" in over.out
    assert cli("check", str(SPECS / "resnet50.yaml"), "--max-inference-memory", str(inference)).code == 0
    assert f"Activation memory {format_bytes(t.activation_bytes)} " in footer
    assert "(CS231n's rule of thumb)" in footer and "notes'" not in footer


def test_the_footer_is_true_of_the_dropout_rows_it_names():
    report = analyze(catalog.load("alexnet"))
    dropouts = [row for row in report.rows if row.kind in ("dropout", "relu")]
    assert dropouts and all(row.activations == 0 for row in dropouts)  # rows of their own, 0 B each
    cells = render.grid(report)
    activations = cells.headers.index("Activations")
    assert {cells.body[report.rows.index(row)][activations] for row in dropouts} == {"0 B"}
    assert "dropout are fused into the layer before (their rows add 0 B)" in render.table_text(report)
