"""The `archcalc` command line: find the command named first, parse the rest of the line with it, run it.

Which module defines each command, imported only when it runs, is
`cli/registry.py`: the one place archcalc defers imports. Domain errors
become one line on stderr and exit 1; usage errors one line and exit 2;
`-h`/`--help` anywhere shows help and exits 0.
"""

from __future__ import annotations

import errno
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__
from ..errors import ArchcalcError, ShadowWarning, did_you_mean
from ..safe import printable
from . import registry, streams
from .command import HelpRequested, UsageError


def main() -> NoReturn:
    """The console script: run the process's command line and exit with its status."""
    sys.exit(run())


def app(argv: Sequence[str] | None = None) -> NoReturn:
    """Run `archcalc ARGV…` and exit with its status, as the console script does: app(["table", "vgg16"])."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line (default: the process's) and return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    stdout = streams.guard_stdout()
    try:
        status = _outcome(args)
        sys.stdout.flush()  # the last of the output: a full disk says so here
        return status
    except streams.OutputError as err:  # the reader stopped, the disk is full, stdout is closed
        streams.abandon(stdout)
        if err.code == errno.EPIPE:
            return streams.BROKEN_PIPE
        return _fail(f"error: cannot write the output: {err}", streams.IO_ERROR)
    finally:
        sys.stdout = stdout


def _outcome(args: list[str]) -> int:
    """The command line's exit status; every error one line on stderr (an output error is raised)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", ShadowWarning)
            warnings.showwarning = _note
            return _run(args)
    except HelpRequested as asked:
        pages = registry.help_pages()
        if asked.command is None:
            pages.program(registry.commands())
        else:
            pages.command(asked.command)
        return 0 if args else 2  # a bare `archcalc` is a usage error that shows the help
    except UsageError as err:
        return _fail(f"error: {err}", 2)
    except ArchcalcError as err:
        return _fail(f"error: {err}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except streams.OutputError:
        raise
    except Exception as err:  # a bug of ours: still one line, never a traceback
        return _fail(f"internal error: {type(err).__name__}: {err} (please report this spec)", 1)


def _run(args: list[str]) -> int:
    """The program's own options (--version, --help; none: help), else the command named first."""
    first = args[0] if args else "--help"
    if first in ("-h", "--help"):
        raise HelpRequested(None)
    if first == "--version":
        print(f"archcalc {__version__}")
        return 0
    if first not in registry.MODULES:
        kind = "option" if first.startswith("-") else "command"
        raise UsageError(f"no such {kind} '{first}'{did_you_mean(first, list(registry.MODULES))} (see archcalc --help)")
    command = registry.load(first)
    return command.run(**command.parse(args[1:])) or 0


def _fail(line: str, status: int) -> int:
    streams.say(printable(line))
    return status


def _note(message: Warning | str, *_: Any, **__: Any) -> None:
    """A library's warning (which network a name meant) as one line on stderr."""
    streams.say(printable(f"note: {message}"))
