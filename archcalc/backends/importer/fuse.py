"""The layers an import found, before they are built, and the fusion that writes them as a spec would:
a batch norm or an activation that is the only reader of a weighted layer's output becomes that layer's
`bn:` or `act:` (conv1 → bn1 → relu reads as `conv: {bn: true, act: relu}`), as a merge's activation
becomes its `act:`. The figures are the same either way but for the tensors a fused layer never writes
(the conv's output before its BN): the spec's, and PyTorch's when it runs in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...rules import RULES, Role

BN_TAKERS = ("conv", "convtranspose", "fc")  # kinds with a `bn:` argument


@dataclass
class Item:
    name: str
    kind: str
    args: dict[str, Any]
    inputs: list[str]


def fuse(items: list[Item]) -> list[Item]:
    """`items` with each bn and activation folded into the one layer it reads where it is that layer's only
    reader (references to a folded item then name the layer)."""
    readers: dict[str, int] = {}
    for item in items:
        for name in item.inputs:
            readers[name] = readers.get(name, 0) + 1
    by_name = {item.name: item for item in items}
    renamed: dict[str, str] = {}
    kept = []
    for item in items:
        item.inputs = [renamed.get(name, name) for name in item.inputs]
        source = by_name.get(item.inputs[0]) if len(item.inputs) == 1 else None
        if source is not None and readers.get(source.name, 0) == 1 and _folds(item, source):
            if item.kind == "bn":
                source.args["bn"] = True
            else:
                source.args["act"] = item.kind
            renamed[item.name] = source.name
            readers[source.name] = readers.pop(item.name, 0)
            continue
        kept.append(item)
    return kept


def _folds(item: Item, source: Item) -> bool:
    """Whether `item` (a bn of default momentum, an activation) can be `source`'s bn: or act:."""
    if item.kind == "bn":
        return (source.kind in BN_TAKERS and not source.args.get("bn") and source.args.get("act") is None
                and item.args.get("eps", 1e-5) == 1e-5)
    takes_act = RULES[source.kind].arg("act") is not None
    return RULES[item.kind].role is Role.ACTIVATION and takes_act and source.args.get("act") is None
