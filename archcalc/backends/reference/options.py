"""A reference's text, `SOURCE:NAME` or `SOURCE:NAME(key=value, …)`, read without evaluating anything.

The options are keyword arguments whose values are literals only (read by
ast.literal_eval, never eval): numbers, strings, True/False (or true/false)
and None (or null); each source says which of these it takes.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from ...errors import ArchcalcError

MAX_OPTIONS_TEXT = 1000  # characters between the parentheses: a config's few keys, never a program
MAX_INTEGER = 10**12  # the largest integer option (a vocabulary, a width): sized for real models
MAX_STRING = 100
_REFERENCE = re.compile(r"([A-Za-z][A-Za-z0-9_.-]{0,99})(?:\((.*)\))?", re.DOTALL)
_WORDS = {"true": True, "false": False, "True": True, "False": False, "None": None, "null": None}


def split(text: str, source: str, example: str) -> tuple[str, str | None]:
    """`source:NAME(options)` → (NAME, the options' text or None)."""
    body = text.strip()
    match = _REFERENCE.fullmatch(body[len(source) + 1:]) if body.startswith(source + ":") else None
    if not match:
        raise ArchcalcError(f"--against: expected {source}:NAME, e.g. {example}; received '{text}'")
    return match.group(1), match.group(2)


def options(inside: str | None, text: str, kinds: tuple[type, ...]) -> dict[str, Any]:
    """The keyword options between the parentheses, each value a literal of one of `kinds`."""
    if inside is None or not inside.strip():
        return {}
    if len(inside) > MAX_OPTIONS_TEXT:
        raise ArchcalcError(f"--against {text[:60]}…: options longer than {MAX_OPTIONS_TEXT} characters")
    try:
        call = ast.parse(f"f({inside})", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        call = None
    if not isinstance(call, ast.Call) or call.args or any(keyword.arg is None for keyword in call.keywords):
        raise ArchcalcError(f"--against {text}: expected key=value options; received '{inside}'")
    return {keyword.arg: _literal(keyword.arg, keyword.value, text, kinds) for keyword in call.keywords}


def _literal(key: str, node: ast.expr, text: str, kinds: tuple[type, ...]) -> Any:
    if isinstance(node, ast.Name) and node.id in _WORDS:
        value = _WORDS[node.id]
    else:
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            value = ...
    names = ", ".join(_NAMES[kind] for kind in kinds)
    if type(value) not in kinds:
        raise ArchcalcError(f"--against {text}: {key}: expected {names}; received '{ast.unparse(node)[:60]}'")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise ArchcalcError(f"--against {text}: {key}: at most {MAX_INTEGER:,}; received {value:,}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArchcalcError(f"--against {text}: {key}: expected a finite number; received {value}")
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ArchcalcError(f"--against {text}: {key}: a string of at most {MAX_STRING} characters")
    return value


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "None"}
