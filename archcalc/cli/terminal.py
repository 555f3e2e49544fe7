"""What a terminal shows, through rich: consoles on stdout and stderr, and a report drawn as a table.

Commands that always draw with rich (list, compare, explain, fit, bench,
verify) import this module; `table` reaches it through the registry only
when its output is a terminal.
"""

from __future__ import annotations

import sys

from rich import box
from rich.console import Console
from rich.table import Table

from .. import render
from ..report import Report

RICH_ROWS = 400  # past this, rich's layout takes seconds; plain text takes milliseconds


def out_console() -> Console:
    """Rich in a terminal; plain, unwrapped text when piped (rich honours NO_COLOR)."""
    piped = not sys.stdout.isatty()
    return Console(highlight=False, width=10_000 if piped else None, soft_wrap=piped)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def table(report: Report, formulas: bool = False, memory: bool = False, notes: list[str] | tuple[str, ...] = ()) -> None:
    """The report as a rich table (plain aligned text when very long), its footer wrapped at words."""
    console = out_console()
    cells = render.grid(report, formulas, memory)
    if len(cells.body) <= RICH_ROWS:
        grid = Table(title=cells.title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, header_style="bold")
        for header, numeric in zip(cells.headers, cells.right):
            grid.add_column(header, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric)
        for row in cells.body:
            grid.add_row(*row)
        grid.add_section()
        grid.add_row(*cells.totals, style="bold")
        console.print(grid)
    else:
        rows = render.plain(cells.headers, cells.right, [*cells.body, cells.totals])
        console.out("\n".join([cells.title, *rows]), highlight=False)
    for line in [*render.totals_lines(report), *render.flag_lines(report), *notes]:
        console.print(line, highlight=False, markup=False)
