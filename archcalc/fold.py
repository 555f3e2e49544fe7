"""A flat network written as a readable spec: its repeated module subtrees as blocks with arguments.

A network whose layer names are module paths (`layer1.0.conv1`, as an imported model's are) is a tree of
names. A subtree can be a block instance when its layers run one after another and read one tensor from
outside it (the block's input, `from: in` inside it). Bottom-up, each such subtree is written as its items:
its layers, and the instances of blocks below it, each one line. Subtrees whose items are the same up to
their integers (channels, strides, repeat counts) are instances of one block: the integers that differ are
its arguments (one that is a multiple of another written as `out * 4`), those that agree are written in.
Equal items one after another, each reading the one before, are one item with `repeat:`. Every name the
spec expands to is the layer's own, so it loads back to the network's figures; `archcalc.dump` writes the
same network flat. The work is linear in the layers times the depth of their names.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import groupby
from typing import Any, NamedTuple

from .analysis import analyze
from .expand import BLOCK_INPUT, INT_TYPES, ITEM_KEYS, copy_name
from .ir import INPUT, Layer, Network, producer
from .late import SHAPE_NAMES
from .rules import RULES
from .write import at_default, blocks_text, checked, header, line, mixture, shorthand, written_value

_MAX_SEARCH = 64  # arguments of one block tried as a column's base (`out * 4`): bounds a wide block's cost
_TRAILING = re.compile(r"[0-9_\-]+$")  # bottleneck1 → bottleneck, encoder_layer_0 → encoder_layer


class Hole(NamedTuple):
    """An integer of an item where items are compared: `hint` names the argument it would become."""

    hint: str


class Unit(NamedTuple):
    """One layer, or a whole mixture of experts (router, body, combine), written as one item."""

    name: str
    kind: str
    args: dict[str, Any]  # every argument, as written (lists for tuples); a mixture's, its router's and body
    checked: Any  # the checked arguments, to leave defaults out
    inputs: tuple[str, ...]
    tie: str | None
    output: str  # the tensor it makes: its last layer


class Item(NamedTuple):
    """One item of a scope's `layers:`: a layer (`callee` its kind) or a block instance (the block's name)."""

    callee: str
    args: Any  # a layer: ((key, value), …) for every argument; a block instance: its arguments' values
    name: str | None  # relative to the scope; None: the name the expander gives anyway
    inputs: tuple[str, ...] | None  # relative to the scope (`in`: its input); None: the item before
    repeat: int
    suffixed: bool  # its copies are `name_1`, `name_2` …
    unit: int  # the index of its first unit: a layer's checked arguments


@dataclass
class Node:
    """A module path with units below it: where they are in run order, what they read from outside."""

    path: str
    first: int
    last: int = 0
    count: int = 0
    height: int = 0
    is_unit: bool = False  # a unit has this very name: it cannot also be a block instance
    entry: str | None = None  # the tensor it reads from outside
    many: bool = False  # it reads more than one tensor from outside, or ties a weight outside
    call: tuple[int, ...] = ()  # once an instance: its block's arguments
    block: str = ""  # once an instance: its block


@dataclass
class Block:
    """Subtrees with the same items: one block, its body the first one's items with the arguments in."""

    name: str
    items: list[Item]
    values: list[Any]  # for each integer of the items in order: a literal, an argument's name or an expression
    params: list[str]


def fold(network: Network, reference: str | None = None) -> str:
    """The spec of `network` as YAML text, its repeated subtrees as blocks (see the module's doc); `reference`
    names the model it describes (the network's own by default)."""
    return _Folder(network).text(network if reference is None else replace(network, reference=reference))


