"""Reports as text: an aligned table, JSON, CSV or Markdown. Formats figures, computes none.

The table drawn with rich, for a terminal, is `cli/terminal.py`'s; piped, the
table is this plain text, and rich is never imported.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from . import safe
from .conventions import (ACTIVATION_MEMORY, FLOPS, FUSED, INFERENCE_MEMORY, MACS, RULE_OF_THUMB,
                          TRAINING_MEMORY, UNITS, ZERO_MACS)
from .ir import UNREAD
from .report import Report, Row
from .rules.base import AXES, shape_text
from .rules.opaque import unknown_macs
from .symbolic import Expr, text
from .units import format_bytes

FORMATS = ("table", "json", "csv", "markdown")


class Column(NamedTuple):  # NamedTuples, not dataclasses: a tenth of the cost to define, on every run
    header: str
    text: Callable[[Report, Row], str]
    numeric: bool = True


def count(value: Any) -> str:
    """A count (parameters, MACs, elements) as every output writes it: 138,357,544. The one place counts
    become text, so that a count that is a formula is written as one here too."""
    return f"{value:,}"


def params_count(params: Any, active: Any) -> str:
    """Parameters, and those one token uses where fewer (a mixture of experts): `46,702,792,704 (12,879,925,248 active)`."""
    return count(params) if active == params else f"{count(params)} ({count(active)} active)"


shape = shape_text  # an output shape, C×H×W


def field(sizes: tuple[Any, ...] | None) -> str:
    """A receptive field (or jump): one number when alike on every axis, H×W (L, T×H×W) otherwise."""
    if sizes is None:
        return "—"
    return str(sizes[0]) if all(v == sizes[0] for v in sizes) else "×".join(map(str, sizes))


_shape, _rf = shape, field  # the names other modules have used

BAR_WIDTH = 12
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: Any, largest: Any, width: int = BAR_WIDTH) -> str:
    """A proportional bar of block characters, full at `largest`; a value above zero shows at least a sliver."""
    if not isinstance(value, int) or not isinstance(largest, int) or value <= 0 or largest <= 0:
        return ""
    eighths = max(1, round(8 * width * value / largest))
    return "█" * (eighths // 8) + _EIGHTHS[eighths % 8].strip()


def _outputs(row: Row) -> str:
    """A row's output shape; a layer's several outputs as their count and shape, `2 × 58×28×28`, when alike."""
    if not row.outputs:
        return shape(row.output)
    if len(set(row.outputs)) == 1:
        return f"{len(row.outputs)} × {shape(row.output)}"
    return ", ".join(map(shape, row.outputs))


def _activation_bytes(r: Report, row: Row) -> Any:
    return row.activations * r.itemsize * r.batch


COLUMNS = (
    Column("Layer", lambda r, row: row.name + (" ⚠" if row.flags else ""), numeric=False),
    Column("Kind", lambda r, row: row.kind, numeric=False),
    Column("Output", lambda r, row: _outputs(row)),
    Column("Params", lambda r, row: count(row.params)),
    Column("MACs", lambda r, row: count(row.macs)),
    Column("Activations", lambda r, row: format_bytes(_activation_bytes(r, row))),
    Column("RF", lambda r, row: field(row.receptive_field)),
)

MEMORY_COLUMNS = (
    Column("Alive", lambda r, row: format_bytes(row.alive_bytes)),
    Column("Saved", lambda r, row: format_bytes(row.saved_bytes)),
)

# In a terminal too narrow for every column, these go first, in this order; Layer, Params and MACs stay.
DROP_ORDER = ("Kind", "RF", "Output", "Activations", "Saved", "Alive", "Param bar", "Act bar")


def columns(memory: bool) -> tuple[Column, ...]:
    """The table's columns; with `memory`, the running inference total and autograd's saved bytes."""
    return COLUMNS + MEMORY_COLUMNS if memory else COLUMNS


def _bar_columns(report: Report) -> tuple[Column, ...]:
    """Activation memory and parameters as bars, each proportional to its largest row."""
    top_bytes = max((_activation_bytes(report, row) for row in report.rows), default=0, key=_sortable)
    top_params = max((row.params for row in report.rows), default=0, key=_sortable)
    return (Column("Act bar", lambda r, row: bar(_activation_bytes(r, row), top_bytes), numeric=False),
            Column("Param bar", lambda r, row: bar(row.params, top_params), numeric=False))


def _sortable(value: Any) -> int:
    return value if isinstance(value, int) else 0


def totals_lines(report: Report) -> list[str]:
    """The footer: totals with their units and the conventions behind them."""
    t = report.totals
    per = f"{report.dtype}, batch {report.batch}"
    inference = report.inference_breakdown()
    return [
        f"{safe.printable(report.name)}: {t.params:,} parameters ({t.trainable_params:,} trainable"
        + (f"; {t.active_params:,} active per token, a moe's top k experts" if t.active_params != t.params else "") + ")"
        + (f", {t.buffers:,} buffer values" if t.buffers else "") + f"; depth {t.depth} (weight layers on the longest path)",
        f"MACs {_at_least(report)}{t.macs:,} ({MACS}, per sample); {FLOPS} = {_at_least(report)}{t.flops:,}",
        f"{ACTIVATION_MEMORY.capitalize()} {format_bytes(t.activation_bytes)} ({t.activations:,} per sample; {per}); "
        f"× 2 for forward + backward = {format_bytes(t.forward_backward_bytes)} ({RULE_OF_THUMB})",
        f"{INFERENCE_MEMORY.capitalize()} {_sum_of(inference)}; "
        f"{TRAINING_MEMORY} {format_bytes(report.train_total_bytes)} ({report.optimizer}, {per})",
        f"Units: {UNITS}. {FUSED}; {ZERO_MACS}.",
    ]


def _sum_of(parts: Mapping[str, Any]) -> str:
    """A figure made of parts: `107.6 MiB (peak activations 10.0 MiB, parameters 97.5 MiB)`; of formulas, the
    parts alone (`peak activations max(…) + parameters 97.5 MiB`). Zero parts are left out."""
    shown = {part: size for part, size in parts.items() if size != 0}
    terms = [f"{part} {format_bytes(size)}" for part, size in shown.items()]
    if all(isinstance(size, int) for size in shown.values()):
        return f"{format_bytes(sum(shown.values()))} ({', '.join(terms)})"
    return "= " + " + ".join(terms)


def _at_least(report: Report) -> str:
    """"at least " where an opaque layer's MACs are unknown (counted as 0)."""
    return "at least " if report.totals.macs_at_least else ""


