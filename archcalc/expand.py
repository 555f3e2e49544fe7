"""Spec data → graph IR: blocks, repeats, branches, references and expressions.

Every layer item is a mapping with one kind key (a rule from the table or a
block of the spec) and optional `name`, `repeat` and `from`. Blocks are
parameterised sub-networks whose body is `layers:` (in sequence) or
`add:` / `concat:` / `mul:` (branches merged by sum, channel concatenation
or product); inside one, `in_channels` and `in_features` name dimensions of
its input, kept as late arguments for the analysis (see `late`).
Names are hierarchical: a block instance or branch opens a scope, and an
unnamed layer is called after its kind and its count in that scope (conv3);
a named layer that repeats is numbered as the papers do (conv3_1, conv3_2).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, NamedTuple

from . import expr
from .errors import Mark, SpecError, SpecErrors, collect, did_you_mean, each_error, unknown
from .ir import HOLE, INPUT, LIST_AXES, SEQUENCE, SIZE_SYMBOLS, Experts, LateArg, Layer, Network, Origin, producer
from .late import SHAPE_NAMES, Late, TensorDim, is_late
from .symbolic import Expr
from .rules import RULES, Inputs, Role, Rule, kinds
from .safe import printable
from .source import Date, YList, YMap, describe, mark_of, shorten

VERSION = 1
TOP_KEYS = ("version", "name", "title", "source", "reference", "input", "vars", "blocks", "layers", "outputs", "budget")
ITEM_KEYS = ("name", "repeat", "from")
BLOCK_BODIES = ("layers", *kinds(Role.MERGE))  # in sequence, or branches merged by one of the merges
BLOCK_KEYS = ("args", *BLOCK_BODIES, "act", "doc")
MAX_REPEAT = 10_000
MAX_LAYERS = 5_000  # twice ResNet-1202 (2,404); the analysis takes some 40 µs a layer, check may run it twice
MAX_STEPS = 25_000  # items, copies and branches visited: bounds repeats of blocks that add no layer
MAX_EDGES = 20_000  # inputs of all layers together, `from:` lists included (ResNet-1202: 3,004); a merge's
# rule, formula and memory model take time in its inputs, so edges, not layers, bound a wide network's cost
MAX_NAME = 200  # characters of a layer's full name (bundled specs: ≤ 52); with MAX_LAYERS, bounds every output
# one line each, shown by every command; a reference `transformers:CONFIG(…)` holds up to 1,000 characters of options
MAX_TEXT = {"name": 100, "title": 300, "source": 300, "reference": 1200}
MAX_NESTING = 32  # block instances and branches inside one another (bundled specs: 3)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")
# a layer's or block instance's name may have dots, as a flattened network's names have (archcalc.dump)
_LAYER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*")
_OUTPUT = re.compile(r"[0-9]{1,6}")  # the number of an output: `split1:0`
_INT_TYPES = ("int", "pos", "per_axis", "per_axis0", "pad", "table", "ints", "ints0", "shape", "index")
_LIST_TYPES = ("ints", "ints0", "shape")  # a shorthand value may be a list only for these


@dataclass
class Scope:
    """Names visible while expanding one block instance or branch."""

    prefix: str  # "stage2.bottleneck1." — prepended to every layer name inside
    names: dict[str, Any]  # block arguments and vars, for expressions
    blocks: tuple[str, ...] = ()  # blocks being expanded, outermost first (cycle check)
    counts: Counter = field(default_factory=Counter)
    instance: str = ""  # the innermost block instance this scope is in (a branch stays in its block's)

    def child(self, local: str, names: dict[str, Any] | None = None, block: str | None = None) -> Scope:
        return Scope(self.prefix + local + ".", self.names if names is None else names,
                     self.blocks + ((block,) if block else ()),
                     instance=self.prefix + local if block else self.instance)


class Limits(NamedTuple):
    """How far a network may expand: layers, connections and expansion steps (see MAX_LAYERS and the rest)."""

    layers: int
    edges: int
    steps: int


FILE_LIMITS = Limits(MAX_LAYERS, MAX_EDGES, MAX_STEPS)  # a spec file, YAML text: a stranger's, maybe
# Python data (a mapping, a Builder): a real model written by a program, past any published network
# (ResNet-1202 flat: 2,404 layers) and still bounded, some 4 s of analysis at 100,000 layers
PROGRAM_LIMITS = Limits(100_000, 400_000, 500_000)


def build(data: Any, file: str, default_name: str, limits: Limits = FILE_LIMITS,
          found: list[SpecError] | None = None) -> Network:
    """Check a loaded spec and expand it into a Network.

    With `found`, the errors that leave the rest of the spec readable (unknown keys, kinds and budget keys, a
    layer item that cannot be expanded) are collected there instead of the first raised: a key is skipped, an
    item becomes a hole (`HOLE`) that the layers after it read and the analysis passes over (archcalc check).
    """
    names = spec_vars(data, file, found)
    network = header(data, file, default_name, found)
    expander = Expander(file, read_blocks(data.get("blocks"), mark_of(data, "blocks"), found), names, limits, found)
    layers = data["layers"]
    if not isinstance(layers, YList) or not layers:
        raise SpecError(f"'layers' must be a non-empty list of layers; received {describe(layers)}", mark_of(data, "layers"))
    expander.sequence(layers, top_scope(names), INPUT, "layers", mark_of(data, "layers"))
    if found and not expander.layers:  # every item failed: those are the findings
        raise SpecErrors(found)
    if not expander.layers:
        raise SpecError("the network has no layers once expanded (is every repeat 0?)", mark_of(data, "layers"))
    outputs = data.get("outputs")
    found_outputs = () if outputs is None else expander.resolve(outputs, top_scope(names),
                                                                mark_of(data, "outputs") or data.mark, "outputs", "outputs")
    holes = (HOLE,) if expander.holes else ()  # what the network lacks is one of its outputs: nothing is complete
    return replace(network, layers=tuple(expander.layers),
                   outputs=tuple(dict.fromkeys((*(producer(name) for name in found_outputs), *holes))))


def spec_vars(data: Any, file: str, found: list[SpecError] | None = None) -> dict[str, Any]:
    """The spec's `vars`, once its top-level keys and version are checked, and that it has `input` and `layers`."""
    if not isinstance(data, YMap):
        raise SpecError(f"a spec is a mapping with 'input' and 'layers'; received {describe(data)}",
                        mark_of(data) or Mark(file, 1, 1))
    _check_keys(data, TOP_KEYS, "top-level key", "", found)
    for required in ("input", "layers"):
        if required not in data:
            raise SpecError(f"missing '{required}' (a spec needs input: [C, H, W] and layers: [...])", data.mark)
    version = data.get("version", VERSION)
    if version != VERSION:
        raise SpecError(f"unsupported spec version {shorten(repr(version))}; this archcalc reads version {VERSION}",
                        mark_of(data, "version"))
    return _vars(data.get("vars", YMap()), mark_of(data, "vars"))


