"""Commands as data: how a command declares its arguments and options, and how its line is parsed.

A command is a function registered with `@command(name, *params)`. Its
docstring is its help (the first paragraph is the summary, then the details
and examples); each `Param` is one argument or option, handed to the function
as the keyword `dest`. The function returns its exit status (None for 0).

Parsing is argparse's: options and arguments in any order
(`compare a --batch 2 b`), no abbreviated options, `-h`/`--help` anywhere.
Every mistake, a bad value included, is one `UsageError` line (exit 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..safe import clip

REGISTERED: dict[str, Command] = {}  # filled as command modules are imported


class UsageError(Exception):
    """A command line that does not parse, or a value out of bounds: one line on stderr, exit 2."""


class HelpRequested(Exception):  # noqa: N818 (a signal, not an error)
    """`-h`/`--help` was given: show the help of `command` (None: the whole program) and exit 0."""

    def __init__(self, command: Command | None):
        super().__init__("help")
        self.command = command


class Param(NamedTuple):  # a NamedTuple, not a dataclass: a tenth of the cost to define, on every run
    """One positional argument (no flags) or option, as help shows it and argparse parses it."""

    flags: tuple[str, ...]  # ("--batch", "-b"); () for a positional argument
    dest: str  # the keyword the command receives
    help: str
    metavar: str = ""  # how a value is written (NET|PATH, N, SIZE); "" for a flag
    default: Any = None
    convert: Callable[[str], Any] | None = None  # raises argparse.ArgumentTypeError("expected …; received …")
    choices: tuple[str, ...] = ()
    nargs: str | None = None  # "+" one or more, "?" optional (positional arguments)
    action: str | None = None  # "store_true" for a flag, "append" for a repeated option
    required: bool = False
    shown_default: str | None = None  # help's [default: …] when the default alone does not say it

    @property
    def is_flag(self) -> bool:
        return self.action == "store_true"

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        options: dict[str, Any] = {"help": self.help, "default": self.default}
        if self.is_flag:
            options.update(action="store_true", default=False)
        else:
            options.update(metavar=self.metavar, type=self.convert, nargs=self.nargs, action=self.action or "store")
        if self.flags:
            parser.add_argument(*self.flags, dest=self.dest, required=self.required, **options)
        else:
            parser.add_argument(self.dest, **options)


def argument(dest: str, metavar: str, help: str, *, nargs: str | None = None,  # noqa: A002
             convert: Callable[[str], Any] | None = None) -> Param:
    """A positional argument; `nargs` "+" for one or more, "*" for any number, "?" for an optional one."""
    return Param((), dest, help, metavar=metavar, nargs=nargs, required=nargs not in ("?", "*"), convert=convert,
                 default=[] if nargs == "*" else None)


def option(*flags: str, help: str, metavar: str = "TEXT", default: Any = None,  # noqa: A002
           convert: Callable[[str], Any] | None = None, choices: Sequence[str] = (), dest: str | None = None,
           repeat: bool = False, required: bool = False, shown_default: str | None = None) -> Param:
    """An option taking a value: `choices` or `convert` check it; `repeat` collects every use into a list."""
    choices = tuple(choices)
    if choices:
        convert, metavar = one_of(choices), "|".join(choices)
    return Param(tuple(flags), dest or _dest(flags), help, metavar=metavar, default=default, convert=convert,
                 choices=choices, action="append" if repeat else None, required=required,
                 shown_default=shown_default)


def flag(*flags: str, help: str, dest: str | None = None) -> Param:  # noqa: A002
    """An option without a value: present means yes."""
    return Param(tuple(flags), dest or _dest(flags), help, action="store_true")


def _dest(flags: Sequence[str]) -> str:
    return flags[0].lstrip("-").replace("-", "_")


def integer(low: int, high: int) -> Callable[[str], int]:
    """A converter of whole numbers within [low, high], written in ASCII digits (no sign, exponent or '_')."""
    bounds = f"an integer from {low:,} to {high:,}"

    def convert(text: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= len(str(high)) else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {bounds}; received '{clip(text, 40)}'")
        return value

    return convert


def checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter from a parser whose ValueError says "expected …; received …" (units.parse_bytes)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """A converter accepting exactly one of `choices`."""
    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]

    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"expected {listed}; received '{clip(text, 40)}'")
        return text

    return convert


class Command(NamedTuple):
    """A named command: its function and parameters."""

    name: str
    run: Callable[..., int | None]
    params: tuple[Param, ...]

    @property
    def doc(self) -> str:
        return self.run.__doc__ or ""

    def parse(self, argv: Sequence[str]) -> dict[str, Any]:
        """The command's keywords from its part of the command line; UsageError or HelpRequested otherwise."""
        parser = _Parser(prog=f"archcalc {self.name}", usage=f"archcalc {self.name} [OPTIONS]", add_help=False,
                         allow_abbrev=False, formatter_class=_Unused)  # a usage given: argparse would format one
        for param in self.params:
            param.add_to(parser)
        parser.add_argument("-h", "--help", action=_Help, command=self)
        words, dashed = _after_double_dash(list(argv))
        return _restored(vars(parser.parse_intermixed_args(words)), dashed)


def _after_double_dash(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The words with those after `--` that look like options (`--format=json.yaml`, a file) in stand-ins
    that do not, and the stand-ins' words: argparse's intermixed parsing reads them as options still."""
    if "--" not in argv:
        return argv, {}
    end = argv.index("--")
    dashed = {f"\0{i}": word for i, word in enumerate(argv[end + 1:]) if word.startswith("-")}
    stand_ins = {word: stand_in for stand_in, word in dashed.items()}
    return argv[:end] + [stand_ins.get(word, word) for word in argv[end + 1:]], dashed


def _restored(values: dict[str, Any], dashed: dict[str, str]) -> dict[str, Any]:
    def restore(value: Any) -> Any:
        if isinstance(value, list):
            return [restore(item) for item in value]
        return dashed.get(value, value) if isinstance(value, str) else value

    return {key: restore(value) for key, value in values.items()} if dashed else values


def command(name: str, *params: Param) -> Callable[[Callable[..., int | None]], Callable[..., int | None]]:
    """Register the decorated function as the command `name` taking `params`."""

    def register(run: Callable[..., int | None]) -> Callable[..., int | None]:
        REGISTERED[name] = Command(name, run, params)
        return run

    return register


class _Parser(argparse.ArgumentParser):
    """argparse, with errors raised as one-line UsageErrors instead of printed with the usage."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message.removeprefix('argument ')} (see {self.prog} --help)")


class _Unused(argparse.HelpFormatter):
    """argparse's formatter at a fixed width: archcalc draws its own help (cli/help.py), and asking the
    terminal's width would import shutil (with bz2 and lzma) on every run."""

    def __init__(self, prog: str):
        super().__init__(prog, width=100)


class _Help(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, command: Command | None = None, **_: Any):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
                         help="Show this message and exit.")
        self.command = command

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        raise HelpRequested(self.command)