def flag_lines(report: Report, each: bool = False, advice: bool = True) -> list[str]:
    """The ⚠ footer: each opaque layer; every inexact division when `each` (or when there is only one), else
    one summary line; `advice`: with the command-line options that say more (not in a notebook)."""
    strict = " (--strict makes it an error)" if advice else ""
    opaque = [f"⚠ {safe.printable(row.name)}: {flag}; the totals are at least theirs"
              for row in report.rows for flag in unknown_macs(row.flags)]
    flagged = [(row.name, flag) for row in report.rows for flag in row.flags if not unknown_macs((flag,))]
    unread = opaque + [f"⚠ {safe.printable(name)}: {UNREAD}{strict}" for name in report.unread]
    if each or len(flagged) == 1:
        return [f"⚠ {name}: {flag} (as PyTorch does{'; --strict makes it an error' if advice else ''})"
                for name, flag in flagged] + unread
    if not flagged:
        return unread
    names = list(dict.fromkeys(name for name, _ in flagged))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    more = "; --formulas or `archcalc explain` shows each, --strict makes them errors" if advice else ""
    return [f"⚠ {len(flagged)} divisions are not whole ({shown}); rounded as PyTorch does (down, or up in ceil "
            f"mode){more}", *unread]


class Grid(NamedTuple):
    """The table's cells: headers, which columns are numeric (right-aligned), one row per layer, totals."""

    title: str
    headers: list[str]
    right: list[bool]
    body: list[list[str]]
    totals: list[str]


def grid(report: Report, formulas: bool = False, memory: bool = False, bars: bool = False) -> Grid:
    """The cells of the table, for plain text or for rich."""
    shown = columns(memory) + (_bar_columns(report) if bars else ())
    headers = [c.header for c in shown] + (["Formulas"] if formulas else [])
    right = [c.numeric for c in shown] + ([False] if formulas else [])
    body = []
    for row in report.rows:
        cells = [column.text(report, row) for column in shown]
        if formulas:
            cells.append("\n".join(formula_lines(row)))
        body.append(cells)
    t = report.totals
    totals = ["total", "", "", _total(t.params, count), _total(t.macs, count), _total(t.activation_bytes, format_bytes),
              _total(t.receptive_field, field)]
    if memory:
        totals += [_total(t.inference_peak_bytes, lambda v: f"peak {format_bytes(v)}"),
                   _total(t.train_saved_bytes, format_bytes)]
    totals += [""] * (2 * bars + formulas)
    return Grid(f"{safe.printable(report.title or report.name)} — input {shape(report.input)}", headers, right, body,
                totals)


def _total(value: Any, show: Callable[[Any], str]) -> str:
    """A totals cell: the figure, or for a formula of several terms "below" (the footer gives it whole)."""
    parts = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, Expr) and len(v.terms) > 1 for v in parts):
        return "below"
    return show(value)