def header(data: YMap, file: str, default_name: str, found: list[SpecError] | None = None) -> Network:
    """The network a spec's top-level keys describe, without its layers: texts, input, budget."""
    texts = {key: _text(data, key, default)
             for key, default in (("name", printable(default_name)), ("title", ""), ("source", ""), ("reference", ""))}
    sizes, axes = _input(data)
    value = data["input"]
    return Network(texts["name"], texts["title"], texts["source"], sizes, (), file,
                   _budget(data.get("budget"), mark_of(data, "budget"), found), texts["reference"], axes,
                   ids=isinstance(value, YMap) and set(value) == {"ids"})


def top_scope(names: dict[str, Any]) -> Scope:
    """The scope of a spec's top-level layers: its vars, and `in_channels` and `in_features` of the input."""
    return Scope("", {**names, **_shape_names(INPUT)})


def _check_keys(mapping: YMap, known: tuple[str, ...], what: str, path: str, found: list[SpecError] | None) -> None:
    collect([SpecError(unknown(what, key, known), mapping.key_marks[key], path) for key in mapping if key not in known],
            found)


def _text(data: YMap, key: str, default: str) -> str:
    """A one-line text of the spec (name, title, source, reference), shown by every command: printable,
    bounded, and with what a CI log would read as a workflow command escaped (see `safe`)."""
    value = data.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"expected text for '{key}'; received {describe(value)}", mark_of(data, key))
    if not value.isprintable() or len(value) > MAX_TEXT[key] or (key == "name" and not value.strip()):
        raise SpecError(f"'{key}' must be one line of printable text of {'1 to' if key == 'name' else 'at most'} "
                        f"{MAX_TEXT[key]} characters (no control characters, line breaks or escape sequences); "
                        f"received {describe(value)}", mark_of(data, key))
    return printable(value)


# The named forms of an input: the spatial axes each has. A list is read by its length ([features],
# [N, D] tokens, [C, H, W], [C, T, H, W]); a one-dimensional map [C, L] has to be named, as two items are tokens.
NAMED_INPUTS = {
    ("ids",): 0,  # a sequence of S token ids (int64), read by an embedding
    ("features",): 0,
    ("tokens", "dim"): 0,
    ("channels", "length"): 1,
    ("channels", "height", "width"): 2,
    ("channels", "frames", "height", "width"): 3,
}
MAX_INPUT = 10**6
INPUT_EXPECTED = ("expected input: [C, H, W], [C, T, H, W], [N, D] tokens, [features], {ids: S} token ids or a mapping "
                  "naming the axes ({channels: 1, length: 16000}) of positive integers, spatial sizes possibly the symbols H, W, N, T or L, "
                  "a token sequence's length the symbol S")


