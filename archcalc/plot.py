"""Figures of reports, drawn with matplotlib (the optional `plot` extra): where memory and parameters go.

- `layers_figure`: activation memory and parameters per layer (log scale),
  and the inference memory timeline (bytes alive after each layer, the peak
  marked);
- `compare_figure`: networks as points of MACs against parameters, the
  marker's area by activation memory, each labelled.

matplotlib is imported here only, and this module only by the commands that
draw (`plot`, `report`). Output is deterministic: fixed style, SVG ids from
a fixed salt, no dates or versions in the files.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import render
from .conventions import MACS
from .errors import ArchcalcError
from .report import Report
from .units import format_bytes, format_count

INSTALL = "pip install matplotlib"  # not 'archcalc[plot]': that extra resolves only in a checkout of archcalc
STYLE = {
    "svg.hashsalt": "archcalc",  # ids in the SVG from this, not from a random number
    "svg.fonttype": "none",  # text stays text: searchable, and selectable in a browser
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
METADATA = {"svg": {"Date": None, "Creator": None}, "png": {"Software": None}}
FORMATS = tuple(METADATA)
KINDS = ("all", "layers", "timeline")
MAX_LABELS = 60  # past this, every k-th layer is named on the axis
LABEL_CHAR = 0.07  # inches a character of a layer's name takes, rotated on the axis (DejaVu Sans at 8 pt, with room)
MIB = 2**20


def matplotlib() -> Any:
    """matplotlib, or a one-line error that says what to install.

    What matplotlib logs on import (a config directory it cannot make under a read-only or unset home, and
    the temporary one it makes instead) goes to the handlers of a program that has them, never to stderr
    through logging's last resort."""
    logger = logging.getLogger("matplotlib")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    try:
        import matplotlib as mpl
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise ArchcalcError(f"plotting needs matplotlib, which is not installed: {INSTALL}") from None
    return mpl


@contextmanager
def _drawing() -> Iterator[None]:
    """archcalc's style, and matplotlib's own warnings kept off stderr (a glyph the font lacks, an empty log
    axis): they are about the drawing, which archcalc has already made readable, not about the spec."""
    with matplotlib().rc_context(STYLE), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib warns "from" its caller's module: no narrower filter holds
        yield