INDENT = "  "  # a level of the Layer column's tree


def tree(names: Sequence[str], rows: list[list[str]]) -> tuple[list[list[str]], list[int]]:
    """The Layer column (each row's first cell, which begins with its dotted name) as an indented tree,
    as torchinfo draws it: a header row for each block a row enters, then the row by its last name
    segment. Returns the rows and where each given row went (the header rows' other cells are blank)."""
    out: list[list[str]] = []
    where: list[int] = []
    open_blocks: list[str] = []
    for name, cells in zip(names, rows):
        *path, last = name.split(".")
        same = 0
        while same < min(len(open_blocks), len(path)) and open_blocks[same] == path[same]:
            same += 1
        out += [[INDENT * level + path[level]] + [""] * (len(cells) - 1) for level in range(same, len(path))]
        where.append(len(out))
        out.append([INDENT * len(path) + cells[0][len(name) - len(last):], *cells[1:]])
        open_blocks = path
    return out, where


def formula_lines(row: Row) -> list[str]:
    """The arithmetic behind a row's shape, parameters and MACs, one line each."""
    return [f"{k}: {v}" for k, v in row.formulas.items() if k in ("shape", "params", "macs")]


def table_text(report: Report, formulas: bool = False, memory: bool = False, bars: bool = False) -> str:
    """The table as plain aligned text with its footer: what a pipe receives."""
    cells = grid(report, formulas, memory, bars)
    rows = plain(cells.headers, cells.right, [*cells.body, cells.totals])
    return "\n".join([cells.title, *rows, *totals_lines(report), *flag_lines(report, each=formulas)]) + "\n"


class Fitted(NamedTuple):
    """Which columns of a table a width can show: `shown` (indices, in order) and their `widths`, the
    headers `left_out` to make room, and whether even the columns that never go fit (if not: the plain
    layout)."""

    shown: tuple[int, ...]
    widths: tuple[int, ...]
    left_out: tuple[str, ...]
    fits: bool


def cell_width(cell: str) -> int:
    return max(map(len, cell.split("\n")))


