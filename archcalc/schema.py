"""A JSON Schema (draft 2020-12) of the spec language, generated from the rule table.

Editors use it through a YAML language server: completion of kinds and
arguments, their descriptions (each Arg's doc) and early type errors.
archcalc's own checks stay the authority; the schema accepts what they
accept (names and expressions where integers belong, block calls by any
name) and refuses what they surely refuse (unknown keys, wrong types).
"""

from __future__ import annotations

from typing import Any

from . import expand, segments
from .args import MAX_AXES, MAX_INT, Arg
from .ir import SEQUENCE, SIZE_SYMBOLS
from .budget import BUDGET_KEYS, MAX_BATCH, MEASURES
from .rules import RULES, Inputs, Role, Rule, kinds
from .precision import PRECISION_ALIASES, PRECISIONS
from .states import OPTIMIZER_STATES

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"  # a block argument or var standing for a value
_LAYER_NAME = "^[A-Za-z0-9_][A-Za-z0-9_\\-]*$"
_DOTTED_NAME = "^[A-Za-z0-9_][A-Za-z0-9_\\-]*(\\.[A-Za-z0-9_][A-Za-z0-9_\\-]*)*$"  # a layer's name: stage1.conv1
_FLOAT = "^\\s*[-+]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][-+]?\\d+)?\\s*$"  # `1e-5`, which PyYAML reads as text
_COUNT = "^\\s*\\d+(\\.\\d+)?\\s*[KkMmGgTt]?\\s*$"
_BYTES = "^\\s*\\d+(\\.\\d+)?\\s*([Bb]|[KkMmGgTt][Ii]?[Bb])\\s*$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _int(low: int, doc: str = "") -> dict[str, Any]:
    """An integer ≥ low (0 or 1), or an expression of integers and names (`n - 1`, `out * 4`)."""
    schema = _ref(f"integer.{low}")
    return {**schema, "description": doc} if doc else schema


def _per_axis(low: int) -> dict[str, Any]:
    return _ref(f"per_axis.{low}")


def _number_defs() -> dict[str, Any]:
    """The integer and per-axis ([length], [height, width], [time, height, width]) types every kind shares, at least 0 or 1."""
    defs: dict[str, Any] = {}
    for low in (0, 1):
        defs[f"integer.{low}"] = {"anyOf": [{"type": "integer", "minimum": low, "maximum": MAX_INT}, _ref("expression")]}
        defs[f"per_axis.{low}"] = {"anyOf": [_int(low), {"type": "array", "items": _int(low), "minItems": 1, "maxItems": MAX_AXES}]}
    return defs


def _input_schema() -> dict[str, Any]:
    """A list read by its length, or a mapping naming each axis ({channels: 1, length: 16000})."""
    size = {"type": "integer", "minimum": 1, "maximum": expand.MAX_INPUT}
    spatial = {"anyOf": [size, {"enum": list(SIZE_SYMBOLS)}]}
    sequence = {"anyOf": [size, {"const": SEQUENCE}]}  # a token sequence's length, S
    lists = [{"type": "array", "prefixItems": [sequence if n == 2 else size], "items": spatial if n > 2 else size,
              "minItems": n, "maxItems": n} for n in (1, 2, 3, 4)]
    kinds = {"channels": size, "dim": size, "features": size, "tokens": sequence, "ids": sequence}
    named = [{"type": "object", "required": list(names), "additionalProperties": False,
              "properties": {name: kinds.get(name, spatial) for name in names}}
             for names in expand.NAMED_INPUTS]
    return {"anyOf": lists + named, "description": "[C, H, W], [C, T, H, W], [N, D] tokens (N possibly S) or [features], or "
            "a mapping naming the axes ({channels: 1, length: 16000}, {ids: 1024} token ids, S possibly); the batch "
            "comes from the command line"}


def _choices(arg: Arg) -> dict[str, Any]:
    if arg.choices:
        return {"anyOf": [{"enum": list(arg.choices)}, {"type": "string", "pattern": _NAME}]}
    return {"type": "string"}