def _log_scale(ax: Any, values: list[float]) -> None:
    """A log axis where there is something positive to show (a network with no parameters keeps a linear one)."""
    if any(value > 0 for value in values):
        ax.set_yscale("log")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def layers_figure(report: Report, kind: str = "all") -> Any:
    """Per-layer activation memory and parameters (log scale) and/or the inference memory timeline."""
    panels = {"all": ("memory", "params", "timeline"), "layers": ("memory", "params"), "timeline": ("timeline",)}[kind]
    rows = report.rows
    labels = [row.name for row in rows]
    step = max(1, -(-len(labels) // MAX_LABELS))
    names = max(map(len, labels[::step]), default=0) * LABEL_CHAR  # the rotated names' height, below the panels
    with _drawing():
        fig = _figure(max(6.0, min(16.0, 0.16 * len(rows) + 3)), 1.0 + 2.1 * len(panels) + names)
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        x = range(len(rows))
        fig.suptitle(f"{report.title or report.name} — input {render.shape(report.input)}, {report.dtype}, "
                     f"batch {report.batch}", fontsize=10, parse_math=False)  # a spec's `$…$` is text
        for ax, panel in zip(axes, panels):
            if panel == "memory":
                values = [float(row.activations * report.itemsize * report.batch) for row in rows]
                ax.bar(x, values, color="#4c72b0", width=0.8)
                _log_scale(ax, values)
                ax.set_ylabel("bytes (log)")
                ax.set_title(f"Activation memory per layer — sum {format_bytes(report.totals.activation_bytes)}",
                             loc="left")
            elif panel == "params":
                params = [float(row.params) for row in rows]
                ax.bar(x, params, color="#dd8452", width=0.8)
                _log_scale(ax, params)
                ax.set_ylabel("parameters (log)")
                ax.set_title(f"Parameters per layer — total {render.count(report.totals.params)}", loc="left")
            else:
                _timeline(ax, report)
        axes[-1].set_xticks(list(x)[::step], labels[::step], rotation=90)
        axes[-1].set_xlim(-0.6, len(rows) - 0.4)
    return fig


def _timeline(ax: Any, report: Report) -> None:
    """Bytes alive after each layer at inference, and the peak (while a layer runs) marked."""
    rows = report.rows
    alive = [row.alive_bytes / MIB for row in rows]
    ax.step(range(len(rows)), alive, where="mid", color="#55a868", label="alive after the layer")
    ax.fill_between(range(len(rows)), alive, step="mid", color="#55a868", alpha=0.25)
    top = max(range(len(rows)), key=lambda i: rows[i].peak_bytes)
    peak = rows[top].peak_bytes
    ax.plot([top], [peak / MIB], marker="v", color="#c44e52", linestyle="none", label="peak (while the layer runs)")
    ax.annotate(f"peak {format_bytes(peak)} at {rows[top].name}", (top, peak / MIB), textcoords="offset points",
                xytext=(8, -4), color="#c44e52", fontsize=8)
    ax.set_ylim(0, peak / MIB * 1.15)
    ax.set_ylabel("MiB alive")
    ax.set_title("Inference memory, layer by layer (tensors alive, input included)", loc="left")
    ax.legend(loc="upper right", frameon=False)


def compare_figure(reports: list[Report]) -> Any:
    """Networks as points: MACs (x) against parameters (y), both log; marker area by activation memory."""
    mpl = matplotlib()
    with _drawing():
        fig = _figure(7.0, 5.0)
        ax = fig.subplots()
        largest = max(r.totals.activation_bytes for r in reports) or 1
        for r in reports:
            size = 40 + 1200 * r.totals.activation_bytes / largest
            point = (float(r.totals.macs), float(r.totals.params))
            ax.scatter(*point, s=size, alpha=0.55, color="#4c72b0", edgecolor="#27406b")
            ax.annotate(f"{r.name}\n{format_bytes(r.totals.activation_bytes)}", point,
                        textcoords="offset points", xytext=(7, 5), fontsize=8, parse_math=False)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.margins(0.25)
        counts = _counts(mpl)
        for axis in (ax.xaxis, ax.yaxis):  # every tick label, a decade's or between, as a count: 60.00M, 100.00M
            axis.set_major_formatter(counts())
            axis.set_minor_formatter(counts())
        ax.set_xlabel(f"MACs per sample ({MACS}, log)")
        ax.set_ylabel("parameters (log)")
        first = reports[0]
        ax.set_title(f"Networks compared: marker area ∝ activation memory ({first.dtype}, batch {first.batch})",
                     loc="left")
    return fig


def _counts(mpl: Any) -> type:
    """A log axis's tick labels as counts (format_count), on the ticks matplotlib would label: its own
    formatter decides which, archcalc's the text (matplotlib's writes a minor tick as 6×10⁷)."""

    class Counts(mpl.ticker.LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return format_count(int(x)) if super().__call__(x, pos) else ""

    return Counts


def save(fig: Any, path: str | Path) -> None:
    """Write the figure as PNG or SVG, by the file's suffix."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ArchcalcError(f"{path}: expected a file name ending in .png or .svg")
    with _drawing():
        fig.savefig(path, format=fmt, metadata=METADATA[fmt])


def svg_text(fig: Any) -> str:
    """The figure as an SVG element (no XML prolog), to place inline in HTML."""
    out = io.StringIO()
    with _drawing():
        fig.savefig(out, format="svg", metadata=METADATA["svg"])
    text = out.getvalue()
    return text[text.index("<svg"):]