def _input(data: YMap) -> tuple[tuple[int | Expr, ...], int | None]:
    """The input's sizes and, when named, its spatial axes: a list [C, H, W], [C, T, H, W] (or [N, D] tokens,
    or [features]), or a mapping naming each axis ({channels: 1, length: 16000}); the spatial sizes may be
    the symbols H, W, N (a square side), T or L, and a token sequence's length the symbol S ([S, 768])."""
    value = data["input"]
    if isinstance(value, YMap):
        keys = next((names for names in NAMED_INPUTS if set(names) == set(value)), None)
        sizes = [value[k] for k in keys] if keys else []
        axes = NAMED_INPUTS[keys] if keys else None
    else:
        keys, sizes = None, value
        axes = LIST_AXES.get(len(value), 0) if isinstance(value, list) else None
    ok = isinstance(sizes, list) and 1 <= len(sizes) <= 4 and axes is not None and all(
        (isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INPUT)
        or _symbol_fits(v, i, axes, len(sizes) == 2 or keys == ("ids",)) for i, v in enumerate(sizes))
    if not ok:
        raise SpecError(f"{INPUT_EXPECTED}; received {describe(value)}"
                        + (f" {shorten(str(list(value)))}" if isinstance(value, list) else ""), mark_of(data, "input"))
    return tuple(Expr.var(v) if isinstance(v, str) else v for v in sizes), axes if keys else None


def _symbol_fits(value: Any, axis: int, spatial: int, sequence: bool) -> bool:
    """Whether `value` is a symbol the input may have on `axis`: a spatial size (H, W, N, T, L) on a spatial
    axis, or the sequence length S on the first axis of a `sequence` (tokens [S, D], or token ids {ids: S})."""
    if axis > 0 and spatial > 0:
        return value in SIZE_SYMBOLS
    return value == SEQUENCE and axis == 0 and spatial == 0 and sequence


def _vars(data: Any, mark: Mark | None) -> dict[str, Any]:
    if not isinstance(data, YMap):
        raise SpecError(f"'vars' must map names to integers; received {describe(data)}", mark)
    names: dict[str, Any] = {}
    for key, value in data.items():
        _not_reserved(key, data.key_marks[key], f"vars.{key}")
        names[key] = _integer(value, names, mark_of(data, key), f"vars.{key}")
    return names


def _shape_names(tensor: str) -> dict[str, TensorDim]:
    """`in_channels` and `in_features`, bound to the dimensions of `tensor` (a block's input)."""
    return {name: TensorDim(tensor, axis) for name, axis in SHAPE_NAMES.items()}


def _not_reserved(name: str, mark: Mark | None, path: str) -> None:
    if name in SHAPE_NAMES:
        raise SpecError(f"'{name}' is reserved: inside a block it is the block input's "
                        f"{'channels' if SHAPE_NAMES[name] == 0 else 'last dimension'}", mark, path)


def _budget(data: Any, mark: Mark | None, found: list[SpecError] | None) -> YMap:
    """The spec's own budget, its values checked and in plain units (bytes, counts); marks kept."""
    if data is None:
        return YMap()
    from .budget import read_budget  # only a spec with a budget pays for the budget module (startup)

    return read_budget(data, mark, "budget", found)


def read_blocks(data: Any, mark: Mark | None, found: list[SpecError] | None = None) -> dict[str, YMap]:
    """A spec's `blocks:` (name → definition), each checked: its name, keys, one body and its args."""
    if data is None:
        return {}
    if not isinstance(data, YMap):
        raise SpecError(f"'blocks' must map block names to definitions; received {describe(data)}", mark_of(data) or mark)
    for name, block in data.items():
        path = f"blocks.{name}"
        if not _NAME.fullmatch(name):
            raise SpecError(f"a block's name is letters, digits, '_' or '-'; received {describe(name)}",
                            data.key_marks[name], path)
        if name in RULES:
            raise SpecError(f"block '{name}' has the name of a layer kind; rename it", data.key_marks[name], path)
        if not isinstance(block, YMap):
            raise SpecError(f"a block is a mapping with args and layers (or {' / '.join(BLOCK_BODIES[1:])}); "
                            f"received {describe(block)}", mark_of(data, name), path)
        _check_keys(block, BLOCK_KEYS, "block key", path, found)
        bodies = [key for key in BLOCK_BODIES if key in block]
        if len(bodies) != 1:
            raise SpecError(f"a block needs exactly one of {', '.join(BLOCK_BODIES)}", block.mark, path)
        args = block.get("args", YList())
        if not isinstance(args, list) or not all(isinstance(a, str) and _NAME.fullmatch(a) for a in args):
            raise SpecError(f"'args' must be a list of argument names; received {describe(args)}", mark_of(block, "args"), path)
        for arg in args:
            _not_reserved(arg, mark_of(block, "args"), path)
    return dict(data)


