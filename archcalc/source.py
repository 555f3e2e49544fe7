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

MAX_FILE_BYTES = 1 << 17  # 128 KiB: 60 times the largest bundled spec, and read in well under a second
MAX_NODES = 10_000  # YAML nodes and aliases as written, and nodes after alias expansion (bundled specs: ≤ 410)
MAX_DEPTH = 64  # nesting of YAML collections
MAX_INTEGER = 10**15  # the bound of expressions (expr.MAX_MAGNITUDE); bigger is a typo or an attack
MAX_KEY = 200  # characters in a key: kinds, arguments, names of blocks and vars are words
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_YAML = "tag:yaml.org,2002:"
_SCALARS = {_YAML + t for t in ("null", "bool", "int", "float", "str")}
_AS_TEXT = {_YAML + "timestamp", _YAML + "value"}  # `name: 2024-01-01` and `=` are text to a spec


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
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # never more, whatever the file claims to be
    except OSError as err:
        raise SpecError(f"cannot read spec: {err.strerror or err}", Mark(str(path), 1, 1)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES:,} bytes, the limit for a spec", Mark(str(path), 1, 1))
    return load_bytes(raw, str(path))


def load_bytes(raw: bytes, name: str) -> Any:
    """Decode (UTF-8 only) and parse one YAML document into marked plain data."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError("UTF-16 text (by its byte-order mark); save the spec as UTF-8", Mark(name, 1, 1))
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
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(f"text is longer than {MAX_FILE_BYTES:,} characters, the limit for a spec", Mark(name, 1, 1))
    loader = None
    try:
        loader = _Loader(text, name)  # checks every character first
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = Mark(name, mark.line + 1, mark.column + 1) if mark else Mark(name, 1, 1)
        problem = err.problem or err.context or "invalid YAML"
        if "expected a single document" in str(err):
            problem = "more than one YAML document; a spec is a single document"
        raise SpecError(f"YAML syntax error: {one_line(problem)}", where) from None
    except yaml.reader.ReaderError as err:  # a character YAML forbids (control characters)
        char = chr(err.character) if isinstance(err.character, int) else err.character
        raise SpecError(f"YAML syntax error: character {char!r} is not allowed in YAML text",
                        _position(text, err.position, name)) from None
    except yaml.YAMLError as err:
        raise SpecError(f"YAML syntax error: {one_line(str(err))}", Mark(name, 1, 1)) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise SpecError("empty spec", Mark(name, 1, 1))
    return _Converter(name).convert(root, 0)


def _position(text: str, offset: int, name: str) -> Mark:
    """The mark of a character offset in `text`."""
    line = text.count("\n", 0, offset) + 1
    return Mark(name, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document too deep or too large while it composes it.

    PyYAML composes recursively and slowly (pure Python, some 30 µs a node):
    without these checks a thousand `[` overflow the stack, and a long list
    takes seconds. An alias counts once here; the converter counts what the
    aliases expand to.
    """

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.spec_name, self.depth, self.nodes = name, 0, 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"more than {MAX_NODES:,} YAML nodes; a spec is limited to {MAX_NODES:,}", self.here())
        if self.depth > MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", self.here())
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def here(self) -> Mark:
        start = self.peek_event().start_mark
        return Mark(self.spec_name, start.line + 1, start.column + 1)


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
            raise SpecError(f"aliases expand the document past {MAX_NODES:,} nodes (alias bomb?)", self.mark(node))
        if depth > MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", self.mark(node))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise SpecError(f"YAML tag '{_tag(node.tag)}' is not allowed in specs", self.mark(node))
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
            if len(key) > MAX_KEY or not key.isprintable():
                raise SpecError(f"keys must be printable text of at most {MAX_KEY} characters; received {describe(key)}",
                                self.mark(key_node))
            if key in out:
                raise SpecError(f"duplicate key '{key}'", self.mark(key_node))
            out[key] = self.convert(value_node, depth + 1)
            out.key_marks[key], out.value_marks[key] = self.mark(key_node), self.mark(value_node)
        return out

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in _AS_TEXT:
            return node.value
        if node.tag not in _SCALARS:
            raise SpecError(f"YAML tag '{_tag(node.tag)}' is not allowed in specs", self.mark(node))
        if node.tag == _YAML + "int" and len(node.value) > 100:  # int() of thousands of digits is slow, then refused
            raise SpecError(f"integer {shorten(node.value)} is beyond ±{MAX_INTEGER:,}", self.mark(node))
        try:
            value = self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as err:
            raise SpecError(f"bad scalar '{shorten(node.value)}': {one_line(str(err))}", self.mark(node)) from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise SpecError(f"integer {shorten(node.value)} is beyond ±{MAX_INTEGER:,}", self.mark(node))
        return value


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
        return f"text '{shorten(value)}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _tag(tag: str) -> str:
    """A tag as it was written: `!!binary` rather than `tag:yaml.org,2002:binary`."""
    return shorten("!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag)


def shorten(text: str, limit: int = 60) -> str:
    """User text fit for a one-line message: control characters escaped, clipped with '…'."""
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in clipped)


def one_line(text: str) -> str:
    """A library's message on one line."""
    return " ".join(text.split())
