"""`list`: the bundled networks, one line each."""

from __future__ import annotations

from rich.table import Table

from .. import catalog
from ..analysis import analyze
from .command import command
from .terminal import out_console


@command("list")
def list_networks() -> None:
    """List the bundled networks: parameters, MACs, input and source.

    Example: archcalc list
    """
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for header, right in (("Network", False), ("Params", True), ("MACs", True), ("Input", False), ("Source", False)):
        grid.add_column(header, justify="right" if right else "left", overflow="fold")
    for name in catalog.bundled():
        network = catalog.load(name)
        t = analyze(network).totals
        grid.add_row(name, f"{t.params:,}", f"{t.macs:,}", "×".join(map(str, network.input)), network.source)
    out_console().print(grid)
