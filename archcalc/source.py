"""Safe YAML reading that keeps every value's line and column.

`yaml.compose` builds a node tree with marks; we turn it into plain dicts,
lists and scalars (`YMap`, `YList` remember where their items came from).
Aliases are expanded with a node budget, so an alias bomb is refused fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Mark, SpecError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: far above any real spec, far below trouble
MAX_NODES = 100_000  # nodes after alias expansion
MAX_DEPTH = 64  # nesting of YAML collections
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class YMap(dict):
    """A mapping that knows its own mark and those of its keys and values."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]


class YList(list):
    """A sequence that knows its own mark and those of its items."""

    mark: Mark
    item_marks: list[Mark]


def mark_of(container: Any, key: Any = None, *, of_key: bool = False) -> Mark | None:
    """Where `container[key]` (or its key, or the container itself) was written."""
    if key is None:
        return getattr(container, "mark", None)
    if isinstance(container, YMap):
        marks = container.key_marks if of_key else container.value_marks
        return marks.get(key, container.mark)
    if isinstance(container, YList) and isinstance(key, int) and 0 <= key < len(container):
        return container.item_marks[key]
    return getattr(container, "mark", None)


def load_file(path: str | Path) -> Any:
    """Read a spec file into marked plain data; every failure is a SpecError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(f"file is {size:,} bytes; specs are limited to {MAX_FILE_BYTES:,}", Mark(str(path), 1, 1))
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read spec: {err.strerror}", Mark(str(path), 1, 1)) from None
    return load_bytes(raw, str(path))


def load_bytes(raw: bytes, name: str) -> Any:
    """Decode (UTF-8 only) and parse one YAML document into marked plain data."""
    if b"\x00" in raw:
        raise SpecError("binary data, not a YAML text file", Mark(name, 1, 1))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError(f"not UTF-8 text (byte 0x{raw[err.start]:02x})", Mark(name, line, col)) from None
    return load_text(text, name)


def load_text(text: str, name: str) -> Any:
    """Parse one YAML document (safe loader only) into marked plain data."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = Mark(name, mark.line + 1, mark.column + 1) if mark else Mark(name, 1, 1)
        problem = err.problem or err.context or "invalid YAML"
        if "expected a single document" in str(err):
            problem = "more than one YAML document; a spec is a single document"
        raise SpecError(f"YAML syntax error: {problem}", where) from None
    except yaml.YAMLError as err:
        raise SpecError(f"YAML syntax error: {err}", Mark(name, 1, 1)) from None
    if root is None:
        raise SpecError("empty spec", Mark(name, 1, 1))
    return _Converter(name).convert(root, 0)


class _Converter:
    """Turns composed nodes into YMap/YList/scalars under node and depth budgets."""

    def __init__(self, name: str):
        self.name = name
        self.nodes = 0
        self.scalars = yaml.constructor.SafeConstructor()

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"document expands past {MAX_NODES:,} nodes (alias bomb?)", self.mark(node))
        if depth > MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", self.mark(node))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise SpecError(f"YAML tag '{node.tag}' is not allowed in specs", self.mark(node))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = YList(self.convert(item, depth + 1) for item in node.value)
            out.mark, out.item_marks = self.mark(node), [self.mark(item) for item in node.value]
            return out
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode, depth: int) -> YMap:
        out = YMap()
        out.mark, out.key_marks, out.value_marks = self.mark(node), {}, {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError("YAML merge keys ('<<') are not supported in specs", self.mark(key_node))
            key = self.convert(key_node, depth + 1)
            if not isinstance(key, str):
                raise SpecError(f"keys must be text; received {describe(key)}", self.mark(key_node))
            if key in out:
                raise SpecError(f"duplicate key '{key}'", self.mark(key_node))
            out[key] = self.convert(value_node, depth + 1)
            out.key_marks[key], out.value_marks[key] = self.mark(key_node), self.mark(value_node)
        return out

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if not node.tag.startswith("tag:yaml.org,2002:"):
            raise SpecError(f"YAML tag '{node.tag}' is not allowed in specs", self.mark(node))
        try:
            return self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as err:
            raise SpecError(f"bad scalar '{node.value}': {err}", self.mark(node)) from None


def describe(value: Any) -> str:
    """How a received value is named in an error: type, then the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value:g}"
    if isinstance(value, str):
        return f"text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
