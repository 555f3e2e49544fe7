"""`list`, `table` and `explain`: one network, layer by layer."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import catalog, render
from ..analysis import analyze
from ..errors import ArchcalcError, did_you_mean
from ..report import fold
from ..units import format_bytes
from .common import BatchOpt, Dtype, DtypeOpt, Format, InputOpt, NetArg, StrictOpt, app, emit, load_report, out_console, reporting


@app.command("list")
def list_networks() -> None:
    """List the bundled networks: parameters, MACs, input and source.

    Example: archcalc list
    """
    console = out_console()
    with reporting():
        grid = Table(box=None, pad_edge=False, header_style="bold")
        for header, right in (("Network", False), ("Params", True), ("MACs", True), ("Input", False), ("Source", False)):
            grid.add_column(header, justify="right" if right else "left", overflow="fold")
        for name in catalog.bundled():
            network = catalog.load(name)
            t = analyze(network).totals
            grid.add_row(name, f"{t.params:,}", f"{t.macs:,}", "×".join(map(str, network.input)), network.source)
        console.print(grid)


@app.command("table")
def table_command(
    net: NetArg,
    input_text: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = Dtype("float32"),
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table (terminal), json, csv or markdown.")] = Format("table"),
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="Fold rows to this many levels of their dotted names, figures summed.", show_default=False)] = None,
    formulas: Annotated[bool, typer.Option("--formulas", help="Show the arithmetic behind each shape, parameter and MAC count.")] = False,
    strict: StrictOpt = False,
    memory: Annotated[bool, typer.Option("--memory", "-m", help="Add per-layer memory: Alive (inference bytes alive after the layer, a running total) and Saved (bytes autograd keeps for backward).")] = False,
) -> None:
    """One row per layer: output shape, parameters, MACs, activation memory, receptive field; totals below.

    Examples: archcalc table vgg16 · archcalc table alexnet --formulas ·
    archcalc table resnet50 --depth 1 --memory --batch 32 · archcalc table my.yaml --format json
    """
    with reporting():
        _, report = load_report(net, batch, dtype.value, input_text, strict)
        emit(fold(report, depth), fmt.value, formulas, memory)


@app.command("explain")
def explain_command(
    net: NetArg,
    layer: Annotated[str, typer.Argument(help="The layer's name as `archcalc table` shows it, e.g. conv1 or conv3_2.", show_default=False)],
    input_text: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: DtypeOpt = Dtype("float32"),
) -> None:
    """The worked arithmetic of one layer: shape, parameters, MACs, memory, receptive field.

    Example: archcalc explain alexnet conv1
    """
    with reporting():
        network, report = load_report(net, batch, dtype.value, input_text)
        rows = {row.name: row for row in report.rows}
        if layer not in rows:
            raise ArchcalcError(f"{network.name} has no layer '{layer}'{did_you_mean(layer, list(rows))}"
                                " (see `archcalc table` for the names)")
        node = next(n for n in network.layers if n.name == layer)
        inputs = [("input", report.input)] + [(r.name, r.output) for r in report.rows]
        shapes = dict(inputs)
        row = rows[layer]
        console = out_console()
        console.print(f"{network.name} · {layer} — {node.kind} ({node.origin.path}, {node.origin.mark})", markup=False)
        lines = [
            ("input", ", ".join(f"{render._shape(shapes[i])} from {i}" for i in node.inputs), ""),
            ("output", render._shape(row.output), row.formulas.get("shape", "")),
            ("weights", "", row.formulas.get("weights", "")),
            ("params", f"{row.params:,}", row.formulas.get("params", "")),
            ("buffers", f"{row.buffers:,}" if row.buffers else "", row.formulas.get("buffers", "")),
            ("MACs", f"{row.macs:,}", row.formulas.get("macs", "")),
            ("FLOPs", f"{2 * row.macs:,}", f"2 × MACs = {2 * row.macs:,}" if row.macs else ""),
            ("memory", format_bytes(row.activations * report.itemsize * report.batch), row.formulas.get("memory", "")),
            ("receptive field", render._rf(row.receptive_field), row.formulas.get("receptive_field", "")
             + f"; jump {render._rf(row.jump)}"),
        ]
        for label, value, formula in lines:
            if value or formula:
                console.print(f"  {label:<16}{value:>14}   {formula}".rstrip(), markup=False)
        for flag in row.flags:
            console.print(f"  ⚠ {flag} (as PyTorch does; --strict makes it an error)", markup=False)