_TYPES = {
    "int": lambda arg: _int(0),
    "pos": lambda arg: _int(1),
    "per_axis": lambda arg: _per_axis(1),
    "per_axis0": lambda arg: _per_axis(0),
    "pad": lambda arg: {"anyOf": [{"enum": ["same", "valid"]}, _per_axis(0)]},
    "float": lambda arg: {"anyOf": [{"type": "number", **({"minimum": arg.low} if arg.low is not None else {})},
                                    {"type": "string", "pattern": _FLOAT},
                                    {"type": "string", "pattern": _NAME}]},
    "bool": lambda arg: {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": _NAME}]},
    "str": _choices,
    "table": lambda arg: {"type": "array", "minItems": 1,
                          "items": {"type": "array", "minItems": 1, "items": _int(0)}},
    "ints": lambda arg: {"type": "array", "minItems": 1, "items": _int(1)},
    "ints0": lambda arg: {"type": "array", "minItems": 1, "items": _int(0)},
    "shape": lambda arg: {"type": "array", "minItems": 1, "items": {"anyOf": [{"const": -1}, _int(1)]}},
    "index": lambda arg: {"anyOf": [{"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT}, _ref("expression")]},
}


def arg_schema(arg: Arg) -> dict[str, Any]:
    """One argument: its type, its doc as description, its default when it has one."""
    schema = dict(_TYPES[arg.type](arg))
    schema["description"] = arg.doc + (" (required)" if arg.required else "")
    default = arg.default
    if default is not None and not isinstance(default, tuple):
        schema["default"] = default
    return schema


def rule_schema(rule: Rule) -> dict[str, Any]:
    """What may follow a kind's key: a mapping of its arguments, a bare value, or nothing."""
    properties = {arg.name: arg_schema(arg) for arg in rule.args}
    properties["name"] = _ref("name")
    properties["from"] = _ref("from")
    mapping = {"type": "object", "properties": properties, "additionalProperties": False,
               "required": [arg.name for arg in rule.args if arg.required]}
    forms: list[dict[str, Any]] = [mapping]
    flags = [arg.name for arg in rule.args if arg.type == "bool"]
    if not any(arg.required for arg in rule.args):
        forms.append({"type": "null"})  # `- relu:`
        if flags:
            forms.append({"enum": flags, "description": "a flag set to true: `avgpool: global`"})
    short = rule.arg(rule.shorthand) if rule.shorthand else None
    if short is not None:  # a bare value, a list only for list arguments: `dropout: 0.5`, `fc: 1000`, `permute: [1, 2, 0]`
        bare = _int(0 if short.type == "per_axis0" else 1) if short.type in ("per_axis", "per_axis0") else _TYPES[short.type](short)
        forms.append({**bare, "description": f"shorthand for {short.name}: {short.doc}"})
    if rule.inputs is Inputs.MANY:
        forms.append({**_ref("branches"), "description": f"branches from the same input, merged by {rule.kind}"})
    return {"description": rule.doc, "anyOf": forms}


def _item() -> dict[str, Any]:
    """A layer item: one kind (a rule's, or a block's by its name) with optional name, repeat and from."""
    properties: dict[str, Any] = {
        "name": _ref("name"),
        "repeat": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": expand.MAX_REPEAT}, _ref("expression")],
                   "description": f"how many copies in sequence (0 to {expand.MAX_REPEAT:,}); a named layer is numbered"
                                  " name_1, name_2 …"},
        "from": _ref("from"),
    }
    properties.update({kind: _ref(f"kind.{kind}") for kind in RULES})
    return {
        "type": "object",
        "description": "a layer: exactly one kind (a layer kind or a block of this spec), optionally name, repeat, from",
        "properties": properties,
        "additionalProperties": _ref("block_call"),
        "minProperties": 1,
    }


def _block() -> dict[str, Any]:
    merges = expand.BLOCK_BODIES[1:]
    return {
        "type": "object",
        "description": f"a parameterised sub-network: args, and exactly one body ({', '.join(expand.BLOCK_BODIES)}); "
                       "its expressions may use in_channels and in_features, the dimensions of its input",
        "properties": {
            "args": {"type": "array", "items": {"type": "string", "pattern": _LAYER_NAME},
                     "description": "argument names, bound by position ([64, 2]) or by name ({out: 64, stride: 2})"},
            "layers": {**_ref("layers"), "description": "the body: layers in sequence"},
            **{body: {**_ref("branches"), "description": f"the body: branches from the block's input, merged by {body}: "
                                                         f"{RULES[body].doc}"}
               for body in merges},
            "act": {"enum": list(kinds(Role.ACTIVATION)),
                    "description": "activation after the body (applied by the merge itself, for "
                                   f"{', '.join(body for body in merges if RULES[body].arg('act'))})"},
            "doc": {"type": "string", "description": "what the block is"},
        },
        "additionalProperties": False,
        "oneOf": [{"required": [body]} for body in expand.BLOCK_BODIES],
    }


def _budget() -> dict[str, Any]:
    properties: dict[str, Any] = {
        key: {"anyOf": [{"type": "integer", "minimum": 0},
                        {"type": "string", "pattern": _BYTES if measure.unit == "bytes" else _COUNT}],
              "description": f"largest allowed {measure.label}"
                             + (" in bytes (8GiB, 512MiB, 16GB)" if measure.unit == "bytes" else " (25M, 4G)")}
        for key, measure in MEASURES.items()
    }
    properties["batch"] = {"type": "integer", "minimum": 1, "maximum": MAX_BATCH,
                           "description": "the batch size the memory limits hold at"}
    properties["optimizer"] = {"enum": list(OPTIMIZER_STATES), "description": "the training step's optimizer"}
    properties["precision"] = {"enum": [*PRECISIONS, *PRECISION_ALIASES],
                               "description": "the training step's precision (float32, bfloat16: fp32, bf16)"}
    properties["checkpoint"] = {"anyOf": [{"enum": ["none", segments.EVERY_BLOCK]},
                                          {"type": "integer", "minimum": 1, "maximum": segments.MAX_SEGMENTS}],
                                "description": "the training step's activation checkpointing (N: segments)"}
    assert tuple(properties) == BUDGET_KEYS
    return {"type": "object", "description": "limits `archcalc check` holds the network to",
            "properties": properties, "additionalProperties": False}


def spec_schema() -> dict[str, Any]:
    """The whole schema, as a JSON-ready dict."""
    defs: dict[str, Any] = {
        "expression": {"type": "string", "description": "an integer expression: + - * // / % ( ), integers, "
                                                        "block arguments and vars (`n - 1`, `out * 4`)"},
        **_number_defs(),
        "name": {"type": "string", "pattern": _DOTTED_NAME, "description": "the layer's (or block instance's) name"},
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                 "description": "earlier layer(s) to read instead of the previous one; `input` is the network's input, "
                                "`split1:0` output 0 of a layer with several"},
        "layers": {"type": "array", "items": _ref("item"), "description": "layers in sequence"},
        "branch": {"anyOf": [_ref("layers"), _ref("item")],
                   "description": "a branch: a list of layers, one layer, or [] for the input itself"},
        "branches": {"type": "array", "items": _ref("branch"), "minItems": 2},
        "item": _item(),
        "block_call": {"anyOf": [{"type": "null"}, {"type": "array"}, {"type": "object"}],
                       "description": "a block of this spec: [args by position], {args by name}, or nothing"},
        "block": _block(),
        "budget": _budget(),
    }
    defs.update({f"kind.{kind}": rule_schema(rule) for kind, rule in RULES.items()})
    return {
        "$schema": DIALECT,
        "title": f"archcalc network spec, version {expand.VERSION}",
        "description": "A neural network as archcalc reads it: input, layers, blocks, vars and a budget.",
        "type": "object",
        "required": ["input", "layers"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": expand.VERSION, "description": "the spec format"},
            "name": {"type": "string", "maxLength": expand.MAX_TEXT["name"],
                     "description": "the network's name (default: the file name)"},
            "title": {"type": "string", "maxLength": expand.MAX_TEXT["title"], "description": "a title for tables"},
            "source": {"type": "string", "maxLength": expand.MAX_TEXT["source"],
                       "description": "where the architecture comes from (paper, table)"},
            "reference": {"type": "string", "maxLength": expand.MAX_TEXT["reference"],
                          "pattern": "^(torchvision:[A-Za-z0-9_]+(\\(.*\\))?|transformers:[A-Za-z0-9_.-]+)$",
                          "description": "the real model this spec describes, for `archcalc verify --against spec`: "
                                         "torchvision:NAME or torchvision:NAME(key=value, …), or transformers:NAME "
                                         "(a model built from its Config)"},
            "input": _input_schema(),
            "vars": {"type": "object", "additionalProperties": {"anyOf": [{"type": "integer"}, _ref("expression")]},
                     "description": "integers usable by name in expressions"},
            "blocks": {"type": "object", "additionalProperties": _ref("block"),
                       "propertyNames": {"pattern": _LAYER_NAME, "not": {"enum": list(RULES)}},
                       "description": "parameterised sub-networks, used as layers by their names"},
            "layers": {**_ref("layers"), "minItems": 1},
            "outputs": {**_ref("from"), "description": "layers or blocks whose output is one of the network's "
                        "besides the last (auxiliary heads); any other layer that nothing reads is reported"},
            "budget": _ref("budget"),
        },
        "$defs": defs,
    }
