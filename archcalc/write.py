"""A network written back as a spec (`archcalc.dump`): flat YAML that loads to the same figures.

Every layer is one line in run order, under the name it has (a block's layers keep their dotted
names, `stage1.block1.conv1`; a name the reader would give anyway is left out), with `from:` only
where its input is not the layer before. Arguments are the layer's as written, the late ones
(`in_channels // 4`) evaluated at the network's input, and those at their default left out. Blocks
are not written back: a dumped network has the same layers and figures, but no block instances
(`--checkpoint every-block` finds none in it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import yaml

from .analysis import analyze
from .args import Arg
from .errors import ArchcalcError
from .expand import NAMED_INPUTS, VERSION
from .ir import INPUT, Network
from .rules import RULES, Rule
from .symbolic import is_symbolic

_LISTS = ("ints", "ints0", "shape")  # list arguments, which a shorthand value may be


def dump(network: Network) -> str:
    """The spec of `network` as YAML text, flat (see the module's doc); `archcalc.load` reads it back."""
    rows = analyze(network).rows
    counts: Counter = Counter()
    items, previous = [], INPUT
    for layer, row in zip(network.layers, rows):
        counts[layer.kind] += 1
        given = {**layer.args, **{key: row.args[key] for key in layer.late}}  # as written, the late ones evaluated
        item: dict[str, Any] = {layer.kind: _arguments(RULES[layer.kind], given, layer.name)}
        if layer.name != f"{layer.kind}{counts[layer.kind]}":
            item["name"] = layer.name
        if layer.inputs != (previous,):
            item["from"] = layer.inputs[0] if len(layer.inputs) == 1 else list(layer.inputs)
        items.append(item)
        previous = layer.name
    spec: dict[str, Any] = {"version": VERSION, "name": network.name}
    spec.update({key: getattr(network, key) for key in ("title", "source", "reference") if getattr(network, key)})
    spec["input"] = _input(network)
    if network.budget:
        spec["budget"] = dict(network.budget)
    head = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)
    return head + "layers:\n" + "".join(f"  - {_line(item)}\n" for item in items)


def _line(item: dict[str, Any]) -> str:
    """One layer on one line, as a flow mapping: `{conv: {out: 64, k: 3}, name: conv1}`."""
    return yaml.safe_dump(item, sort_keys=False, default_flow_style=True, allow_unicode=True, width=1 << 20).strip()


def _arguments(rule: Rule, args: Mapping[str, Any], name: str) -> Any:
    """A layer's arguments as a spec writes them: those at their default left out, a lone shorthand bare."""
    written = {arg.name: _value(arg, args[arg.name], name) for arg in rule.args
               if args[arg.name] != (arg.default if arg.default is None else arg.check(arg.default))}
    if len(written) == 1:
        (key, value), = written.items()
        arg = rule.arg(key)
        if arg.type == "bool" and value is True:
            return key  # `avgpool: global`
        if key == rule.shorthand and (not isinstance(value, list) or arg.type in _LISTS):
            return value  # `fc: 1000`
    return written


def _input(network: Network) -> list[Any] | dict[str, Any]:
    """The input as the spec gave it: a list, or the mapping that names its axes (a signal, C×L, has no list)."""
    sizes = [str(d) if is_symbolic(d) else d for d in network.input]
    if network.ids:
        return {"ids": sizes[0]}
    if network.input_axes is None:
        return sizes
    keys = next(names for names, axes in NAMED_INPUTS.items()
                if (axes, len(names)) == (network.input_axes, len(sizes)) and names != ("ids",))
    return dict(zip(keys, sizes))


def _value(arg: Arg, value: Any, name: str) -> Any:
    """A checked value as YAML writes it: one per axis, all alike, as one number; tuples as lists."""
    if is_symbolic(value) or (isinstance(value, tuple) and any(map(is_symbolic, _flat(value)))):
        raise ArchcalcError(f"cannot dump '{name}': its '{arg.name}' depends on the input's size ({value}); "
                            "dump the network at a concrete input")
    if arg.type in ("per_axis", "per_axis0", "pad") and isinstance(value, tuple) and value and len(set(value)) == 1:
        return value[0]
    if isinstance(value, tuple):
        return [list(item) if isinstance(item, tuple) else item for item in value]
    return value


def _flat(value: tuple) -> list[Any]:
    return [v for item in value for v in (item if isinstance(item, tuple) else (item,))]
