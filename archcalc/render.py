"""Reports as a rich table, JSON, CSV or Markdown. Formats figures, computes none."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

from .report import Report, Row
from .units import format_bytes

FORMATS = ("table", "json", "csv", "markdown")


@dataclass(frozen=True)
class Column:
    header: str
    text: Callable[[Report, Row], str]
    numeric: bool = True


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _rf(field: tuple[int, int]) -> str:
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


RICH_ROWS = 400  # past this, rich's layout takes seconds; plain text takes milliseconds


def table(report: Report, console: Console, formulas: bool = False, memory: bool = False) -> None:
    """A rich table in a terminal; plain aligned text when piped (or very long)."""
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
    totals = ["total", "", "", f"{t.params:,}", f"{t.macs:,}", format_bytes(t.activation_bytes), _rf(t.receptive_field)]
    if memory:
        totals += [f"peak {format_bytes(t.inference_peak_bytes)}", format_bytes(t.train_saved_bytes)]
    totals += [""] * formulas
    title = f"{report.title or report.name} — input {_shape(report.input)}"
    if console.is_terminal and len(body) <= RICH_ROWS:
        grid = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, header_style="bold")
        for header, numeric in zip(headers, right):
            grid.add_column(header, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric)
        for cells in body:
            grid.add_row(*cells)
        grid.add_section()
        grid.add_row(*totals, style="bold")
        console.print(grid)
    else:
        console.out("\n".join([title, *plain(headers, right, [*body, totals])]), highlight=False)
    for line in totals_lines(report) + flag_lines(report):
        console.print(line, highlight=False)


def plain(headers: list[str], right: list[bool], rows: list[list[str]]) -> list[str]:
    """Columns aligned with spaces, no trailing blanks; a cell may span lines."""
    widths = [max(len(line) for cell in [h, *(r[i] for r in rows)] for line in cell.split("\n"))
              for i, h in enumerate(headers)]
    lines = []
    for cells in [headers, *rows]:
        parts = [cell.split("\n") for cell in cells]
        for k in range(max(len(p) for p in parts)):
            texts = [p[k] if k < len(p) else "" for p in parts]
            line = "  ".join(t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right))
            lines.append(line.rstrip())
    return lines


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


CSV_FIELDS = ("name", "kind", "output", "params", "trainable_params", "buffers", "macs", "backward_macs",
              "activations", "activation_bytes", "receptive_field", "saved_bytes", "alive_bytes")


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.rows:
        writer.writerow([row.name, row.kind, "x".join(map(str, row.output)), row.params, row.trainable_params,
                         row.buffers, row.macs, row.backward_macs, row.activations,
                         row.activations * report.itemsize * report.batch, row.receptive_field[0],
                         row.saved_bytes, row.alive_bytes])
    return out.getvalue()


def to_markdown(report: Report, memory: bool = False) -> str:
    shown = columns(memory)
    lines = ["| " + " | ".join(c.header for c in shown) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in shown) + "|"]
    lines += ["| " + " | ".join(c.text(report, row) for c in shown) + " |" for row in report.rows]
    t = report.totals
    memory_totals = f" peak {format_bytes(t.inference_peak_bytes)} | {format_bytes(t.train_saved_bytes)} |" if memory else ""
    lines.append(f"| **total** | | | **{t.params:,}** | **{t.macs:,}** | **{format_bytes(t.activation_bytes)}** | |{memory_totals}")
    return "\n".join(lines + [""] + [f"{line}  " for line in totals_lines(report) + flag_lines(report)]) + "\n"
