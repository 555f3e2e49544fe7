"""The `archcalc` command line, on typer: the program, its commands loaded when named, and its exit statuses.

Which module defines each command, imported only when it runs or its help
is asked for, is `cli/registry.py`. Domain errors become one line on stderr
and exit 1; usage errors one line and exit 2; `-h`/`--help` anywhere shows
help and exits 0; output that cannot be written exits 141 or 74.
"""

from __future__ import annotations

import errno
import sys
import warnings
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import click
import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo
from typer.utils import get_params_from_function

from .. import __version__
from ..errors import ArchcalcError, ShadowWarning, did_you_mean
from ..safe import printable
from . import registry, streams
from .command import UsageError, paragraphs

PROGRAM = ("Shape and cost of neural-network architectures, from a small YAML spec.\n\n"
           "Examples: archcalc table vgg16 · archcalc explain alexnet conv1 · archcalc list")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": streams.MAX_WIDTH}


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


def typer_app() -> typer.Typer:
    """archcalc as a typer app: rich help in a terminal, plain help when piped."""
    made = typer.Typer(cls=_Commands, name="archcalc", help=PROGRAM, no_args_is_help=True, context_settings=CONTEXT,
                       rich_markup_mode="rich" if sys.stdout.isatty() else None)
    made.callback()(_program_options)
    return made


def program() -> click.Group:
    """archcalc as the click group typer makes of it."""
    return typer.main.get_command(typer_app())  # type: ignore[return-value]


def commands() -> list[click.Command]:
    """Every command as typer makes it, in the order help lists them (importing all their modules)."""
    group = program()
    context = click.Context(group, info_name="archcalc")
    return [group.get_command(context, name) for name in registry.MODULES]  # type: ignore[misc]


def _show_version(asked: bool) -> None:
    if asked:
        print(f"archcalc {__version__}")
        raise typer.Exit()


def _program_options(version: Annotated[bool, typer.Option("--version", help="Show the version and exit.",
                                                           is_eager=True, callback=_show_version)] = False) -> None:
    """archcalc's own options (typer adds --install-completion and --show-completion)."""


class _Commands(TyperGroup):
    """The commands of the registry, each imported and made a click command by typer when it is named. Listed
    in the program's help, each is a stand-in with its summary: the help imports no command (nor the engine)."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(registry.MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in registry.MODULES:
            return None
        if self.listing:
            return click.Command(cmd_name, short_help=registry.SUMMARIES[cmd_name])
        run = registry.load(cmd_name)
        info = CommandInfo(name=cmd_name, callback=run, context_settings=CONTEXT, cls=_Command,
                           help="\n\n".join(paragraphs(run.__doc__ or "")))  # each paragraph wrapped to the width
        made = get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode)
        declared = get_params_from_function(run)
        for param in made.params:  # typer 0.24 hands an argument's help to click 8.3+ too late: click clears it
            if isinstance(param, click.Argument) and param.help is None and param.name in declared:
                param.help = getattr(declared[param.name].default, "help", None)
        return made

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name not in registry.MODULES:
            kind = "option" if name.startswith("-") else "command"
            raise UsageError(f"no such {kind} '{name}'{did_you_mean(name, list(registry.MODULES))} "
                             "(see archcalc --help)")
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


class _Command(TyperCommand):
    def format_arguments(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Nothing: typer lists the arguments with the options (click 8.3+ would list them twice)."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.rich_markup_mode:
            from typer import rich_utils

            _fold_option_help(rich_utils)
        super().format_help(ctx, formatter)


def _fold_option_help(rich_utils: Any) -> None:
    """typer draws an option's help in a table column, where rich cuts a word longer than the column (a
    model name, `torchvision:googlenet(aux_logits=True)`) with "…"; folded instead, as typer folds metavars.
    (typer is pinned to 0.24, whose `_get_parameter_help` returns the help as rich Columns of Text.)"""
    made = rich_utils._get_parameter_help
    if getattr(made, "folds", False):
        return

    def folded(**kwargs: Any) -> Any:
        columns = made(**kwargs)
        for item in columns.renderables:
            if hasattr(item, "overflow"):
                item.overflow = "fold"
        return columns

    folded.folds = True  # type: ignore[attr-defined]
    rich_utils._get_parameter_help = folded


def _outcome(args: list[str]) -> int:
    """The command line's exit status; every error one line on stderr (an output error is raised)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", ShadowWarning)
            warnings.showwarning = _note
            status = program().main(args, prog_name="archcalc", complete_var="_ARCHCALC_COMPLETE",
                                    standalone_mode=False)
            return status or 0
    except click.exceptions.NoArgsIsHelpError as bare:  # a bare `archcalc`: the help, as a usage error
        print(bare.ctx.get_help() if bare.ctx else "")
        return 2
    except click.UsageError as err:
        return _fail(f"error: {_usage_line(err)}", 2)
    except UsageError as err:
        return _fail(f"error: {err}", 2)
    except ArchcalcError as err:
        return _fail(f"error: {err}", 1)
    except (KeyboardInterrupt, click.Abort):
        return _fail("interrupted", 130)
    except SystemExit as done:  # typer's --show-completion and the shell's completion requests end so
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except streams.OutputError:
        raise
    except Exception as err:  # a bug of ours: still one line, never a traceback
        return _fail(f"internal error: {type(err).__name__}: {err} (please report this spec)", 1)


def _usage_line(err: click.UsageError) -> str:
    """click's usage error as one line: a bad value after the option's names (`--batch/-b: expected …`)."""
    message = " ".join(err.format_message().split())
    if isinstance(err, click.BadParameter) and not isinstance(err, click.MissingParameter) and err.param is not None:
        names = "/".join(err.param.opts) if isinstance(err.param, click.Option) else err.param.human_readable_name
        message = f"{names}: {err.message}"
    where = err.ctx.command_path if err.ctx is not None else "archcalc"
    return f"{message} (see {where} --help)"


def _fail(line: str, status: int) -> int:
    streams.say(printable(line))
    return status


def _note(message: Warning | str, *_: Any, **__: Any) -> None:
    """A library's warning (which network a name meant) as one line on stderr."""
    streams.say(printable(f"note: {message}"))
