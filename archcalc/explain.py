"""One row of a report explained: a layer (its inputs, and where the spec writes it), or a block (its figures
summed, and its rows one level down), as `archcalc explain` shows and writes it in JSON."""

from __future__ import annotations

from typing import Any, NamedTuple

from .errors import ArchcalcError, did_you_mean
from .ir import Layer, Network
from .report import Report, Row, as_text, fold, row_dict, tensor_shapes


class Explained(NamedTuple):
    network: Network
    report: Report
    row: Row  # the layer's row, or the block's (figures summed)
    depth: int | None = None  # a block: the depth at which `table --depth` shows it as one row; None: a layer
    inside: tuple[Row, ...] = ()  # a block's rows one level down

    @property
    def node(self) -> Layer | None:
        """The spec's layer (None for a block)."""
        if self.depth is not None:
            return None
        return next(n for n in self.network.layers if n.name == self.row.name)

    @property
    def shapes(self) -> dict[str, Any]:
        """The output shape of every row at the row's level (and of `input`): what its inputs are."""
        rows = self.report.rows if self.depth is None else fold(self.report, self.depth).rows
        return tensor_shapes(self.report.input, rows)

    def to_dict(self) -> dict[str, Any]:
        """`explain --format json`: the row as the JSON contract writes it; a layer's input shapes and where
        the spec writes it, or a block's layers one level down; a symbolic size's formulas as text, as in
        `table --format json`."""
        data = {"network": self.network.name, **row_dict(self.row)}
        if self.depth is not None:
            return as_text({**data, "layers": [row_dict(row) for row in self.inside]})
        node, shapes = self.node, self.shapes
        return as_text({**data, "input_shapes": {name: list(shapes[name]) for name in self.row.inputs},
                        "where": {"path": node.origin.path, "mark": str(node.origin.mark or "")}})


def names(report: Report) -> list[str]:
    """Every name `explain` takes: the layers, then the blocks they are in."""
    rows = [row.name for row in report.rows]
    return rows + sorted({".".join(n.split(".")[:k]) for n in rows for k in range(1, n.count(".") + 1)})


def explain(network: Network, report: Report, name: str) -> Explained:
    """The row `name` of the network's report: a layer, or a block (any row `table --depth N` shows)."""
    rows = {row.name: row for row in report.rows}
    if name in rows:
        return Explained(network, report, rows[name])
    depth = name.count(".") + 1
    blocks = {row.name: row for row in fold(report, depth).rows}
    if name not in blocks or not any(row.startswith(name + ".") for row in rows):
        raise ArchcalcError(f"{network.name} has no layer or block '{name}'{did_you_mean(name, names(report))}"
                            " (see `archcalc table` for the names, `--depth N` for blocks)")
    inside = tuple(row for row in fold(report, depth + 1).rows if row.name.startswith(name + "."))
    return Explained(network, report, blocks[name], depth, inside)
