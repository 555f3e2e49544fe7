"""A network written back as a spec (`archcalc.dump`): flat YAML that loads to the same figures.

Every layer is one line in run order, under the name it has (a block's layers keep their dotted
names, `stage1.block1.conv1`; a name the reader would give anyway is left out), with `from:` only
where its input is not the layer before. Arguments are the layer's as written, the late ones
(`in_channels // 4`) evaluated at the network's input, and those at their default left out. Blocks
are not written back: a dumped network has the same layers and figures, but no block instances
(`--checkpoint every-block` finds none in it); a mixture of experts is, its body as a block (`expert1`).
`fold` writes them back, from the same pieces (`header`, `line`, `mixture` …).
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
from .ir import INPUT, Layer, Network
from .report import Row
from .rules import RULES, Rule
from .symbolic import is_symbolic

_LISTS = ("ints", "ints0", "shape")  # list arguments, which a shorthand value may be


def dump(network: Network) -> str:
    """The spec of `network` as YAML text, flat (see the module's doc); `archcalc.load` reads it back."""
    rows = analyze(network).rows
    counts: Counter = Counter()
    items, previous = [], INPUT
    bodies: dict[str, list[str]] = {}  # the bodies of mixtures of experts, as blocks: name → lines
    index = 0
    while index < len(network.layers):
        layer, row = network.layers[index], rows[index]
        counts[layer.kind] += 1
        if layer.kind == "moe":  # a mixture: its router, its body (written as a block), its combine (made again)
            item, index = mixture(network.layers, rows, index, bodies)
        else:
            item = {layer.kind: written(layer, row)}
            if layer.name != f"{layer.kind}{counts[layer.kind]}":
                item["name"] = layer.name
        if layer.inputs != (previous,):
            item["from"] = layer.inputs[0] if len(layer.inputs) == 1 else list(layer.inputs)
        items.append(item)
        previous = network.layers[index].name
        index += 1
    return header(network) + blocks_text({name: {"layers": lines} for name, lines in bodies.items()}) + \
        "layers:\n" + "".join(f"  - {line(item)}\n" for item in items)


def header(network: Network) -> str:
    """A spec's top-level keys but its blocks and layers, as YAML text: names, reference, input, outputs, budget."""
    spec: dict[str, Any] = {"version": VERSION, "name": network.name}
    spec.update({key: getattr(network, key) for key in ("title", "source", "reference") if getattr(network, key)})
    spec["input"] = _input(network)
    if network.outputs:
        spec["outputs"] = list(network.outputs)
    if network.budget:
        spec["budget"] = dict(network.budget)
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)


def blocks_text(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """A spec's `blocks:` as YAML text, each block's `args` on one line and each of its layers on one (`line`);
    "" for none."""
    text = "".join(f"  {name}:\n" + (f"    args: {line(block['args'])}\n" if block.get("args") else "")
                   + "    layers:\n" + "".join(f"      - {layer}\n" for layer in block["layers"])
                   for name, block in blocks.items())
    return f"blocks:\n{text}" if text else ""


def mixture(layers: tuple[Layer, ...], rows: Any, index: int, bodies: dict[str, list[str]]) -> tuple[dict[str, Any], int]:
    """The mixture of experts whose router is `layers[index]` as one item, its body a block of `bodies` (added
    there unless an equal one is), and the index of its combine, the mixture's last layer. `rows` are the
    layers' rows (any value where no layer has late arguments)."""
    end = next(i for i in range(index, len(layers)) if layers[i].kind == "combine")
    name = layers[index].name.rpartition(".")[0]
    lines = _body(layers[index + 1:end], rows[index + 1:end], name)
    block = next((key for key, body in bodies.items() if body == lines), f"expert{len(bodies) + 1}")
    bodies[block] = lines
    return {"moe": {**written(layers[index], rows[index]), "body": block}, "name": name}, end


def written(layer: Layer, row: Row | None) -> Any:
    """A layer's arguments as written, the late ones (`in_channels // 4`) evaluated."""
    return _arguments(RULES[layer.kind], checked(layer, row), layer.name)


def checked(layer: Layer, row: Row | None) -> Mapping[str, Any]:
    """A layer's arguments, the late ones (`in_channels // 4`) evaluated by its row (None where it has none)."""
    return {**layer.args, **{key: row.args[key] for key in layer.late}} if layer.late else layer.args


def _body(layers: tuple[Layer, ...], rows: tuple[Row, ...], mixture: str) -> list[str]:
    """A mixture's body as its block's lines, names (and `from:`) relative to the mixture: the same body
    is the same lines in every mixture."""
    inside, router = f"{mixture}.experts.", f"{mixture}.router"

    def relative(name: str) -> str:
        return "router" if name == router else name[len(inside):]

    lines, previous = [], router
    for layer, row in zip(layers, rows):
        item: dict[str, Any] = {layer.kind: written(layer, row), "name": relative(layer.name)}
        if layer.inputs != (previous,):
            item["from"] = relative(layer.inputs[0]) if len(layer.inputs) == 1 else [relative(i) for i in layer.inputs]
        lines.append(line(item))
        previous = layer.name
    return lines


def line(item: Any) -> str:
    """One layer on one line, as a flow mapping: `{conv: {out: 64, k: 3}, name: conv1}`."""
    return yaml.safe_dump(item, sort_keys=False, default_flow_style=True, allow_unicode=True, width=1 << 20).strip()


def _arguments(rule: Rule, args: Mapping[str, Any], name: str) -> Any:
    """A layer's arguments as a spec writes them: those at their default left out, a lone shorthand bare."""
    return shorthand(rule, {arg.name: written_value(arg, args[arg.name], name) for arg in rule.args
                            if not at_default(arg, args[arg.name])})


def at_default(arg: Arg, checked: Any) -> bool:
    """Whether a checked value is the argument's default, which a spec leaves out."""
    return checked == (arg.default if arg.default is None else arg.check(arg.default))


def shorthand(rule: Rule, written: dict[str, Any]) -> Any:
    """Written arguments, a lone shorthand one bare: `fc: 1000`, `avgpool: global`."""
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


def written_value(arg: Arg, value: Any, name: str) -> Any:
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