class _Folder:
    def __init__(self, network: Network):
        layers = network.layers
        rows: Any = analyze(network).rows if any(layer.late for layer in layers) else (None,) * len(layers)
        self.bodies: dict[str, list[str]] = {}  # mixtures' bodies, as blocks (see write.mixture)
        self.units: list[Unit] = []
        self.unit_of: dict[str, int] = {}  # layer name → index of its unit
        index = 0
        while index < len(layers):
            layer, end = layers[index], index
            if layer.kind == "moe":
                item, end = mixture(layers, rows, index, self.bodies)
                self.units.append(Unit(item["name"], "moe", item["moe"], None, layer.inputs, None, layers[end].name))
            else:
                self.units.append(_unit(layer, rows[index]))
            self.unit_of.update((layers[i].name, len(self.units) - 1) for i in range(index, end + 1))
            index = end + 1
        self.nodes = self._tree()
        self.blocks: dict[str, Block] = {}
        self._find_blocks()

    def _tree(self) -> dict[str, Node]:
        """Every proper prefix of a unit's name, with its units' span, height and outside inputs."""
        nodes: dict[str, Node] = {}
        ancestors = [_prefixes(unit.name) for unit in self.units]  # outermost first
        for index, paths in enumerate(ancestors):
            for depth, path in enumerate(paths):
                node = nodes.get(path) or nodes.setdefault(path, Node(path, index))
                node.last, node.count = index, node.count + 1
                node.height = max(node.height, len(paths) - depth)
        for index, unit in enumerate(self.units):
            if unit.name in nodes:
                nodes[unit.name].is_unit = True
            refs = [(tensor, False) for tensor in unit.inputs] + ([(unit.tie, True)] if unit.tie else [])
            for tensor, tie in refs:
                source = producer(tensor)
                inside = set() if source == INPUT else set(ancestors[self.unit_of[source]])
                for path in reversed(ancestors[index]):  # innermost first
                    if path in inside:
                        break  # made inside this ancestor, so inside all those above it
                    node = nodes[path]
                    node.many = node.many or tie or node.entry not in (None, tensor)
                    node.entry = tensor
        return nodes

    def _find_blocks(self) -> None:
        """Bottom-up, height by height: the subtrees that can be instances, grouped by their items."""
        candidates = sorted((node for node in self.nodes.values() if _can_be_instance(node)),
                            key=lambda node: (node.height, node.first))
        for _, level in groupby(candidates, key=lambda node: node.height):
            groups: dict[tuple, list[tuple[Node, list[Item], list[Any]]]] = {}
            for node in level:
                items = self._items(node)
                shape, ints = _shape(items, self.blocks)
                groups.setdefault(shape, []).append((node, items, ints))
            for members in groups.values():
                if len(members) > 1:
                    self._define(members)

    def _define(self, members: list[tuple[Node, list[Item], list[Any]]]) -> None:
        """One block for subtrees with the same items: each integer a literal where all agree, else an argument."""
        first, items, ints = members[0]
        columns = zip(*([value for _, value in ints] for _, _, ints in members))  # an integer across the subtrees
        values: list[Any] = []
        params: dict[tuple[int, ...], str] = {}  # a column → the argument that holds it
        words = _words(items)
        for (hole, _), column in zip(ints, columns):
            if len(set(column)) == 1:
                values.append(column[0])
            elif column in params:
                values.append(params[column])
            else:
                values.append(_derived(column, params) or _new_param(hole.hint, column, params, words))
        block = Block(_block_name(first.path, {*self.blocks, *self.bodies}), items, values, list(params.values()))
        self.blocks[block.name] = block
        for number, (node, _, _) in enumerate(members):
            node.block, node.call = block.name, tuple(column[number] for column in params)

    def _items(self, scope: Node | None) -> list[Item]:
        """The items of a scope (a block instance, or None: the network), its instances of blocks one each."""
        prefix = scope.path + "." if scope else ""
        start, stop = (scope.first, scope.last + 1) if scope else (0, len(self.units))
        previous = scope.entry if scope else INPUT
        items: list[Item] = []
        counts: Counter = Counter()
        index = start
        while index < stop:
            unit = self.units[index]
            instance = self._instance(unit.name, prefix)
            if instance is not None:
                callee, args, name, inputs = instance.block, instance.call, instance.path, (instance.entry,)
                output, after = self.units[instance.last].output, instance.last + 1
            else:
                callee, name, inputs, output, after = unit.kind, unit.name, unit.inputs, unit.output, index + 1
                args = tuple((key, _relative(value, scope, prefix) if key == "tie" and value else value)
                             for key, value in unit.args.items())
            counts[callee] += 1
            local = name[len(prefix):]
            items.append(Item(callee, args, None if local == f"{callee}{counts[callee]}" else local,
                              None if inputs == (previous,) else tuple(_relative(t, scope, prefix) for t in inputs),
                              1, False, index))
            previous, index = output, after
        return _repeats(items)

    def _instance(self, name: str, prefix: str) -> Node | None:
        """The outermost block instance holding the unit `name` inside the scope of `prefix`, if any."""
        parts = name[len(prefix):].split(".")
        for depth in range(1, len(parts)):
            node = self.nodes[prefix + ".".join(parts[:depth])]
            if node.block:
                return node
        return None

    def text(self, network: Network) -> str:
        """The spec: its header, its blocks (those of mixtures first, then from the innermost out), its layers."""
        blocks = {name: {"layers": lines} for name, lines in self.bodies.items()}
        for block in self.blocks.values():
            values = iter(block.values)
            blocks[block.name] = {"args": block.params,
                                  "layers": [self._line(item, values) for item in block.items]}
        literal = iter(())  # outside blocks every integer is written as it is
        return header(network) + blocks_text(blocks) + "layers:\n" + "".join(
            f"  - {self._line(item, literal)}\n" for item in self._items(None))

    def _line(self, item: Item, values: Any) -> str:
        """An item as one line, each integer taken from `values` (a block's) where it has any (see `_shape`)."""
        if item.callee in self.blocks:
            args: Any = [_filled(value, values) for value in item.args] or None
        else:
            rule, unit = RULES[item.callee], self.units[item.unit]
            filled = {key: _filled(value, values) if key in _integer_args(item.callee) else value
                      for key, value in item.args}
            named = {key for key, value in item.args if filled[key] != value}  # holding a block's argument
            kept = {key: value for key, value in filled.items()
                    if unit.checked is None or key in named or not at_default(rule.arg(key), unit.checked[key])}
            args = kept if named or unit.checked is None else shorthand(rule, kept)
        written: dict[str, Any] = {item.callee: args}
        if item.name is not None:
            written["name"] = item.name
        if item.inputs is not None:
            written["from"] = item.inputs[0] if len(item.inputs) == 1 else list(item.inputs)
        repeat = _filled(item.repeat, values)
        if repeat != 1 or item.suffixed:
            written["repeat"] = repeat
        return line(written)