def _integer(value: Any, names: dict[str, Any], mark: Mark | None, path: str) -> int | Late:
    """An integer, or an expression of names bound to integers (Late when some stand for tensor dimensions)."""
    if isinstance(value, Date):
        raise SpecError(f"expected an integer or an expression; received '{shorten(value)}', a date to YAML "
                        "(as an expression it would be a subtraction); write the number", mark, path)
    if isinstance(value, str):
        try:
            used = expr.names(value)
            waiting = {name: names[name] for name in used if name in names and is_late(names[name])}
            if waiting:
                unknown_names = sorted(used - set(names))
                if unknown_names:  # what evaluate would say, said now rather than at analysis
                    raise expr.ExprError(f"unknown name '{unknown_names[0]}'")
                return Late(value, {name: names[name] for name in used})
            ints = {k: v for k, v in names.items() if isinstance(v, int) and not isinstance(v, bool)}
            return expr.evaluate(value, ints)
        except expr.ExprError as err:
            raise SpecError(f"in '{shorten(value)}': {err}", mark, path) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"expected an integer or an expression; received {describe(value)}", mark, path)
    return value


class Expander:
    """Walks layer items, appending primitive Layers in run order."""

    def __init__(self, file: str, blocks: dict[str, YMap], names: dict[str, Any], limits: Limits = FILE_LIMITS,
                 found: list[SpecError] | None = None):
        self.file, self.blocks, self.top_names, self.limits, self.found = file, blocks, names, limits, found
        self.layers: list[Layer] = []
        self.outputs: dict[str, str] = {INPUT: INPUT}  # name (layer, block or branch) → layer producing it
        self.steps = 0
        self.edges = 0
        self.interned: dict[tuple, MappingProxyType] = {}  # equal arguments share one mapping (see analysis)
        self.read: dict[tuple, tuple] = {}  # an item's arguments, read once per scope
        self.in_mixture = False  # expanding a moe's body
        self.holes = 0  # items a collecting expansion could not expand

    def step(self, mark: Mark | None, path: str) -> None:
        """Count one unit of expansion work; refuse a spec that needs too many."""
        self.steps += 1
        if self.steps > self.limits.steps:
            raise SpecError(f"network expansion takes more than {self.limits.steps:,} steps (items, repeats and branches)", mark, path)

    def sequence(self, items: Any, scope: Scope, current: str, path: str, mark: Mark | None) -> str:
        if isinstance(items, YMap):
            items = [items]  # a branch of one layer may skip the list
        if not isinstance(items, list):
            raise SpecError(f"expected a list of layers; received {describe(items)}", mark_of(items) or mark, path)
        for index, item in enumerate(items):
            current = self.item(item, scope, current, f"{path}[{index}]", mark_of(items, index))
        return current

    def item(self, item: Any, scope: Scope, current: str, path: str, mark: Mark | None) -> str:
        """The item expanded, its output's name; collecting (`found`), an item that fails is a hole instead."""
        if self.found is None:
            return self.expand_item(item, scope, current, path, mark)
        try:
            return self.expand_item(item, scope, current, path, mark)
        except SpecError as err:
            if self.exhausted():  # a limit stops the expansion: going on would cost what the limit bounds
                raise
            self.found.extend(each_error(err))
            self.holes += 1
            name = _given_name(item)
            if name is not None:  # `from: name` reads the hole: not a second finding
                self.outputs.setdefault(scope.prefix + name, HOLE)
            return HOLE

    def exhausted(self) -> bool:
        limits = self.limits
        return self.steps > limits.steps or len(self.layers) >= limits.layers or self.edges > limits.edges

    def expand_item(self, item: Any, scope: Scope, current: str, path: str, mark: Mark | None) -> str:
        if not isinstance(item, YMap):
            raise SpecError(f"a layer is a mapping like '- conv: {{out: 64, k: 3}}'; received {describe(item)}", mark, path)
        kinds = [key for key in item if key not in ITEM_KEYS]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise SpecError(f"a layer needs exactly one kind (a layer kind or a block); found {found}", item.mark, path)
        kind = kinds[0]
        path = f"{path}.{kind}"
        value = item[kind]
        name, refs = item.get("name"), item.get("from")
        for key in ("name", "from"):
            if isinstance(value, YMap) and key in value:
                if key in item:
                    raise SpecError(f"'{key}' given twice, on the layer and in its arguments", value.key_marks[key], path)
                name, refs = (value[key], refs) if key == "name" else (name, value[key])
        repeat = _integer(item.get("repeat", 1), scope.names, mark_of(item, "repeat"), path)
        if is_late(repeat):
            raise SpecError("repeat cannot depend on tensor shapes (in_channels, in_features)", mark_of(item, "repeat"), path)
        if not 0 <= repeat <= MAX_REPEAT:
            raise SpecError(f"repeat must be between 0 and {MAX_REPEAT:,}; received {repeat}", mark_of(item, "repeat"), path)
        if name is not None and (not isinstance(name, str) or not _LAYER_NAME.fullmatch(name)):
            raise SpecError(f"a name is letters, digits, '_' or '-', in parts joined by dots (stage1.conv1); "
                            f"received {describe(name)}", mark_of(item, "name"), path)
        inputs = (current,) if refs is None else self.resolve(refs, scope, mark_of(item, "from") or item.mark, path)
        self.step(item.mark, path)
        for copy in range(repeat):
            self.step(item.mark, path)
            local = f"{name}_{copy + 1}" if name is not None and "repeat" in item else name
            current = self.one(kind, value, scope, inputs, local, path, item.mark)
            inputs = (current,)
        return current

    def one(self, kind: str, value: Any, scope: Scope, inputs: tuple[str, ...], local: str | None, path: str, mark: Mark) -> str:
        if kind == "moe":
            return self.mixture(value, scope, inputs, local, path, mark)
        if kind == "combine":
            raise SpecError("combine is made by moe (the weighted sum of its experts' outputs); "
                            "write moe: {experts: E, top: k, body: BLOCK}", mark, path)
        if kind in RULES:
            rule = RULES[kind]
            if rule.inputs is Inputs.MANY and isinstance(value, list):  # its branches named inside it
                return self.branches(kind, value, scope, inputs, local, path, {}, mark, inside=True)
            return self.layer(rule, value, scope, inputs, local, path, mark)
        if kind in self.blocks:
            return self.block(kind, value, scope, inputs, local, path, mark)
        known = [*RULES, *self.blocks]
        raise SpecError(unknown("layer kind", kind, known), mark, path)

    def claim(self, scope: Scope, kind: str, local: str | None, mark: Mark, path: str) -> str:
        """A fresh full name in this scope: the given one, or kind + its ordinal among its kind here."""
        scope.counts[kind] += 1
        if local is None:
            local = f"{kind}{scope.counts[kind]}"
        full = scope.prefix + local
        if len(full) > MAX_NAME:
            raise SpecError(f"layer name '{shorten(full)}' is longer than {MAX_NAME} characters", mark, path)
        if full in self.outputs:
            raise SpecError(f"duplicate layer name '{full}'", mark, path)
        if len(self.layers) >= self.limits.layers:
            raise SpecError(f"network expands past {self.limits.layers:,} layers", mark, path)
        return full

    def add(self, layer: Layer) -> str:
        self.edges += len(layer.inputs)
        if self.edges > self.limits.edges:
            raise SpecError(f"network has more than {self.limits.edges:,} connections (inputs of layers, 'from' included)",
                            layer.origin.mark, layer.origin.path)
        self.layers.append(layer)
        self.outputs[layer.name] = layer.name
        return layer.name

    def layer(self, rule: Rule, value: Any, scope: Scope, inputs: tuple[str, ...], local: str | None, path: str, mark: Mark,
              claimed: str | None = None) -> str:
        if rule.inputs is Inputs.MANY and len(inputs) < 2:
            raise SpecError(f"{rule.kind} merges layers: give 'from: [a, b]' or a list of branches", mark, path)
        if rule.inputs is Inputs.ONE and len(inputs) != 1:
            raise SpecError(f"{rule.kind} takes one input; 'from' names {len(inputs)}", mark, path)
        if rule.inputs is Inputs.MAP_AND_SIZE and len(inputs) != 2:
            raise SpecError(f"{rule.kind} takes two inputs: give 'from: [a, b]'", mark, path)
        if rule.inputs is Inputs.QUERIES_AND_MEMORY and len(inputs) > 2:
            raise SpecError(f"{rule.kind} reads one input, or two ('from: [queries, memory]'); 'from' names "
                            f"{len(inputs)}", mark, path)
        args, late = self.arguments(rule, value, scope, path, mark)
        if args.get("tie") is not None:  # the full name of the layer whose weight it shares
            tied = self.resolve(args["tie"], scope, mark_of(value, "tie") or mark, path, "tie")[0]
            args = MappingProxyType({**args, "tie": tied})
        name = claimed or self.claim(scope, rule.kind, local, mark, path)
        return self.add(Layer(name, rule.kind, args, inputs, Origin(mark, path), late, scope.instance))

    def arguments(self, rule: Rule, value: Any, scope: Scope, path: str, mark: Mark) -> tuple[MappingProxyType, dict]:
        """The checked arguments of an item, read once however often it repeats in the same scope, and one
        shared read-only mapping for equal arguments of a kind: the analysis evaluates a rule once for
        every layer with the same arguments and inputs of the same shapes (ResNet's repeated blocks)."""
        read_key = (rule.kind, id(value), id(scope.names))
        if read_key not in self.read:
            args, late = _Arguments(rule, scope, path).read(value, mark)
            key = (rule.kind, *sorted(args.items()))
            # value and names are kept with the entry: while it lives, no other object can take their ids
            self.read[read_key] = (self.interned.setdefault(key, MappingProxyType(args)), late, value, scope.names)
        args, late, _, _ = self.read[read_key]
        return args, late

    def block(self, kind: str, value: Any, scope: Scope, inputs: tuple[str, ...], local: str | None, path: str, mark: Mark) -> str:
        if kind in scope.blocks:
            chain = " → ".join((*scope.blocks[scope.blocks.index(kind):], kind))
            raise SpecError(f"block '{kind}' uses itself: {chain}", mark, path)
        _check_nesting(scope, mark, path)
        if len(inputs) != 1:
            raise SpecError(f"a block takes one input; 'from' names {len(inputs)}", mark, path)
        definition = self.blocks[kind]
        names = {**self.top_names, **_shape_names(inputs[0]), **self.bind(kind, definition, value, scope, mark, path)}
        name = self.claim(scope, kind, local, mark, path)
        inner = scope.child(name[len(scope.prefix):], names, kind)
        body_path = f"{path} > blocks.{kind}"
        act = definition.get("act")
        act_rule = None if act is None else self.act_rule(act, definition, body_path)
        if "layers" in definition:
            out = self.sequence(definition["layers"], inner, inputs[0], f"{body_path}.layers", mark_of(definition, "layers"))
        else:
            body = next(key for key in BLOCK_BODIES if key in definition)
            inline = act_rule is not None and RULES[body].arg("act") is not None  # the merge applies it (add's act)
            out = self.branches(body, definition[body], inner, inputs, None, f"{body_path}.{body}",
                                {"act": act} if inline else {}, definition.mark)
            act_rule = None if inline else act_rule
        if act_rule is not None:
            out = self.layer(act_rule, None, inner, (out,), None, f"{body_path}.act", mark_of(definition, "act"))
        self.outputs[name] = out
        return out

    def mixture(self, value: Any, scope: Scope, inputs: tuple[str, ...], local: str | None, path: str, mark: Mark) -> str:
        """A mixture of experts (rules.moe): its router, its body's layers expanded once on the routed tokens
        and marked as held once per expert, and the weighted sum of each token's expert outputs."""
        if self.in_mixture:
            raise SpecError("a moe's body cannot hold another moe", mark, path)
        if len(inputs) != 1:
            raise SpecError(f"moe takes one input; 'from' names {len(inputs)}", mark, path)
        rule = RULES["moe"]
        args, late = self.arguments(rule, value, scope, path, mark)
        if late:
            raise SpecError("moe's experts and top are numbers, not sizes of its input", mark, path)
        body = args["body"]
        if body not in self.blocks:
            raise SpecError(unknown("block for moe's body", body, list(self.blocks)), mark_of(value, "body") or mark, path)
        name = self.claim(scope, "moe", local, mark, path)
        inner = scope.child(name[len(scope.prefix):])
        router = self.layer(rule, value, inner, inputs, "router", path, mark)
        start = len(self.layers)
        self.in_mixture = True
        try:
            out = self.block(body, None, inner, (router,), "experts", f"{path}.body", mark)
        finally:
            self.in_mixture = False
        made = {layer.name for layer in self.layers[start:]}
        if not made:
            raise SpecError(f"moe's body '{body}' has no layers once expanded", mark, path)
        experts = Experts(args["experts"], args["top"])
        for index in range(start, len(self.layers)):
            layer = self.layers[index]
            outside = next((i for i in layer.inputs if i.partition(":")[0] not in made and i not in (router, HOLE)),
                           None)
            if outside is not None:
                raise SpecError(f"a moe's body reads only its own layers and the routed tokens; '{layer.name}' "
                                f"reads '{outside}'", layer.origin.mark, layer.origin.path)
            if layer.args.get("tie") is not None:
                raise SpecError(f"a moe's body ties no weight (each expert holds its own); '{layer.name}' ties "
                                f"'{layer.args['tie']}'", layer.origin.mark, layer.origin.path)
            self.layers[index] = replace(layer, experts=experts, block=scope.instance)  # checkpointed with the moe
        combined = self.layer(RULES["combine"], {"top": args["top"]}, inner, (out,), "combine", path, mark)
        self.outputs[name] = combined
        return combined

    def act_rule(self, act: Any, definition: YMap, path: str) -> Rule:
        """The activation a block's `act:` names (an activation only: not dropout, nor any other layer)."""
        activations = kinds(Role.ACTIVATION)
        if isinstance(act, str) and act in activations:
            return RULES[act]
        if isinstance(act, str) and act in RULES:
            why = f"; {act} is a layer of its own, not an activation"
        else:
            why = did_you_mean(act, activations) if isinstance(act, str) else ""
        raise SpecError(f"expected an activation for 'act' ({', '.join(activations)}); received {describe(act)}{why}",
                        mark_of(definition, "act"), path)

    def bind(self, kind: str, definition: YMap, value: Any, scope: Scope, mark: Mark, path: str) -> dict[str, Any]:
        """The block's arguments, from a list (in order) or a mapping (by name)."""
        params = list(definition.get("args", []))
        if value is None:
            given: dict[str, Any] = {}
            marks: dict[str, Mark | None] = {}
        elif isinstance(value, YList):
            if len(value) != len(params):
                raise SpecError(f"block '{kind}' takes {len(params)} arguments ({', '.join(params)}); received {len(value)}",
                                value.mark, path)
            given = dict(zip(params, value))
            marks = dict(zip(params, value.item_marks))
        elif isinstance(value, YMap):
            given = {k: v for k, v in value.items() if k not in ("name", "from")}
            marks = dict(value.value_marks)
            collect([SpecError(unknown(f"argument of block '{kind}'", key, params), value.key_marks[key], path)
                     for key in given if key not in params], None)
        else:
            raise SpecError(f"block '{kind}' takes [args] or {{name: value}}; received {describe(value)}", mark, path)
        missing = [p for p in params if p not in given]
        if missing:
            raise SpecError(f"block '{kind}' is missing argument(s) {', '.join(missing)}", mark, path)
        return {key: _bound_value(v, scope, marks.get(key) or mark, path) for key, v in given.items()}

    def branches(self, kind: str, value: Any, scope: Scope, inputs: tuple[str, ...], local: str | None,
                 path: str, merge_args: dict[str, Any], mark: Mark, inside: bool = False) -> str:
        """A merge of branches. A block whose body is the merge names them in the block (`basic1.branch1`);
        a merge among layers, `inside` (`add1.branch1`, `NAME.branch1` when named): two merges in one
        block never share a branch's name, and a branch folds into its own merge."""
        if not isinstance(value, YList) or len(value) < 2:
            raise SpecError(f"{kind} needs a list of at least two branches; received {describe(value)}", mark_of(value) or mark, path)
        if len(inputs) != 1:
            raise SpecError(f"{kind} branches start from one input; 'from' names {len(inputs)}", mark, path)
        _check_nesting(scope, mark, path)
        claimed = self.claim(scope, kind, local, mark, path) if inside else None
        outer = scope.child(claimed[len(scope.prefix):]) if claimed else scope
        outs = []
        for index, branch in enumerate(value):
            inner = outer.child(f"branch{index + 1}")
            branch_path = f"{path}[{index}]"
            self.step(value.item_marks[index], branch_path)
            out = self.sequence(branch, inner, inputs[0], branch_path, value.item_marks[index])
            self.outputs[inner.prefix[:-1]] = out
            outs.append(out)
        return self.layer(RULES[kind], merge_args or None, scope, tuple(outs), local, path, mark, claimed)

    def resolve(self, refs: Any, scope: Scope, mark: Mark, path: str, key: str = "from") -> tuple[str, ...]:
        """Layer names for `from:` (or `tie:`), looked up from the innermost scope outwards."""
        names = [refs] if isinstance(refs, str) else refs
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise SpecError(f"'{key}' takes a layer name or a list of names; received {describe(refs)}", mark, path)
        found = []
        prefixes = [scope.prefix[: i + 1] for i, ch in enumerate(scope.prefix) if ch == "."][::-1] + [""]
        for ref in names:
            name, colon, index = ref.partition(":")  # `split1:0`: output 0 of a layer with several
            if colon and not _OUTPUT.fullmatch(index):
                raise SpecError(f"'{key}' names '{shorten(ref)}': after ':' comes the number of an output, from 0", mark, path)
            hit = next((self.outputs[p + name] for p in prefixes if p + name in self.outputs), None)
            if hit is None:
                raise SpecError(f"'{key}' names '{shorten(name)}', which is not an earlier layer{did_you_mean(name, list(self.outputs))}",
                                mark, path)
            if colon and ":" in hit:
                raise SpecError(f"'{key}' names '{shorten(ref)}', but '{shorten(name)}' is already output {hit} of a layer",
                                mark, path)
            found.append(f"{hit}:{int(index)}" if colon else hit)
        return tuple(found)


