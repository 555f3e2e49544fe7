"""`explain`: the worked arithmetic of one layer, or the totals and layers of one block."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated, Optional

import click

from .. import render
from ..explain import Explained, explain, names
from ..errors import ArchcalcError
from ..literature import PAPER, PARTS, Korthikanti, korthikanti
from ..report import Report, Row
from ..safe import printable
from ..units import format_bytes
from .command import UsageError, argument, command, flag, option
from .common import AT, DTYPE, INPUT, NET, SYMBOLIC_BATCH, at_note, load_report
from .terminal import draw, out_console


@command("explain")
def explain_command(
    net: NET,
    layer: Annotated[Optional[str], argument("LAYER", "A row's name as `archcalc table` shows it at any --depth: a "
                                                      "layer such as conv1 or conv3_2, or a block such as layer1 "
                                                      "(none with --memory).", complete=complete_layers)] = None,
    input_shape: INPUT = None, at: AT = None, batch: SYMBOLIC_BATCH = None, dtype: DTYPE = "float32",
    memory: Annotated[bool, flag("--memory", help="Instead of a layer, the saved tensors of a training step at 16 "
                                                  "bits (precision bf16): per transformer layer beside Korthikanti et "
                                                  "al. 2022's closed forms (no, selective and full recomputation), "
                                                  "saying where and why they differ.")] = False,
    fmt: Annotated[str, option("--format", "-f", choices=("text", "json"),
                               help="text (the worked arithmetic) or json (the row, its inputs and formulas; a "
                                    "block's layers; with --memory the comparison, each part's formula and "
                                    "bytes).")] = "text",
) -> None:
    """The worked arithmetic of one layer: shape, parameters, MACs, memory, receptive field. For a block (any row
    `table --depth N` shows), its totals and the layers one level down. With a symbolic input (--input 3xNxN)
    each step is a formula in the sizes, as the notes derive by hand. With --memory, what a training step saves
    per transformer layer, beside the literature's formula.

    Examples: archcalc explain alexnet conv1 · archcalc explain resnet50-tv layer1 ·
    archcalc explain vgg16 fc6 --format json · archcalc explain alexnet pool1 --input 3xNxN ·
    archcalc explain gpt2 --memory · archcalc explain llama-3-8b --memory --input S --batch 4
    """
    if memory:
        _memory(net, layer, input_shape, at, batch, dtype, fmt)
        return
    if layer is None:
        raise UsageError("give a LAYER to explain (see `archcalc table` for the names), or --memory")
    network, report = load_report(net, batch, dtype, input_shape, at=at)
    found = explain(network, report, layer)
    if fmt == "json":
        sys.stdout.write(render.dumps(found.to_dict()) + "\n")
    elif found.depth is None:
        _layer(found)
        for line in at_note(at):
            out_console().print(f"  {line}", markup=False)
    else:
        _block(found)


def complete_layers(ctx: click.Context, incomplete: str) -> list[str]:
    """What completes LAYER: the names of the network's rows at every depth (nothing when the network is bad)."""
    try:
        _, report = load_report(ctx.params.get("net") or "")
    except (ArchcalcError, UsageError):
        return []
    return [name for name in names(report) if name.startswith(incomplete)]


def _layer(found: Explained) -> None:
    network, report, row, node, shapes = found.network, found.report, found.row, found.node, found.shapes
    console = out_console()
    console.print(printable(f"{network.name} · {row.name} — {node.kind} ({node.origin.path}, {node.origin.mark})"),
                  markup=False)
    lines = [
        ("input", ", ".join(f"{render.shape(shapes[i])} from {i}" for i in node.inputs), ""),
        ("output", render.shape(row.output), row.formulas.get("shape", "")),
        ("weights", "", row.formulas.get("weights", "")),
        ("params", render.count(row.params), row.formulas.get("params", "")),
        ("active params", render.count(row.active_params) if row.active_params != row.params else "",
         f"those one token uses: {node.experts.top} of the {node.experts.count} experts' copies" if node.experts else ""),
        ("buffers", render.count(row.buffers) if row.buffers else "", row.formulas.get("buffers", "")),
        ("MACs", render.count(row.macs), row.formulas.get("macs", "")),
        ("FLOPs", render.count(2 * row.macs), f"2 × MACs = {render.count(2 * row.macs)}" if row.macs else ""),
        ("memory", format_bytes(row.activations * report.itemsize * report.batch), row.formulas.get("memory", "")),
        ("receptive field", render.field(row.receptive_field), row.formulas.get("receptive_field", "")
         + f"; jump {render.field(row.jump)}"),
        _cache_line(row, report),
    ]
    for label, value, formula in lines:
        if value or formula:
            console.print(f"  {label:<16}{value:>14}   {formula}".rstrip(), markup=False)
    for note in row.flags:
        console.print(f"  ⚠ {note} (as PyTorch does; --strict makes it an error)", markup=False)