def _unit(layer: Layer, row: Any) -> Unit:
    rule, args = RULES[layer.kind], checked(layer, row)
    values = {arg.name: written_value(arg, args[arg.name], layer.name) for arg in rule.args}
    return Unit(layer.name, layer.kind, values, args, layer.inputs, args.get("tie"), layer.name)


def _prefixes(name: str) -> list[str]:
    """The proper prefixes of a dotted name, outermost first: `a`, `a.b` of `a.b.c`."""
    found, at = [], name.find(".")
    while at >= 0:
        found.append(name[:at])
        at = name.find(".", at + 1)
    return found


def _can_be_instance(node: Node) -> bool:
    """Whether a subtree can be a block instance: two units or more, one after another, one input from outside."""
    return (not node.is_unit and node.count > 1 and node.last - node.first + 1 == node.count
            and not node.many and node.entry is not None)


def _relative(tensor: str, scope: Node | None, prefix: str) -> str:
    """A tensor as an item in the scope names it: `in` for the scope's input, else its name there."""
    if scope is not None and tensor == scope.entry:
        return BLOCK_INPUT
    return tensor[len(prefix):]


def _repeats(items: list[Item]) -> list[Item]:
    """Equal items, each reading the one before and named as the copies of one repeated item, made that item."""
    out: list[Item] = []
    for item in items:
        run = out[-1] if out else None
        if run is not None and item.inputs is None and (item.callee, item.args) == (run.callee, run.args) \
                and (named := _copies(run, item.name)) is not None:
            out[-1] = run._replace(name=named[0], repeat=run.repeat + 1, suffixed=named[1])
        else:
            out.append(item)
    return out


