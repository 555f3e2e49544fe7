"""Help pages, drawn with rich: usage, the command's docstring, then its arguments and options in panels."""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .command import Command, Param, flag
from .streams import width

PROGRAM = ("Shape and cost of neural-network architectures, from a small YAML spec.\n\n"
           "Examples: archcalc table vgg16 · archcalc explain alexnet conv1 · archcalc list")
HELP = flag("--help", "-h", help="Show this message and exit.")
VERSION = flag("--version", help="Show the version and exit.")


def command(cmd: Command) -> None:
    """The help of one command: usage, its docstring, its arguments and options."""
    arguments = [p for p in cmd.params if not p.flags]
    options = [p for p in cmd.params if p.flags] + [HELP]
    console = _page(usage(cmd), cmd.doc)
    if arguments:
        console.print(_panel("Arguments", (_row(p) for p in arguments)))
    console.print(_panel("Options", (_row(p) for p in options)))


def program(commands: Iterable[Command]) -> None:
    """The help of archcalc itself: usage, its options, and every command with its summary."""
    console = _page("archcalc [OPTIONS] COMMAND [ARGS]...", PROGRAM)
    console.print(_panel("Options", (_row(p) for p in (VERSION, HELP))))
    console.print(_panel("Commands", ((Text(c.name, style="bold cyan"), Text(paragraphs(c.doc)[0])) for c in commands)))


def paragraphs(doc: str) -> list[str]:
    """A docstring's paragraphs, each on one line, for rich to wrap to the terminal."""
    blocks = "\n".join(line.strip() for line in doc.strip().splitlines()).split("\n\n")
    return [" ".join(block.split()) for block in blocks if block.strip()] or [""]


def usage(cmd: Command) -> str:
    """The command's usage line: archcalc compare [OPTIONS] NET|PATH…"""
    return " ".join([f"archcalc {cmd.name}", "[OPTIONS]", *(_shown(p) for p in cmd.params if not p.flags)])


def default(param: Param) -> str:
    """What help shows as a parameter's default ("" for none)."""
    return param.shown_default or ("" if param.is_flag or param.default is None else str(param.default))


def _page(usage: str, doc: str) -> Console:
    console = Console(highlight=False, markup=False, emoji=False, width=width())
    console.print(Padding(Text.assemble(("Usage: ", "yellow"), (usage, "bold")), (1, 1, 0, 1)))
    for paragraph in paragraphs(doc):
        console.print(Padding(Text(paragraph), (1, 1, 0, 1)))
    console.print()
    return console


def _shown(param: Param) -> str:
    """How an argument stands in the usage line: NET, [NET], NET…, [NET…]"""
    return f"[{param.metavar}]" if param.nargs in ("?", "*") else param.metavar


def _row(param: Param) -> tuple[Text, ...]:
    longs = ", ".join(f for f in param.flags if f.startswith("--"))
    shorts = ", ".join(f for f in param.flags if not f.startswith("--"))
    text = Text(param.help)
    if default(param):
        text.append(f" [default: {default(param)}]", style="dim")
    if param.required:
        text.append(" [required]", style="dim red")
    marker = Text("*" if param.required else "", style="red")
    if not param.flags:
        return marker, Text(param.metavar, style="bold cyan"), text
    value = Text("" if param.is_flag else param.metavar, style="bold yellow")
    return marker, Text(longs, style="bold cyan"), Text(shorts, style="bold green"), value, text


def _panel(title: str, rows: Iterable[tuple[Text, ...]]) -> Panel:
    grid = Table.grid(padding=(0, 1))
    rows = list(rows)
    for _ in range(len(rows[0]) - 1):
        grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for row in rows:
        grid.add_row(*row)
    return Panel(grid, title=title, title_align="left", border_style="dim", box=box.ROUNDED)
