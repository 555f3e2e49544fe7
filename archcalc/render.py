"""Reports as text: an aligned table, JSON, CSV or Markdown. Formats figures, computes none.

The table drawn with rich, for a terminal, is `cli/terminal.py`'s; piped, the
table is this plain text, and rich is never imported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from .report import Report, Row
from .symbolic import Expr, text
from .units import format_bytes

FORMATS = ("table", "json", "csv", "markdown")


class Column(NamedTuple):  # NamedTuples, not dataclasses: a tenth of the cost to define, on every run
    header: str
    text: Callable[[Report, Row], str]
    numeric: bool = True


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def _rf(field: tuple[int, int] | None) -> str:
    """A receptive field: 11, 11×7, or — where a symbolic size leaves it no closed form."""
    if field is None:
        return "—"
    h, w = field
    return str(h) if h == w else f"{h}×{w}"


COLUMNS = (
    Column("Layer", lambda r, row: row.name + (" ⚠" if row.flags else ""), numeric=False),
    Column("Kind", lambda r, row: row.kind, numeric=False),
    Column("Output", lambda r, row: _shape(row.output)),
    Column("Params", lambda r, row: f"{row.params:,}"),
    Column("MACs", lambda r, row: f"{row.macs:,}"),
    Column("Activations", lambda r, row: format_bytes(row.activations * r.itemsize * r.batch)),
    Column("RF", lambda r, row: _rf(row.receptive_field)),
)

MEMORY_COLUMNS = (
    Column("Alive", lambda r, row: format_bytes(row.alive_bytes)),
    Column("Saved", lambda r, row: format_bytes(row.saved_bytes)),
)


def columns(memory: bool) -> tuple[Column, ...]:
    """The table's columns; with `memory`, the running inference total and autograd's saved bytes."""
    return COLUMNS + MEMORY_COLUMNS if memory else COLUMNS


def totals_lines(report: Report) -> list[str]:
    """The footer: totals with their units and the conventions behind them."""
    t = report.totals
    per = f"{report.dtype}, batch {report.batch}"
    return [
        f"{report.name}: {t.params:,} parameters ({t.trainable_params:,} trainable)"
        + (f", {t.buffers:,} buffer values" if t.buffers else "") + f"; depth {t.depth} (weight layers on the longest path)",
        f"MACs {t.macs:,} (multiply-accumulates of conv and fc, per sample); FLOPs = 2 × MACs = {t.flops:,}",
        f"Activations {t.activations:,} per sample = {format_bytes(t.activation_bytes)} ({per}); "
        f"× 2 for forward + backward = {format_bytes(t.forward_backward_bytes)}",
        f"Parameters {format_bytes(t.param_bytes)} ({report.dtype}); inference peak {format_bytes(t.inference_peak_bytes)}; "
        f"training {format_bytes(report.train_total_bytes)} ({report.optimizer}, {per})",
        "Units: MiB = 2²⁰ bytes. Activation functions and dropout are fused into the layer before; "
        "bias adds, BN, pooling and sums count 0 MACs.",
    ]


def flag_lines(report: Report) -> list[str]:
    return [f"⚠ {row.name}: {flag} (as PyTorch does; --strict makes it an error)"
            for row in report.rows for flag in row.flags]


class Grid(NamedTuple):
    """The table's cells: headers, which columns are numeric (right-aligned), one row per layer, totals."""

    title: str
    headers: list[str]
    right: list[bool]
    body: list[list[str]]
    totals: list[str]


def grid(report: Report, formulas: bool = False, memory: bool = False) -> Grid:
    """The cells of the table, for plain text or for rich."""
    shown = columns(memory)
    headers = [c.header for c in shown] + (["Formulas"] if formulas else [])
    right = [c.numeric for c in shown] + ([False] if formulas else [])
    body = []
    for row in report.rows:
        cells = [column.text(report, row) for column in shown]
        if formulas:
            cells.append("\n".join(f"{k}: {v}" for k, v in row.formulas.items() if k in ("shape", "params", "macs")))
        body.append(cells)
    t = report.totals
    totals = ["total", "", "", _total(t.params, "{:,}"), _total(t.macs, "{:,}"), _total(t.activation_bytes, format_bytes),
              _total(t.receptive_field, _rf)]
    if memory:
        totals += [_total(t.inference_peak_bytes, lambda v: f"peak {format_bytes(v)}"),
                   _total(t.train_saved_bytes, format_bytes)]
    totals += [""] * formulas
    return Grid(f"{report.title or report.name} — input {_shape(report.input)}", headers, right, body, totals)