def _copies(run: Item, name: str | None) -> tuple[str | None, bool] | None:
    """The name and numbering of a repeated item whose copies are `run`'s and then one named `name`
    (`expand.copy_name`), or None where no repeated item is named so."""
    if run.name is None or name is None:
        return (None, False) if run.name is name else None
    bases = ([run.name[:-2]] if run.repeat == 1 and run.name.endswith("_1") else []) + [run.name]
    for base in bases:
        if (run.repeat > 1 or copy_name(base, 0) == run.name) and copy_name(base, run.repeat) == name:
            return base, copy_name(base, 0) != base
    return None


def _shape(items: list[Item], blocks: dict[str, Block]) -> tuple[tuple, list[Any]]:
    """Items with every integer a Hole (what subtrees share to be one block), and those integers in order,
    each with its hint: `(Hole, value)`."""
    ints: list[Any] = []

    def holes(value: Any, hint: str) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            ints.append((Hole(hint), value))
            return Hole(hint)
        if isinstance(value, list):
            return tuple(holes(v, hint) for v in value)
        return value

    shape = []
    for item in items:
        if item.callee in blocks:
            args: Any = tuple(holes(value, hint) for value, hint in zip(item.args, blocks[item.callee].params))
        else:
            integers = _integer_args(item.callee)
            args = tuple((key, holes(value, key) if key in integers else _frozen(value)) for key, value in item.args)
        shape.append((item.callee, args, item.name, item.inputs, holes(item.repeat, "n"), item.suffixed))
    return tuple(shape), ints


@lru_cache(maxsize=None)
def _integer_args(kind: str) -> frozenset[str]:
    """The arguments of a kind that take integers, which a block's arguments may fill."""
    return frozenset(arg.name for arg in RULES[kind].args if arg.type in INT_TYPES)


def _frozen(value: Any) -> Any:
    return tuple(map(_frozen, value)) if isinstance(value, list) else value


def _derived(column: tuple[int, ...], params: dict[tuple, str]) -> str | None:
    """A column as an expression of an argument's, `out * 4` or `out // 2`, where one is exactly."""
    for base, name in list(params.items())[:_MAX_SEARCH]:
        if all(b != 0 and v % b == 0 for b, v in zip(base, column)) and len({v // b for b, v in zip(base, column)}) == 1:
            factor = column[0] // base[0]
            if factor > 1:
                return f"{name} * {factor}"
        if all(v != 0 and b % v == 0 for b, v in zip(base, column)) and len({b // v for b, v in zip(base, column)}) == 1:
            factor = base[0] // column[0]
            if factor > 1:
                return f"{name} // {factor}"
    return None


def _new_param(hint: str, column: tuple[int, ...], params: dict[tuple, str], words: set[str]) -> str:
    """A new argument for a column, named after the argument it fills (`out`, `out2` …)."""
    base = hint if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", hint) else "arg"
    name, number = base, 2
    while name in params.values() or name in words:
        name, number = f"{base}{number}", number + 1
    params[column] = name
    return name


def _words(items: list[Item]) -> set[str]:
    """The words an item's arguments hold (an activation, `same`, a layer's name): no argument may take one."""
    found: set[str] = {BLOCK_INPUT, *SHAPE_NAMES}

    def visit(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)

    for item in items:
        if item.callee in RULES:
            visit([value for _, value in item.args])
    return found


def _filled(value: Any, values: Any) -> Any:
    """An item's value with each integer the block's value in its place: a literal, an argument or an expression
    (in the order `_shape` found them; the integer itself outside blocks)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return next(values, value)
    if isinstance(value, list):
        return [_filled(v, values) for v in value]
    return value


def _block_name(path: str, taken: set[str]) -> str:
    """A block's name from its first instance's: `bottleneck1` → `bottleneck`; a number's → `block`."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", _TRAILING.sub("", path.rpartition(".")[2]))
    if not base or base[0].isdigit():
        base = "block"
    if base in RULES or base in ITEM_KEYS or base == BLOCK_INPUT:
        base += "_block"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    return name
