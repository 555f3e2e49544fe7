"""Reports as HTML: one self-contained page (`archcalc report`), or a fragment for a notebook (`_repr_html_`).

The page holds everything it shows: the style, a few lines of script that
sort the tables, the plots as inline SVG, the diagram as SVG drawn by
Graphviz (or its DOT text when Graphviz is missing). Nothing is fetched from
a network. Every text from a spec is escaped.
"""

from __future__ import annotations

import re
from html import escape

from . import compare, diagram, render
from .conventions import FLOPS, MACS, UNITS
from .errors import ArchcalcError
from .report import Report, fold
from .units import format_bytes

DIAGRAM_NODES = 120  # past this many rows, the diagram is folded to two levels unless a depth is given

TABLE_STYLE = """
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .2em .7em; border-bottom: 1px solid #eaeef2; white-space: nowrap; }
td.num, th.num { text-align: right; }
thead th { position: sticky; top: 0; background: #f6f8fa; }
tfoot td { font-weight: 600; border-top: 2px solid #d0d7de; } tbody th { text-align: left; font-weight: 500; }
.scroll { overflow-x: auto; } ul.totals { padding-left: 1.2em; }
"""  # the layer table and its totals, on the report page and in a notebook

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1d2330; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
""" + TABLE_STYLE + """
thead th { cursor: pointer; user-select: none; }
thead th[aria-sort="ascending"]::after { content: " ▲"; } thead th[aria-sort="descending"]::after { content: " ▼"; }
figure { margin: 1em 0; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; }
"""


def scoped(style: str, scope: str) -> str:
    """CSS whose every selector applies only inside `scope` (`.archcalc`): a notebook's page keeps its own look."""
    return "".join(f"{', '.join(f'{scope} {s.strip()}' for s in selectors.split(','))} {{{body}}}\n"
                   for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", style))


FRAGMENT_STYLE = scoped(TABLE_STYLE, ".archcalc") + ".archcalc .scroll { max-height: 36em; overflow-y: auto; }\n"

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[column], value = cell.getAttribute("data-value");
        return value === null ? cell.textContent : Number(value);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order = x < y ? -1 : x > y ? 1 : Number(a.dataset.index) - Number(b.dataset.index);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def layers_table(report: Report) -> str:
    """The layer table, sortable by any column: numeric cells carry their exact value in data-value."""
    columns = render.columns(memory=True)
    head = "".join(f'<th scope="col"{" class=num" if c.numeric else ""}>{escape(c.header)}</th>' for c in columns)
    values = (None, None, lambda row: _product(row.output), lambda row: row.params, lambda row: row.macs,
              lambda row: row.activations, lambda row: (row.receptive_field or (0, 0))[0],
              lambda row: row.alive_bytes, lambda row: row.saved_bytes)
    body = []
    for index, row in enumerate(report.rows):
        cells = []
        for column, value in zip(columns, values):
            number = value(row) if value else None
            attribute = f' data-value="{number}"' if isinstance(number, int) else ""
            cells.append(f'<td{" class=num" if column.numeric else ""}{attribute}>'
                         f'{escape(column.text(report, row))}</td>')
        body.append(f'<tr data-index="{index}">{"".join(cells)}</tr>')
    t = report.totals
    foot = ["total", "", "", render.count(t.params), render.count(t.macs), format_bytes(t.activation_bytes),
            render.field(t.receptive_field), f"peak {format_bytes(t.inference_peak_bytes)}",
            format_bytes(t.train_saved_bytes)]
    foot_cells = "".join(f'<td{" class=num" if c.numeric else ""}>{escape(text)}</td>' for c, text in zip(columns, foot))
    return (f'<div class="scroll"><table class="layers sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody><tfoot><tr>{foot_cells}</tr></tfoot></table></div>')


def _product(shape: tuple) -> int | None:
    total = 1
    for dim in shape:
        if not isinstance(dim, int):
            return None
        total *= dim
    return total


def totals(report: Report, advice: bool = True) -> str:
    """The totals, and the ⚠ lines; `advice`: with the options that say more (a notebook has none)."""
    lines = render.totals_lines(report) + render.flag_lines(report, advice=advice)
    return '<ul class="totals">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def fragment(report: Report) -> str:
    """A report's table and totals as an HTML fragment, styled within itself: what a notebook shows
    (`Report._repr_html_`), with no command-line advice."""
    title = f"{report.title or report.name} — input {render.shape(report.input)}"
    return (f"<div class=\"archcalc\"><style>{FRAGMENT_STYLE}</style><strong>{escape(title)}</strong>"
            f"{layers_table(report)}{totals(report, advice=False)}</div>")


def _diagram(report: Report, depth: int | None) -> str:
    shown = fold(report, depth or (2 if len(report.rows) > DIAGRAM_NODES else None))
    text = diagram.dot(shown)
    try:
        svg = diagram.draw(text, "svg").decode("utf-8")
    except ArchcalcError as err:
        return (f"<p>{escape(str(err))}. The diagram as DOT text (paste it into any Graphviz viewer):</p>"
                f"<pre>{escape(text)}</pre>")
    return svg[svg.index("<svg"):]


def comparison(reports: list[Report]) -> str:
    """Networks side by side, as `archcalc compare` shows them, with ratios to the first (rows are metrics)."""
    head = "<th>metric</th>" + "".join(f'<th class="num">{escape(r.name)}</th>' for r in reports)
    rows = []
    for metric, values in compare.table(reports):
        cells = "".join(f'<td class="num" data-value="{v}">{escape(compare.cell(metric.unit, v, values[0], i == 0))}</td>'
                        for i, v in enumerate(values))
        rows.append(f"<tr><th scope=\"row\">{escape(metric.label)}</th>{cells}</tr>")
    return f'<table class="comparison"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def document(reports: list[Report], depth: int | None = None) -> str:
    """The whole report page: a comparison (several networks), then each network's table, totals, plots, diagram."""
    from . import plot

    names = ", ".join(r.name for r in reports)
    parts = [f"<h1>archcalc report: {escape(names)}</h1>",
             f"<p>{escape(reports[0].dtype)}, batch {reports[0].batch}; MACs are {MACS} "
             f"({FLOPS}); {UNITS}. Click a column's header to sort the table by it.</p>"]
    if len(reports) > 1:
        parts += ['<section id="comparison"><h2>Comparison</h2>', comparison(reports),
                  f'<figure class="plot">{plot.svg_text(plot.compare_figure(reports))}'
                  "<figcaption>MACs against parameters; marker area by activation memory.</figcaption></figure>",
                  "</section>"]
    for index, report in enumerate(reports):
        table_report = fold(report, depth)
        parts += [f'<section class="network" id="network-{index}">',
                  f"<h2>{escape(report.title or report.name)} — input {escape(render.shape(report.input))}</h2>",
                  layers_table(table_report), totals(report),
                  f'<figure class="plot">{plot.svg_text(plot.layers_figure(table_report))}'
                  "<figcaption>Activation memory and parameters per layer; inference memory, layer by layer."
                  "</figcaption></figure>",
                  f'<figure class="diagram">{_diagram(report, depth)}<figcaption>The network\'s graph.</figcaption>'
                  "</figure>", "</section>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>archcalc report: {escape(names)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + f"<script>{SCRIPT}</script></body></html>\n")
