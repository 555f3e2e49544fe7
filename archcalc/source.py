"""Safe YAML reading that keeps every value's line and column.

PyYAML composes a node tree with marks; we turn it into plain dicts, lists
and scalars (`YMap`, `YList` remember where their items came from). Aliases
are expanded with a node budget, so an alias bomb is refused fast. libyaml's
C parser reads the text when PyYAML has it; any text it refuses is read again
by PyYAML's pure-Python parser, so every error says what PyYAML says, where.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.resolver import Resolver

from .errors import Mark, SpecError
from .safe import describe, shorten  # noqa: F401 (describe, shorten: read from here too)

try:
    from yaml.cyaml import CParser  # libyaml's scanner and parser, some 20 times faster than PyYAML's
except ImportError:  # PyYAML built without libyaml
    CParser = None

MAX_FILE_BYTES = 1 << 17  # 128 KiB: 60 times the largest bundled spec, and read in well under a second
MAX_NODES = 10_000  # YAML nodes and aliases as written, and nodes after alias expansion (bundled specs: ≤ 410)
MAX_DEPTH = 64  # nesting of YAML collections
MAX_INTEGER = 10**15  # the bound of expressions (expr.MAX_MAGNITUDE); bigger is a typo or an attack
MAX_KEY = 200  # characters in a key: kinds, arguments, names of blocks and vars are words
MAX_PLAIN_NODES = 2_000_000  # values of a Python mapping (archcalc.load): some 20 a layer, at 100,000 layers
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_YAML = "tag:yaml.org,2002:"
_SCALARS = {_YAML + t for t in ("null", "bool", "int", "float", "str")}
_AS_TEXT = {_YAML + "timestamp", _YAML + "value"}  # `name: 2024-01-01` and `=` are text to a spec
# YAML 1.1 numbers nobody means (YAML 1.2 reads them otherwise): `064` is octal 52, `1:30` base 60 (90)
_OCTAL = re.compile(r"[-+]?0[0-7_]+")


class Date(str):
    """A scalar YAML reads as a date (`2001-12-14`): text to a spec, never an expression (it would be 1975)."""


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


def load_file(path: str | Path, name: str | None = None) -> Any:
    """Read a spec file into marked plain data; every failure is a SpecError. Marks and errors name the file
    `name` when given (a bundled spec is `specs/alexnet.yaml`, wherever it is installed)."""
    path = Path(path)
    shown = str(path) if name is None else name
    try:
        # Non-blocking, so that a FIFO cannot hold the read open; then only a regular file is read.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise SpecError("not a regular file; a spec is read only from one", Mark(shown, 1, 1))
            raw = file.read(MAX_FILE_BYTES + 1)  # never more, whatever the file claims to be
    except OSError as err:
        raise SpecError(f"cannot read spec: {err.strerror or err}", Mark(shown, 1, 1)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES:,} bytes, the limit for a spec", Mark(shown, 1, 1))
    return load_bytes(raw, shown)


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
    root = _compose(text, name)
    if root is None:
        raise SpecError("empty spec", Mark(name, 1, 1))
    return _Converter(name).convert(root, 0)


def _compose(text: str, name: str) -> yaml.Node | None:
    """The document's node tree (None when it has none), every YAML error a SpecError at PyYAML's mark.

    libyaml's parser reads it when PyYAML has one. A text it refuses, or where
    the two might disagree, is read again by PyYAML's own parser, the
    reference: its nodes, marks and errors are what archcalc reports.
    """
    if CParser is not None and not _unlike_text(text):
        try:
            return _single_node(_FastLoader(text, name))
        except yaml.YAMLError:
            pass
    try:
        return _single_node(_Loader(text, name))  # the loader checks every character first
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = Mark(name, mark.line + 1, mark.column + 1) if mark else Mark(name, 1, 1)
        problem = err.problem or err.context or "invalid YAML"
        if "expected a single document" in str(err):
            problem = "more than one YAML document; a spec is a single document"
        raise SpecError(f"YAML syntax error: {one_line(problem)}{_started(err, text)}", where) from None
    except yaml.reader.ReaderError as err:  # a character YAML forbids (control characters)
        char = chr(err.character) if isinstance(err.character, int) else err.character
        raise SpecError(f"YAML syntax error: character {char!r} is not allowed in YAML text",
                        _position(text, err.position, name)) from None
    except yaml.YAMLError as err:
        raise SpecError(f"YAML syntax error: {one_line(str(err))}", Mark(name, 1, 1)) from None


def _started(err: yaml.MarkedYAMLError, text: str) -> str:
    """Where the construct PyYAML was reading began, when elsewhere than where it noticed the problem: an
    unclosed bracket is noticed lines later (" (in the flow sequence that starts at 2:8)")."""
    context, start, problem = err.context, err.context_mark, err.problem_mark
    if "expected a single document" in str(err):
        return ""
    if (err.problem and context and context.startswith("while ") and start and problem
            and (start.line, start.column) != (problem.line, problem.column)):
        what = re.sub(r"^while (parsing|scanning) (a |an )?", "", one_line(context))
        return f" (in the {what} that starts at {start.line + 1}:{start.column + 1})"
    opened = _open_bracket(text, problem.index) if problem else None
    if opened is None:
        return ""
    line = text.count("\n", 0, opened)
    column = opened - (text.rfind("\n", 0, opened) + 1)
    what = "flow sequence" if text[opened] == "[" else "flow mapping"
    return f" (in the {what} that starts at {line + 1}:{column + 1})"


def _open_bracket(text: str, end: int) -> int | None:
    """The offset of the innermost `[` or `{` still open at `end`, outside quotes and comments."""
    stack: list[int] = []
    quote, i = "", 0
    while i < min(end, len(text)):
        char = text[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"" and (i == 0 or text[i - 1] in " \t\n[{,:"):
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n"):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif char in "[{":
            stack.append(i)
        elif char in "]}" and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _unlike_text(text: str) -> bool:
    """Whether PyYAML may read `text` unlike libyaml from the start: control characters (PyYAML refuses
    them before it parses), tabs (it refuses some that libyaml takes: `{k: 3,\tp: 1}`) and byte-order
    marks within the text (columns counted differently)."""
    return "\t" in text or "\ufeff" in text or bool(yaml.reader.Reader.NON_PRINTABLE.search(text))


def _single_node(loader: Any) -> yaml.Node | None:
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _position(text: str, offset: int, name: str) -> Mark:
    """The mark of a character offset in `text`."""
    line = text.count("\n", 0, offset) + 1
    return Mark(name, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


class _Limits:
    """Refuses a document too deep or too large while it is composed (a mixin of both loaders).

    PyYAML composes recursively: without these checks a thousand `[` overflow
    the stack, and a long list takes seconds in the pure-Python parser. An
    alias counts once here; the converter counts what the aliases expand to.
    """

    spec_name: str
    depth: int
    nodes: int

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"more than {MAX_NODES:,} YAML nodes; a spec is limited to {MAX_NODES:,}", self.here())
        if self.depth > MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", self.here())
        self.depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self.depth -= 1

    def here(self) -> Mark:
        start = self.peek_event().start_mark  # type: ignore[attr-defined]
        return Mark(self.spec_name, start.line + 1, start.column + 1)


class _Loader(_Limits, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader (some 30 µs a node), with the limits."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.spec_name, self.depth, self.nodes = name, 0, 0


if CParser is not None:
    class _FastLoader(_Limits, Composer, CParser, Resolver):
        """libyaml's events composed by PyYAML's composer and resolver: the same nodes and marks, the same limits.

        It gives up (a YAMLError) on a node that PyYAML may read differently, for PyYAML to read the text.
        """

        def __init__(self, text: str, name: str):
            CParser.__init__(self, text)
            Composer.__init__(self)
            Resolver.__init__(self)
            self.text, self.spec_name, self.depth, self.nodes = text, name, 0, 0

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
            event = self.peek_event()
            if _unlike(event, self.text):
                raise yaml.YAMLError("a node PyYAML may read differently")
            return super().compose_node(parent, index)


def _unlike(event: yaml.Event, text: str) -> bool:
    """Whether PyYAML may read this node of libyaml's differently, as a differential fuzz found.

    A tag (PyYAML's runs on past a `,` in a flow collection), a block scalar
    (PyYAML is stricter about its header: `>#`), a plain scalar with a `?`
    (PyYAML refuses `{p?: 1}`), and an empty scalar anywhere but just after a
    `:` (libyaml marks an empty key or flow value at the token after it).
    """
    if isinstance(event, yaml.AliasEvent):
        return False
    if event.tag is not None:
        return True
    if not isinstance(event, yaml.ScalarEvent):
        return False
    if event.style:  # quoted (read alike) or block
        return event.style in ("|", ">")
    at = event.start_mark.index
    return "?" in event.value or (not event.value and text[at - 1:at] != ":")


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
        if node.tag == _YAML + "timestamp":
            return Date(node.value)
        if node.tag in _AS_TEXT:
            return node.value
        if node.tag not in _SCALARS:
            raise SpecError(f"YAML tag '{_tag(node.tag)}' is not allowed in specs", self.mark(node))
        if node.tag == _YAML + "int" and len(node.value) > 100:  # int() of thousands of digits is slow, then refused
            raise SpecError(f"integer {shorten(node.value)} is beyond ±{MAX_INTEGER:,}", self.mark(node))
        self.unambiguous(node)
        try:
            value = self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as err:
            raise SpecError(f"bad scalar '{shorten(node.value)}': {one_line(str(err))}", self.mark(node)) from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise SpecError(f"integer {shorten(node.value)} is beyond ±{MAX_INTEGER:,}", self.mark(node))
        return value


    def unambiguous(self, node: yaml.ScalarNode) -> None:
        """Refuse a number YAML 1.1 (PyYAML) and YAML 1.2 read differently, with what each reads."""
        text = node.value
        if node.tag == _YAML + "int" and _OCTAL.fullmatch(text) and int(text, 8) != int(text, 10):
            meant = int(text, 10)
            raise SpecError(f"ambiguous number '{shorten(text)}': YAML 1.1 reads a leading 0 as octal "
                            f"({int(text, 8)}), YAML 1.2 as {meant}; write {meant} without the 0",
                            self.mark(node))
        if node.tag in (_YAML + "int", _YAML + "float") and ":" in text:
            value = f" ({self.scalars.construct_object(node, deep=True):g})" if len(text) <= 40 else ""
            raise SpecError(f"ambiguous number '{shorten(text)}': YAML 1.1 reads it in base 60{value}, "
                            "YAML 1.2 as text; write the number, or quote the text", self.mark(node))


def plain(value: Any, limit: int = MAX_PLAIN_NODES) -> Any:
    """Python data (a mapping given to `archcalc.load`, a layer given to a Builder) as the YAML reader makes
    it: YMap, YList and scalars, with no marks (errors then say the layer path alone). The same values are
    refused as in a file (keys not text, integers beyond MAX_INTEGER, other types), within `limit` values
    and MAX_DEPTH levels; tuples are lists."""
    return _Plain(limit).convert(value, 0)


class _Plain:
    """Converts Python values to unmarked YMap/YList/scalars under a value and depth budget."""

    def __init__(self, limit: int):
        self.limit, self.nodes = limit, 0

    def convert(self, value: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limit:
            raise SpecError(f"more than {self.limit:,} values; a network given as data is limited to {self.limit:,}")
        if depth > MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            out = YMap()
            out.mark, out.key_marks, out.value_marks = None, {}, {}  # type: ignore[assignment]
            for key, item in value.items():
                if not isinstance(key, str) or len(key) > MAX_KEY or not key.isprintable():
                    raise SpecError(f"keys must be printable text of at most {MAX_KEY} characters; received {describe(key)}")
                out[key] = self.convert(item, depth + 1)
                out.key_marks[key] = out.value_marks[key] = None  # type: ignore[assignment]
            return out
        if isinstance(value, (list, tuple)):
            items = YList(self.convert(item, depth + 1) for item in value)
            items.mark, items.item_marks = None, [None] * len(items)  # type: ignore[assignment]
            return items
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            shown = shorten(str(value)) if value.bit_length() < 1000 else f"of {value.bit_length():,} bits"
            raise SpecError(f"integer {shown} is beyond ±{MAX_INTEGER:,}")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise SpecError(f"a spec holds mappings, lists, text, numbers, booleans and null; received {describe(value)}")


def _tag(tag: str) -> str:
    """A tag as it was written: `!!binary` rather than `tag:yaml.org,2002:binary`."""
    return shorten("!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag)


def one_line(text: str) -> str:
    """A library's message on one line."""
    return " ".join(text.split())