def _cache_line(row: Row, report: Report) -> tuple[str, str, str]:
    """An attention layer's KV cache: its formula in elements, then their bytes (the weights' type) per batch."""
    if not row.cache:
        return ("KV cache", "", "")
    size = row.cache * report.itemsize * report.batch
    return ("KV cache", format_bytes(size), f"{row.formulas.get('cache', render.count(row.cache))} × "
                                            f"{report.itemsize} B × batch {report.batch} = {render.count(size)} B")


def _block(found: Explained) -> None:
    """A block: its row at its depth (figures summed), then its rows one level down."""
    network, report, t, depth, inside, shapes = (found.network, found.report, found.row, found.depth, found.inside,
                                                 found.shapes)
    name = t.name
    console = out_console()
    console.print(f"{network.name} · {name} — a block of {t.layers} layers (`archcalc table {network.name} "
                  f"--depth {depth}` shows it as one row)", markup=False)
    lines = [
        ("input", ", ".join(f"{render.shape(shapes[i])} from {i}" for i in t.inputs)),
        ("output", render.shape(t.output)),
        ("params", render.count(t.params) + ("" if t.trainable_params == t.params
                                             else f" ({render.count(t.trainable_params)} trainable)")),
        ("active params", f"{render.count(t.active_params)} (those one token uses)" if t.active_params != t.params else ""),
        ("buffers", render.count(t.buffers) if t.buffers else ""),
        ("MACs", render.count(t.macs)),
        ("FLOPs", f"{render.count(2 * t.macs)} = 2 × MACs"),
        ("memory", f"{format_bytes(t.activations * report.itemsize * report.batch)} "
                   f"(the activation sum of its layers, {report.dtype}, batch {report.batch})"),
        ("receptive field", f"{render.field(t.receptive_field)} at its output; jump {render.field(t.jump)}"),
    ]
    for label, value in lines:
        if value:
            console.print(f"  {label:<16}{value}", markup=False)
    cells = render.grid(replace(report, rows=tuple(inside)))
    console.print(f"  its {len(inside)} row(s) one level down:", markup=False)
    draw(console, cells.headers, cells.right, cells.body)


def _memory(net: str, layer: str | None, input_shape: tuple | None, at: dict[str, int] | None, batch: object,
            dtype: str, fmt: str) -> None:
    """explain --memory: a training step's saved tensors at 16 bits, per transformer layer beside the paper's."""
    if layer is not None:
        raise UsageError("--memory explains the whole network's saved tensors: give no LAYER")
    if dtype != "float32":
        raise UsageError("--memory counts at 16 bits (precision bf16), as the paper does: give no --dtype")
    network, report = load_report(net, batch, "float32", input_shape, at=at, precision="bf16")
    found = korthikanti(report)
    if fmt == "json":
        sys.stdout.write(render.dumps({"network": network.name, "precision": "bf16", "batch": report.batch,
                                       "train_saved_bytes": report.totals.train_saved_bytes,
                                       "korthikanti": found and found.to_dict()}) + "\n")
        return
    console = out_console()
    console.print(f"{network.name}: a training step at 16 bits (precision bf16), batch {report.batch}, input "
                  f"{render.shape(report.input)}, saves {format_bytes(report.totals.train_saved_bytes)} for backward",
                  markup=False)
    if found is None:
        console.print("  not a stack of transformer layers (block instances each holding one attention, alike in "
                      f"width, heads and tokens): no comparison with {PAPER}", markup=False)
    else:
        _korthikanti(console, found)
    for line in at_note(at):
        console.print(f"  {line}", markup=False)


def _korthikanti(console: object, found: Korthikanti) -> None:
    """The paper's bytes of one layer beside the engine's, part by part, its three forms, and the notes."""
    names = [layer.name for layer in found.layers]
    shown = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
    console.print(f"  per transformer layer ({shown}: {len(names)}{' alike' if found.alike else ''}), s = "
                  f"{found.s} tokens, b = {found.b}, h = {found.h}, a = {found.a} heads; beside {PAPER}, "
                  "16 bits, t = 1 (no tensor parallelism):", markup=False)
    paper = found.paper()
    rows = [(part, paper[part][0], paper[part][1], found.engine[part]) for part in PARTS]
    total = found.forms()["no recomputation"]
    rows.append(("layer", total[0], total[1], sum(found.engine.values())))
    cells = [("", "paper", "paper bytes", "archcalc bytes")]
    cells += [(part, formula, format_bytes(theirs), format_bytes(mine)) for part, formula, theirs, mine in rows]
    widths = [max(len(cell[i]) for cell in cells) for i in range(4)]
    for part, formula, theirs, mine in cells:
        console.print(f"    {part:<{widths[0]}}  {formula:<{widths[1]}}  {theirs:>{widths[2]}}  {mine:>{widths[3]}}",
                      markup=False)
    for name, (formula, value) in list(found.forms().items())[1:]:
        console.print(f"    {name}: {formula} = {format_bytes(value)} per layer (the paper's)", markup=False)
    console.print("  where they differ:", markup=False)
    for note in found.notes():
        console.print(f"    - {note}", markup=False)
