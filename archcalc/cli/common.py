"""What every command shares: the app, its options, error reporting, output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.console import Console

from .. import catalog, render
from ..analysis import analyze
from ..errors import ArchcalcError
from ..ir import Network
from ..report import Report
from ..units import DTYPE_BYTES

app = typer.Typer(
    help="Shape and cost of neural-network architectures, from a small YAML spec.\n\n"
    "Examples: archcalc table vgg16 · archcalc explain alexnet conv1 · archcalc list",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

def choices(name: str, values) -> type[Enum]:
    """A str Enum of `values`, which typer shows and checks as the option's choices."""
    return Enum(name, {value: value for value in values}, type=str)  # type: ignore[return-value]


Dtype = choices("Dtype", DTYPE_BYTES)
Format = choices("Format", render.FORMATS)

NetArg = Annotated[str, typer.Argument(help="A bundled network (see `archcalc list`) or a path to a .yaml spec.",
                                        show_default=False, metavar="NET|PATH")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size for every byte figure.")]
DtypeOpt = Annotated[Dtype, typer.Option("--dtype", help="Element type for byte figures.")]
InputOpt = Annotated[Optional[str], typer.Option("--input", "-i", help="Override the spec's input, e.g. 3x224x224.",
                                                  show_default=False)]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Make a division that is not whole an error.")]


def out_console() -> Console:
    """Rich in a terminal; plain, unwrapped text when piped (rich honours NO_COLOR)."""
    piped = not sys.stdout.isatty()
    return Console(highlight=False, width=10_000 if piped else None, soft_wrap=piped)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def reporting() -> Iterator[None]:
    """Turn archcalc's own errors into one clean stderr line and exit 1."""
    try:
        yield
    except ArchcalcError as err:
        err_console().print(f"error: {err}", markup=False)
        raise typer.Exit(1) from None
    except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
        raise  # typer's own: usage errors exit 2
    except Exception as err:  # a bug of ours: still one line, never a traceback
        err_console().print(f"internal error: {type(err).__name__}: {err} (please report this spec)", markup=False)
        raise typer.Exit(1) from None


def parse_input(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) not in (1, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise typer.BadParameter(f"expected C×H×W such as 3x224x224; received '{text}'", param_hint="--input")
    return tuple(int(p) for p in parts)


def load_report(net: str, batch: int = 1, dtype: str = "float32", input_text: str | None = None,
                strict: bool = False, optimizer: str = "sgd") -> tuple[Network, Report]:
    shape = parse_input(input_text)
    network = catalog.load(net)
    return network, analyze(network, batch, dtype, strict=strict, input_shape=shape, optimizer=optimizer)


def emit(report: Report, fmt: str, formulas: bool = False, memory: bool = False) -> None:
    if fmt == "table":
        render.table(report, out_console(), formulas, memory)
        return
    if fmt == "markdown":
        text = render.to_markdown(report, memory)
    else:
        text = {"json": render.to_json, "csv": render.to_csv}[fmt](report)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