def _total(value: Any, show: Any) -> str:
    """A totals cell: the figure, or for a formula of several terms "below" (the footer gives it whole)."""
    formula = isinstance(value, Expr) and len(value.terms) > 1 or isinstance(value, tuple) and any(
        isinstance(v, Expr) and len(v.terms) > 1 for v in value)
    if formula:
        return "below"
    return show.format(value) if isinstance(show, str) else show(value)


def table_text(report: Report, formulas: bool = False, memory: bool = False) -> str:
    """The table as plain aligned text with its footer: what a pipe receives."""
    cells = grid(report, formulas, memory)
    rows = plain(cells.headers, cells.right, [*cells.body, cells.totals])
    return "\n".join([cells.title, *rows, *totals_lines(report), *flag_lines(report)]) + "\n"


def plain(headers: list[str], right: list[bool], rows: list[list[str]]) -> list[str]:
    """Columns aligned with spaces, no trailing blanks; a cell may span lines."""
    lines = [headers, *rows]
    if any("\n" in cell for cells in lines for cell in cells):
        lines = [line for cells in lines for line in _physical(cells)]
    widths = [max(map(len, column)) for column in zip(*lines)]
    template = "  ".join(f"{{:{'>' if r else '<'}{w}}}" for w, r in zip(widths, right))
    return [template.format(*cells).rstrip() for cells in lines]


def _physical(cells: list[str]) -> list[list[str]]:
    """A row whose cells span several lines, as one row per line (blank where a cell has ended)."""
    parts = [cell.split("\n") for cell in cells]
    return [[p[k] if k < len(p) else "" for p in parts] for k in range(max(map(len, parts)))]


def to_json(report: Report) -> str:
    return dumps(report.to_dict())


_STRING = json.encoder.encode_basestring  # C in CPython: json.dumps(ensure_ascii=False)'s escaping


class _Unusual(Exception):
    """A value the fast path leaves to json itself: a key that is not text, a type JSON does not know."""


def dumps(value: Any) -> str:
    """json.dumps(value, indent=2, ensure_ascii=False), character for character, several times faster.

    CPython's C encoder takes no indent, so json.dumps(indent=2) runs in pure
    Python, a generator per container (half a second for a 5,000-layer
    report). This writes the same text into one list.
    """
    out: list[str] = []
    try:
        _dump(value, "\n", out)
    except _Unusual:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(out)


def _dump(value: Any, newline: str, out: list[str]) -> None:
    """Append `value` at the indent that `newline` carries; text and integers inline, the commonest by far."""
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        out.append(_scalar(value))
        return
    if not value:
        out.append("{}" if kind is dict else "[]")
        return
    inner = newline + "  "
    out.append("{" if kind is dict else "[")
    separator = inner
    for item in value.items() if kind is dict else value:
        if kind is dict:
            key, item = item
            if type(key) is not str:
                raise _Unusual
            separator += _STRING(key) + ": "
        if type(item) is int:
            out.append(separator + int.__repr__(item))
        elif type(item) is str:
            out.append(separator + _STRING(item))
        else:
            out.append(separator)
            _dump(item, inner, out)
        separator = "," + inner
    out.append(newline + ("}" if kind is dict else "]"))


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _STRING(value)
    if value is None or value is True or value is False or isinstance(value, (int, float)):
        return json.dumps(value)
    raise _Unusual


CSV_FIELDS = ("name", "kind", "output", "params", "trainable_params", "buffers", "macs", "backward_macs",
              "activations", "activation_bytes", "receptive_field", "saved_bytes", "alive_bytes")


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.rows:
        cells = [row.name, row.kind, "x".join(map(str, row.output)), row.params, row.trainable_params,
                 row.buffers, row.macs, row.backward_macs, row.activations,
                 row.activations * report.itemsize * report.batch,
                 None if row.receptive_field is None else row.receptive_field[0], row.saved_bytes, row.alive_bytes]
        writer.writerow(cells if not report.symbolic else [_code(cell) for cell in cells])
    return out.getvalue()


def _code(value: Any) -> Any:
    """A formula in CSV: archcalc's expression grammar, which a program can evaluate."""
    return text(value, "code") if isinstance(value, Expr) else value


def to_markdown(report: Report, memory: bool = False) -> str:
    shown = columns(memory)
    lines = ["| " + " | ".join(c.header for c in shown) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in shown) + "|"]
    lines += ["| " + " | ".join(c.text(report, row) for c in shown) + " |" for row in report.rows]
    t = report.totals
    memory_totals = f" peak {format_bytes(t.inference_peak_bytes)} | {format_bytes(t.train_saved_bytes)} |" if memory else ""
    lines.append(f"| **total** | | | **{t.params:,}** | **{t.macs:,}** | **{format_bytes(t.activation_bytes)}** | |{memory_totals}")
    return "\n".join(lines + [""] + [f"{line}  " for line in totals_lines(report) + flag_lines(report)]) + "\n"
