"""What a terminal shows, through rich: consoles on stdout and stderr, and a report drawn as a table.

Commands that always draw with rich (list, compare, explain, fit, bench,
verify) import this module; `table` reaches it through the registry only
when its output is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from .. import render
from ..errors import ArchcalcError
from ..report import Report, fold
from .streams import width

RICH_ROWS = 400  # past this, rich's layout takes seconds; plain text takes milliseconds


def out_console() -> Console:
    """Rich in a terminal; plain, unwrapped text when piped (rich honours NO_COLOR).

    Markup and emoji codes are off: a spec's text (`[link=…]`, `:warning:`) is shown as written, never
    interpreted; archcalc styles through rich's objects (Text, Table styles), not through markup.
    """
    piped = not sys.stdout.isatty()
    return Console(highlight=False, markup=False, emoji=False, width=10_000 if piped else width(), soft_wrap=piped)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, markup=False, emoji=False, width=width(), soft_wrap=True)


def table(report: Report, formulas: bool = False, memory: bool = False, bars: bool = False,
          console: Console | None = None, notes: Sequence[str] = ()) -> None:
    """The report as a table that fits the terminal, its layers an indented tree of their dotted names (each
    row one line), its footer wrapped at words; what a narrower terminal leaves out is named, with what shows
    it. Piped: plain text, every column and full dotted names."""
    console = console or out_console()
    cells = render.grid(report, memory=memory, bars=bars)
    body, where = _tree(report, cells) if console.is_terminal else (cells.body, range(len(cells.body)))
    beneath = None
    if formulas:
        beneath = [[] for _ in range(len(body) + 1)]
        for index, row in zip(where, report.rows):
            beneath[index] = render.formula_lines(row)
    fitted = draw(console, cells.headers, cells.right, [*body, cells.totals], title=cells.title, beneath=beneath,
                  totals=True, wrap=TREE_WRAP, note=False)
    for line in _advice(report, memory, bars, fitted, console.width) if fitted else ():
        console.print(line, highlight=False, markup=False)
    for line in [*render.totals_lines(report), *render.flag_lines(report, each=formulas), *notes]:
        console.print(line, highlight=False, markup=False)


def _tree(report: Report, cells: render.Grid) -> tuple[list[list[str]], list[int]]:
    """The table's body with its Layer column as a tree, and where each of the report's rows went."""
    return render.tree([row.name for row in report.rows], cells.body)


def _advice(report: Report, memory: bool, bars: bool, fitted: render.Fitted, width: int) -> list[str]:
    """Under a table that a terminal of `width` could not show whole: the columns left out and what shows
    them, rows wider than the terminal; --depth 1 where its shallower tree shows more."""
    if fitted.fits and not fitted.left_out:
        return []
    shallow = _fitted_at_depth_1(report, memory, bars, width)
    lines = []
    if fitted.left_out:
        better = shallow is not None and shallow.fits and len(shallow.left_out) < len(fitted.left_out)
        lines.append(render.left_out_line(fitted.left_out, width,
                                          f"{'--depth 1 or ' if better else ''}a wider terminal shows them"))
    if not fitted.fits:
        fits = shallow is not None and shallow.fits
        lines.append(f"rows are wider than {width} columns{'; --depth 1 fits each on one line' if fits else ''}")
    return lines


def _fitted_at_depth_1(report: Report, memory: bool, bars: bool, width: int) -> render.Fitted | None:
    """How the table folded to --depth 1 would fit `width`; None where that would not change it (no dotted
    names) or cannot be (dotted names written by hand, which do not fold)."""
    if not any("." in row.name for row in report.rows):
        return None
    try:
        folded = fold(report, 1)
    except ArchcalcError:
        return None
    cells = render.grid(folded, memory=memory, bars=bars)
    return render.fit(cells.headers, [*_tree(folded, cells)[0], cells.totals], width, render.DROP_ORDER, TREE_WRAP)


WRAP = {"Layer": 12, "Network": 10, "Node": 12, "Source": 24, "Formulas": 30}  # columns whose text may wrap, to this width
TREE_WRAP = {k: v for k, v in WRAP.items() if k != "Layer"}  # a tree's names stay whole: one line a row


def draw(console: Console, headers: list[str], right: list[bool], rows: list[list[str]], *, title: str = "",
         drop: Sequence[str] = render.DROP_ORDER, beneath: list[list[str]] | None = None, totals: bool = False,
         wrap: Mapping[str, int] = WRAP, note: bool = True) -> render.Fitted | None:
    """A table that never cuts a number. Piped: plain aligned text, every column. In a terminal: the columns
    that fit its width, drawn with rich, those left out named below; `beneath` (lines under each row, the
    formulas) as a last column when it fits, else folded under the rows; plain text past RICH_ROWS rows
    or when even the columns that stay do not fit. `totals`: the last row is a totals row; `wrap`: the
    columns whose text may wrap, to what width; `note`: the line naming those left out (else the caller's).
    Returns what was fitted (None, piped)."""
    if not console.is_terminal:
        if beneath:
            headers, right = [*headers, "Formulas"], [*right, False]
            rows = [[*row, "\n".join(lines)] for row, lines in zip(rows, beneath)]
        console.out("\n".join([*([title] if title else []), *render.plain(headers, right, rows)]), highlight=False)
        return None
    width = console.width
    if beneath:
        with_formulas = render.fit([*headers, "Formulas"], [[*row, "\n".join(lines)] for row, lines in zip(rows, beneath)],
                                   width, drop, wrap)
        if with_formulas.fits and "Formulas" not in with_formulas.left_out:
            headers, right = [*headers, "Formulas"], [*right, False]
            rows, beneath = [[*row, "\n".join(lines)] for row, lines in zip(rows, beneath)], None
    fitted = render.fit(headers, rows, width, drop, wrap)
    pick = lambda cells: [cells[i] for i in fitted.shown]  # noqa: E731
    if beneath or not fitted.fits or len(rows) > RICH_ROWS:
        lines = (render.folded(pick(headers), pick(right), [pick(r) for r in rows], beneath, width) if beneath
                 else render.plain(pick(headers), pick(right), [pick(r) for r in rows]))
        if title:
            console.print(title, highlight=False, markup=False)
        console.out("\n".join(lines), highlight=False)
    else:
        grid = Table(title=title or None, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
                     header_style="bold")
        for i, w in zip(fitted.shown, fitted.widths):
            grid.add_column(headers[i], justify="right" if right[i] else "left", width=w, no_wrap=True)
        body = rows[:-1] if totals else rows
        for row in body:
            grid.add_row(*(render.broken(row[i], w) for i, w in zip(fitted.shown, fitted.widths)))
        if totals:
            grid.add_section()
            grid.add_row(*(render.broken(rows[-1][i], w) for i, w in zip(fitted.shown, fitted.widths)), style="bold")
        console.print(grid)
    if fitted.left_out and note:
        console.print(render.left_out_line(fitted.left_out, width), highlight=False, markup=False)
    return fitted
