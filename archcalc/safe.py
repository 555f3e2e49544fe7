"""Text from strangers made safe to show: in a terminal, a CI log, Markdown, CSV and JSON.

A spec's texts, file names and command-line words reach every output. None
of them may act on what reads it: no character that moves a terminal's
cursor, colours it, sets its title or a hyperlink (control characters, ANSI
and OSC sequences, C1 controls), reorders or hides text (bidirectional and
zero-width format characters), breaks a line, or cannot be encoded (lone
surrogates, and the bytes of a file name that is not UTF-8); and nothing a
GitHub runner reads as a workflow command, which it looks for on every line
of stdout and stderr: `::command::` at the start of a line (after spaces)
and `##[command]` anywhere in one. Each such character is written as its
Python escape (`\\x1b`, `\\u202e`, `\\udcff`), so what was there can still be
read. Rich markup is never interpreted: every console is made without it
(cli/terminal.py).
"""

from __future__ import annotations

import re
from typing import Any

_LEGACY_COMMAND = "##["  # the runner's older form, found anywhere in a line
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~#!])")
_SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """`text` on one line, every character that could act on a terminal or a CI log escaped."""
    if text.isprintable() and _LEGACY_COMMAND not in text and not text.lstrip().startswith(":"):
        return text
    out = "".join(ch if ch.isprintable() else _escape(ch) for ch in text)
    out = out.replace(_LEGACY_COMMAND, "##\\x5b")
    stripped = out.lstrip(" ")
    if stripped.startswith(":"):  # `::command::` opens a workflow command at the start of a line
        out = out[: len(out) - len(stripped)] + "\\x3a" + stripped[1:]
    return out


def _escape(ch: str) -> str:
    """A character as Python writes it in a string: \\x1b, \\u202e, \\U0001f600; a file name's
    undecodable byte (a surrogate of Python's surrogateescape) as the byte it stands for."""
    code = ord(ch)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else ascii(ch)[1:-1]


def clip(text: str, limit: int = 60) -> str:
    """User text fit for a one-line message: clipped with '…' past `limit` characters, and printable."""
    return printable(text if len(text) <= limit else text[: limit - 1] + "…")


def path(name: str) -> str:
    """A file name as it starts a line of output: printable, and never read as a workflow command
    (`./` before a name that starts with ':' or a space, so that it stays a path to the same file)."""
    if name[:1] == ":" or name[:1].isspace():
        name = "./" + name
    return printable(name)


def markdown(text: str) -> str:
    """Printable text for a Markdown table cell or line: `|` cannot end a cell, nor `[`, `<`, `*` …
    make a link, HTML or emphasis."""
    return _MARKDOWN.sub(r"\\\1", printable(text))


def spreadsheet(text: str) -> str:
    """Printable text for a CSV cell that a spreadsheet will not run as a formula (`=`, `+`, `-`, `@`)."""
    text = printable(text)
    return "'" + text if text.startswith(_SPREADSHEET_FORMULA) else text


def shorten(text: str, limit: int = 60) -> str:
    """User text fit for a one-line message: clipped with '…', and safe to show (`clip`)."""
    return clip(text, limit)


def describe(value: Any) -> str:
    """How a received value is named in an error: type, then the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):  # one of 5,000 digits has no decimal text (Python refuses to make it)
        return f"integer {value}" if value.bit_length() <= 64 else f"an integer of {value.bit_length():,} bits"
    if isinstance(value, float):
        return f"number {value:g}"
    if isinstance(value, str):
        return f"text '{shorten(value)}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
