"""A small, safe evaluator of integer expressions used in spec arguments.

Grammar (no `eval`, no attribute access; one function, max):

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '//' | '/' | '%') unary)*
    unary  := '-' unary | atom
    atom   := INT | NAME | 'max' '(' expr (',' expr)* ')' | '(' expr ')'

`/` must divide exactly; `//` floors. Names come from block arguments and
the spec's `vars:`, or, evaluating the formulas of a symbolic report
(`archcalc table NET --input 3xHxW --format json`), the sizes H, W, N, B.
Results and lengths are bounded so no expression can run away.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_MAGNITUDE = 10**15
MAX_LENGTH = 200

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*/%(),]))")


class ExprError(ValueError):
    """An expression that cannot be evaluated; the message says why."""


def evaluate(text: str, names: Mapping[str, int], *, max_length: int = MAX_LENGTH,
             max_magnitude: int = MAX_MAGNITUDE) -> int:
    """The integer value of `text` with `names` bound; the limits guard against what a stranger writes
    (a report's formulas, archcalc's own, may be evaluated with larger ones)."""
    if len(text) > max_length:
        raise ExprError(f"expression longer than {max_length:,} characters")
    parser = _Parser(_tokens(text), names, max_magnitude)
    value = parser.expr()
    if parser.peek() is not None:
        raise ExprError(f"unexpected '{parser.peek()}'")
    return value


def names(text: str) -> set[str]:
    """The names `text` uses (ExprError on a character the grammar does not have)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    return {token for token in _tokens(text) if token[0].isalpha() or token[0] == "_"}


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExprError(f"unexpected character {text[pos:].strip()[0]!r}")
        tokens.append(match.group(match.lastindex))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], names: Mapping[str, int], max_magnitude: int = MAX_MAGNITUDE):
        self.tokens, self.pos, self.names, self.max_magnitude = tokens, 0, names, max_magnitude

    def bounded(self, value: int) -> int:
        # a number of the text's; a symbolic size of the analysis (a late argument's) is bounded by its budget
        if isinstance(value, int) and abs(value) > self.max_magnitude:
            raise ExprError(f"value {value} is beyond ±{self.max_magnitude:,}")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ExprError("expression ends too early")
        self.pos += 1
        return token

    def expr(self) -> int:
        value = self.term()
        while self.peek() in ("+", "-"):
            op, rhs = self.take(), self.term()
            value = self.bounded(value + rhs if op == "+" else value - rhs)
        return value

    def term(self) -> int:
        value = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.take()
            if op == "*" and self.peek() == "*":
                raise ExprError("'**' (a power) is not supported; write the number out")
            rhs = self.unary()
            value = self.bounded(_apply(op, value, rhs))
        return value

    def unary(self) -> int:
        sign = 1
        while self.peek() == "-":  # a loop, not recursion: `- - - … 1` cannot exhaust the stack
            self.take()
            sign = -sign
        return sign * self.atom()

    def atom(self) -> int:
        token = self.take()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise ExprError("missing ')'")
            return value
        if token.isdigit():
            return self.bounded(int(token))
        if token == "max" and self.peek() == "(":
            self.take()
            values = [self.expr()]
            while self.peek() == ",":
                self.take()
                values.append(self.expr())
            if self.take() != ")":
                raise ExprError("missing ')'")
            return max(values)
        if token[0].isalpha() or token[0] == "_":
            if token not in self.names:
                known = ", ".join(sorted(self.names)) or "none"
                raise ExprError(f"unknown name '{token}' (known here: {known})")
            return self.names[token]
        raise ExprError(f"unexpected '{token}'")


def _apply(op: str, lhs: int, rhs: int) -> int:
    if op == "*":
        return lhs * rhs
    if rhs == 0:
        raise ExprError("division by zero")
    if op == "/" and lhs % rhs:
        raise ExprError(f"{lhs} / {rhs} is not a whole number; use // to floor")
    return lhs % rhs if op == "%" else lhs // rhs
