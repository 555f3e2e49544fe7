"""What a terminal shows, through rich: consoles on stdout and stderr, and a report drawn as a table.

Commands that always draw with rich (list, compare, explain, fit, bench,
verify) import this module; `table` reaches it through the registry only
when its output is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from .. import render
from ..report import Report
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
    """The report as a table that fits the terminal, its footer wrapped at words."""
    console = console or out_console()
    cells = render.grid(report, memory=memory, bars=bars)
    beneath = [render.formula_lines(row) for row in report.rows] + [[]] if formulas else None
    draw(console, cells.headers, cells.right, [*cells.body, cells.totals], title=cells.title, beneath=beneath,
         totals=True)
    for line in [*render.totals_lines(report), *render.flag_lines(report, each=formulas), *notes]:
        console.print(line, highlight=False, markup=False)


WRAP = {"Layer": 12, "Network": 10, "Node": 12, "Source": 24, "Formulas": 30}  # columns whose text may wrap, to this width


def draw(console: Console, headers: list[str], right: list[bool], rows: list[list[str]], *, title: str = "",
         drop: Sequence[str] = render.DROP_ORDER, beneath: list[list[str]] | None = None, totals: bool = False) -> None:
    """A table that never cuts a number. Piped: plain aligned text, every column. In a terminal: the columns
    that fit its width, drawn with rich, those left out named below; `beneath` (lines under each row, the
    formulas) as a last column when it fits, else folded under the rows; plain text past RICH_ROWS rows
    or when even the columns that stay do not fit. `totals`: the last row is a totals row."""
    if not console.is_terminal:
        if beneath:
            headers, right = [*headers, "Formulas"], [*right, False]
            rows = [[*row, "\n".join(lines)] for row, lines in zip(rows, beneath)]
        console.out("\n".join([*([title] if title else []), *render.plain(headers, right, rows)]), highlight=False)
        return
    width = console.width
    if beneath:
        with_formulas = render.fit([*headers, "Formulas"], [[*row, "\n".join(lines)] for row, lines in zip(rows, beneath)],
                                   width, drop, WRAP)
        if with_formulas.fits and "Formulas" not in with_formulas.left_out:
            headers, right = [*headers, "Formulas"], [*right, False]
            rows, beneath = [[*row, "\n".join(lines)] for row, lines in zip(rows, beneath)], None
    fitted = render.fit(headers, rows, width, drop, WRAP)
    pick = lambda cells: [cells[i] for i in fitted.shown]  # noqa: E731
    if beneath or not fitted.fits or len(rows) > RICH_ROWS:
        lines = (render.folded(pick(headers), pick(right), [pick(r) for r in rows], beneath, width) if beneath
                 else render.plain(pick(headers), pick(right), [pick(r) for r in rows]))
        console.out("\n".join([*([title] if title else []), *lines]), highlight=False)
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
    if fitted.left_out:
        console.print(render.left_out_line(fitted.left_out, width), highlight=False, markup=False)
