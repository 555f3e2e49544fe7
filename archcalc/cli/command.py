"""How a command declares its arguments and options for typer, and the converters that check their values.

A command is a function registered with `@command(name)`. typer reads its
parameters from the signature, each written

    batch: Annotated[int, option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH), help="…")] = 1

(`argument(…)` for a positional one, `flag(…)` for an option without a
value), its Python default the option's default; a parameter without a
default is required. The docstring is the command's help (its first
paragraph the summary, then the details and examples). The function returns
its exit status (None for 0).

A converter takes the text and returns the value, or raises ValueError
saying "expected …; received …": that line, after the option's names, is the
usage error (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click
import typer
from click.shell_completion import CompletionItem

from ..safe import clip

REGISTERED: dict[str, Callable[..., int | None]] = {}  # filled as command modules are imported


class UsageError(Exception):
    """A command line that does not parse, or a value out of bounds: one line on stderr, exit 2."""


class Checked(click.ParamType):
    """A value read by a converter (`integer(1, 64)`, `one_of(choices)`); `choices` are what the shell completes."""

    def __init__(self, convert: Callable[[str], Any], metavar: str, choices: Sequence[str] = ()):
        self.read, self.name, self.choices = convert, metavar, tuple(choices)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # a default, already a value
            return value
        try:
            return self.read(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(choice) for choice in self.choices if choice.startswith(incomplete)]


def _type(convert: Callable[[str], Any] | None, choices: Sequence[str], metavar: str,
          aliases: Mapping[str, str] = {}) -> tuple[Checked | None, str]:
    if choices:
        return Checked(one_of(tuple(choices), aliases), "|".join(choices), choices), "|".join(choices)
    return (Checked(convert, metavar) if convert else None), metavar


def argument(metavar: str, help: str, *, convert: Callable[[str], Any] | None = None,  # noqa: A002
             choices: Sequence[str] = (), complete: Callable[..., list[str]] | None = None) -> Any:
    """A positional argument; annotate it `list[…]` for one or more (any number, with a default)."""
    click_type, metavar = _type(convert, choices, metavar)
    return typer.Argument(metavar=metavar, help=help, click_type=click_type, autocompletion=complete,
                          show_default=False)


def option(*flags: str, help: str, metavar: str = "TEXT", convert: Callable[[str], Any] | None = None,  # noqa: A002
           choices: Sequence[str] = (), aliases: Mapping[str, str] = {}, shown_default: str | None = None,
           complete: Callable[..., list[str]] | None = None) -> Any:
    """An option taking a value: `choices` (and their `aliases`, other spellings of them) or `convert` check it;
    annotated `list[…]`, every use is collected. Help shows the default unless it is None; `shown_default` says it
    in words instead."""
    click_type, metavar = _type(convert, choices, metavar, aliases)
    return typer.Option(*flags, help=help, metavar=metavar, click_type=click_type, autocompletion=complete,
                        show_default=shown_default if shown_default is not None else True)


def flag(*flags: str, help: str) -> Any:  # noqa: A002
    """An option without a value, annotated `bool` with the default False: present means yes."""
    return typer.Option(*flags, help=help, show_default=False)


def command(name: str) -> Callable[[Callable[..., int | None]], Callable[..., int | None]]:
    """Register the decorated function as the command `name`."""

    def register(run: Callable[..., int | None]) -> Callable[..., int | None]:
        REGISTERED[name] = run
        return run

    return register


def paragraphs(doc: str) -> list[str]:
    """A docstring's paragraphs, each on one line: help wraps them to the terminal, docs/cli.md prints them."""
    blocks = "\n".join(line.strip() for line in doc.strip().splitlines()).split("\n\n")
    return [" ".join(block.split()) for block in blocks if block.strip()] or [""]


def integer(low: int, high: int) -> Callable[[str], int]:
    """A converter of whole numbers within [low, high], written in ASCII digits (no sign, exponent or '_')."""
    bounds = f"an integer from {low:,} to {high:,}"

    def convert(text: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= len(str(high)) else None
        if value is None or not low <= value <= high:
            raise ValueError(f"expected {bounds}; received '{clip(text, 40)}'")
        return value

    return convert


def one_of(choices: Sequence[str], aliases: Mapping[str, str] = {}) -> Callable[[str], str]:
    """A converter accepting exactly one of `choices`, or an alias of one (read as the one it names)."""
    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    also = f" (or {', '.join(aliases)})" if aliases else ""

    def convert(text: str) -> str:
        text = aliases.get(text, text)
        if text not in choices:
            raise ValueError(f"expected {listed}{also}; received '{clip(text, 40)}'")
        return text

    return convert