def fit(headers: list[str], rows: list[list[str]], width: int, drop: Sequence[str] = DROP_ORDER,
        wrap: Mapping[str, int] | None = None, gap: int = 3, edges: int = 2) -> Fitted:
    """Leave out the columns named in `drop`, in that order, until the others fit `width`; a column in
    `wrap` may shrink to the width it maps to (its text wraps), every other keeps its widest cell: a
    number is never cut. `gap` is the space between columns, `edges` the space outside them."""
    wrap = wrap or {}
    natural = [max([cell_width(h), *(cell_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    least = {i: min(natural[i], wrap.get(h, natural[i])) for i, h in enumerate(headers)}
    shown = list(range(len(headers)))
    left_out: list[str] = []

    def needed() -> int:
        return sum(least[i] for i in shown) + gap * (len(shown) - 1) + edges

    for header in drop:
        if needed() <= width:
            break
        if header in headers and headers.index(header) in shown:
            shown.remove(headers.index(header))
            left_out.append(header)
    spare = max(0, width - needed())
    widths = []
    for i in shown:  # what is left goes to the columns that wrap, up to their widest cell
        extra = min(natural[i] - least[i], spare)
        spare -= extra
        widths.append(least[i] + extra)
    return Fitted(tuple(shown), tuple(widths), tuple(left_out), needed() <= width)


def broken(text: str, width: int) -> str:
    """Text over lines of at most `width`, broken after a dot, a space or a slash where one falls in the line."""
    lines = []
    for line in text.split("\n"):
        while len(line) > width:
            cut = max(line.rfind(mark, 0, width) for mark in ". /_") + 1 or width
            lines.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        lines.append(line)
    return "\n".join(lines)


def left_out_line(left_out: Sequence[str], width: int, shown_by: str = "a wider terminal shows them") -> str:
    """The note under a table that had to leave columns out, and what `shown_by` them."""
    return f"not shown, to fit {width} columns: {', '.join(left_out)} ({shown_by}; piped, every column is written)"


def folded(headers: list[str], right: list[bool], rows: list[list[str]], beneath: list[list[str]],
           width: int, indent: int = 4) -> list[str]:
    """Aligned columns with each row's `beneath` lines under it, indented and wrapped at spaces to `width`
    (a word longer than the line stays whole): the formulas of a table too narrow for their column."""
    lines = plain(headers, right, rows)
    out = [lines[0]]
    for index, line in enumerate(lines[1:]):
        out.append(line)
        for text in beneath[index] if index < len(beneath) else ():
            out += _wrapped(text, width - indent, " " * indent)
    return out


def _wrapped(text: str, width: int, indent: str) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return [indent + line for line in lines]


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


class _Unusual(Exception):
    """A value the fast path leaves to json itself: a key that is not text, a type JSON does not know."""


def dumps(value: Any) -> str:
    """json.dumps(value, indent=2, ensure_ascii=False), character for character, several times faster.

    CPython's C encoder takes no indent, so json.dumps(indent=2) runs in pure
    Python, a generator per container (half a second for a 5,000-layer
    report). This writes the same text into one list.
    """
    import json  # JSON's only: a table never loads it

    out: list[str] = []
    try:
        _dump(value, "\n", out, json)
    except _Unusual:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(out)


def _dump(value: Any, newline: str, out: list[str], json: Any) -> None:
    """Append `value` at the indent that `newline` carries; text and integers inline, the commonest by far.
    Text is escaped by `json`'s C function, as json.dumps(ensure_ascii=False) escapes it."""
    string = json.encoder.encode_basestring
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        out.append(_scalar(value, json))
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
            separator += string(key) + ": "
        if type(item) is int:
            out.append(separator + int.__repr__(item))
        elif type(item) is str:
            out.append(separator + string(item))
        else:
            out.append(separator)
            _dump(item, inner, out, json)
        separator = "," + inner
    out.append(newline + ("}" if kind is dict else "]"))


def _scalar(value: Any, json: Any) -> str:
    if type(value) is str:
        return json.encoder.encode_basestring(value)
    if value is None or value is True or value is False or isinstance(value, (int, float)):
        return json.dumps(value)
    raise _Unusual


CSV_FIELDS = ("name", "kind", "output", "params", "trainable_params", "buffers", "macs", "backward_macs",
              "activations", "activation_bytes", "receptive_field_h", "receptive_field_w", "saved_bytes", "alive_bytes")


def csv_fields(rank: int) -> tuple[str, ...]:
    """The CSV header: a receptive-field column per spatial axis (H and W, L in 1-D, T, H and W in 3-D)."""
    if rank not in AXES or rank == 2:
        return CSV_FIELDS
    at = CSV_FIELDS.index("receptive_field_h")
    return (*CSV_FIELDS[:at], *(f"receptive_field_{axis.lower()}" for axis in AXES[rank]), *CSV_FIELDS[at + 2:])


def to_csv(report: Report) -> str:
    import csv  # CSV's only

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rank = max((len(row.receptive_field) for row in report.rows if row.receptive_field), default=2)
    writer.writerow(csv_fields(rank))
    for row in report.rows:
        rf = (*(row.receptive_field or ()), *("",) * rank)  # blank where there is no closed form
        macs = ("", "") if unknown_macs(row.flags) else (row.macs, row.backward_macs)  # blank: unknown, not 0
        cells = [row.name, row.kind, "x".join(f"({_code(d)})" if isinstance(d, Expr) else str(d) for d in row.output),
                 row.params, row.trainable_params,
                 row.buffers, *macs, row.activations, _activation_bytes(report, row),
                 *rf[:rank], row.saved_bytes, row.alive_bytes]
        writer.writerow(cells if not report.symbolic else [_code(cell) for cell in cells])
    return out.getvalue()


def _code(value: Any) -> Any:
    """A formula in CSV: archcalc's expression grammar, which a program can evaluate."""
    return text(value, "code") if isinstance(value, Expr) else value


def markdown_cell(text: str) -> str:
    """Text made safe inside a Markdown table cell: a `|` would end the cell, a line break the row, and
    `[`, `<`, `*` … make a link, HTML or emphasis (safe.markdown)."""
    return safe.markdown(text)


def markdown_table(headers: Sequence[str], right: Sequence[bool], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub Markdown pipe table, every cell escaped."""
    lines = ["| " + " | ".join(map(markdown_cell, headers)) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    return lines + ["| " + " | ".join(map(markdown_cell, cells)) + " |" for cells in rows]


def to_markdown(report: Report, memory: bool = False) -> str:
    shown = columns(memory)
    rows = [[c.text(report, row) for c in shown] for row in report.rows]
    lines = markdown_table([c.header for c in shown], [c.numeric for c in shown], rows)
    t = report.totals
    memory_totals = f" peak {format_bytes(t.inference_peak_bytes)} | {format_bytes(t.train_saved_bytes)} |" if memory else ""
    lines.append(f"| **total** | | | **{count(t.params)}** | **{count(t.macs)}** | **{format_bytes(t.activation_bytes)}** | |"
                 f"{memory_totals}")
    notes = totals_lines(report) + flag_lines(report)
    return "\n".join(lines + [""] + [f"{markdown_cell(line)}  " for line in notes]) + "\n"