def _given_name(item: Any) -> str | None:
    """The name an item gives its layer, on the item or among its arguments, if it gives one."""
    if not isinstance(item, YMap):
        return None
    kinds = [key for key in item if key not in ITEM_KEYS]
    value = item[kinds[0]] if len(kinds) == 1 else None
    name = item.get("name", value.get("name") if isinstance(value, YMap) else None)
    return name if isinstance(name, str) else None


def _check_nesting(scope: Scope, mark: Mark, path: str) -> None:
    """Blocks and branches open scopes inside one another; bound how deep (and Python's stack)."""
    if scope.prefix.count(".") >= MAX_NESTING:
        raise SpecError(f"blocks and branches nest deeper than {MAX_NESTING} levels", mark, path)


def _bound_value(value: Any, scope: Scope, mark: Mark | None, path: str) -> Any:
    """A block argument's value in the caller's scope: a number, a flag, or a word."""
    if isinstance(value, str):
        if value in scope.names:
            return scope.names[value]
        if _NAME.fullmatch(value) and not value[0].isdigit():
            return value  # a word such as an activation's name
    if isinstance(value, bool):
        return value
    return _integer(value, scope.names, mark, path)


class _Arguments:
    """Reads one rule's arguments: shorthand, names, expressions, types, defaults."""

    def __init__(self, rule: Rule, scope: Scope, path: str):
        self.rule, self.scope, self.path = rule, scope, path

    def read(self, value: Any, mark: Mark) -> tuple[dict[str, Any], dict[str, LateArg]]:
        """The checked arguments, and apart those that wait for tensor shapes (checked by the analysis)."""
        rule = self.rule
        if value is None:
            given: dict[str, Any] = {}
        elif isinstance(value, dict):
            given = {k: v for k, v in value.items() if k not in ("name", "from")}
            known = [a.name for a in rule.args] + ["name", "from"]
            collect([SpecError(unknown(f"argument of {rule.kind}", key, known), mark_of(value, key, of_key=True),
                               self.path) for key in given if rule.arg(key) is None], None)
        elif isinstance(value, str) and (arg := rule.arg(value)) is not None and arg.type == "bool":
            given = {value: True}  # `avgpool: global`
        elif rule.shorthand is not None and (not isinstance(value, list) or rule.arg(rule.shorthand).type in _LIST_TYPES):
            given = {rule.shorthand: value}  # `dropout: 0.5`, `permute: [1, 2, 0]`
        else:
            raise SpecError(f"{rule.kind} takes a mapping of arguments ({', '.join(a.name for a in rule.args) or 'none'});"
                            f" received {describe(value)}", mark_of(value) or mark, self.path)
        args, late = {}, {}
        for arg in rule.args:
            where = (mark_of(value, arg.name) if isinstance(value, dict) else None) or mark
            if arg.name not in given:
                if arg.required:
                    needed = ", ".join(a.name for a in rule.args if a.required)
                    raise SpecError(f"{rule.kind} is missing '{arg.name}' (required: {needed})", mark, self.path)
                args[arg.name] = arg.default if arg.default is None else arg.check(arg.default)
                continue
            try:
                bound = self.substitute(given[arg.name], arg.type, where)
                if is_late(bound):
                    late[arg.name] = LateArg(arg, bound, where)
                else:
                    args[arg.name] = arg.check(bound)
            except ValueError as err:
                raise SpecError(str(err), where, self.path) from None
        return args, late

    def substitute(self, value: Any, type_: str, mark: Mark | None) -> Any:
        """Replace names bound in scope, and evaluate expressions where integers belong."""
        if isinstance(value, list):
            return [self.substitute(v, type_, mark) for v in value]
        if isinstance(value, str) and value in self.scope.names:
            return self.scope.names[value]
        if isinstance(value, str) and type_ in _INT_TYPES and value not in ("same", "valid"):
            return _integer(value, self.scope.names, mark, self.path)
        return value
