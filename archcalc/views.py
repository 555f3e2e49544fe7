"""How a report shows itself: in Jupyter (`Report._repr_html_`) and in rich (`Report.__rich__`).

The report is data and imports no renderer; this module, which the package
imports, registers the two views with it. Each loads its renderer only when
a report is first shown (the HTML page's modules, or rich).
"""

from __future__ import annotations

from typing import Any

from .report import VIEWS, Report


def notebook(report: Report) -> str:
    """The report's table and totals as an HTML fragment: what a notebook shows."""
    from .html import fragment

    return fragment(report)


def renderable(report: Report) -> Any:
    """The report as a rich renderable: the table (every column) and its footer, as `archcalc table` draws it."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from . import render

    cells = render.grid(report)
    grid = Table(title=cells.title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, header_style="bold")
    for header, numeric in zip(cells.headers, cells.right):
        grid.add_column(header, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold")
    for row in cells.body:
        grid.add_row(*row)
    grid.add_section()
    grid.add_row(*cells.totals, style="bold")
    return Group(grid, *(Text(line) for line in render.totals_lines(report) + render.flag_lines(report, advice=False)))


VIEWS.update(html=notebook, rich=renderable)
