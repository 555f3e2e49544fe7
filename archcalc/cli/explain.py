"""`explain`: the worked arithmetic of one layer."""

from __future__ import annotations

from .. import render
from ..errors import ArchcalcError, did_you_mean
from ..units import format_bytes
from .command import argument, command
from .common import AT, DTYPE, INPUT, NET, SYMBOLIC_BATCH, load_report
from .terminal import out_console


@command("explain", NET,
         argument("layer", "LAYER", "The layer's name as `archcalc table` shows it, e.g. conv1 or conv3_2."),
         INPUT, AT, SYMBOLIC_BATCH, DTYPE)
def explain_command(net: str, layer: str, input_shape: tuple | None, at: dict[str, int] | None, batch: object,
                    dtype: str) -> None:
    """The worked arithmetic of one layer: shape, parameters, MACs, memory, receptive field.

    With a symbolic input (--input 3xNxN) each step is a formula in the sizes, as the notes derive by hand.

    Examples: archcalc explain alexnet conv1 · archcalc explain alexnet pool1 --input 3xNxN
    """
    network, report = load_report(net, batch, dtype, input_shape, at=at)
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
    for note in row.flags:
        console.print(f"  ⚠ {note} (as PyTorch does; --strict makes it an error)", markup=False)
