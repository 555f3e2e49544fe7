"""The command registry, and the one place archcalc defers imports.

`MODULES` says which module of `archcalc.cli` defines each command; `load`
imports it only when its command runs. So `archcalc table vgg16` loads
argparse, the engine and `cli/table.py`, and never torch, jsonschema, rich's
progress bars or what another command needs (tests/test_imports.py holds
this). Two more modules load on demand, through here too: the help pages
(`cli/help.py`) when help is asked for, and `cli/terminal.py` (rich) when
`table` writes to a terminal; piped, a table is plain text without rich.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from .command import REGISTERED, Command

MODULES = {  # command → its module in archcalc.cli, in the order help lists them
    "list": "networks",
    "table": "table",
    "explain": "explain",
    "sizes": "sizes",
    "compare": "compare",
    "fit": "fit",
    "check": "check",
    "schema": "schema",
    "bench": "torch",
    "verify": "torch",
    "plot": "pictures",
    "diagram": "pictures",
    "report": "pictures",
    "completion": "completion",
}


def load(name: str) -> Command:
    """The command `name`, importing the module that defines it."""
    import_module(f"{__package__}.{MODULES[name]}")
    return REGISTERED[name]


def commands() -> list[Command]:
    """Every command, in the order help lists them (importing all their modules)."""
    return [load(name) for name in MODULES]


def help_pages() -> ModuleType:
    """`cli/help.py`: help drawn with rich panels."""
    return import_module(f"{__package__}.help")


def terminal() -> ModuleType:
    """`cli/terminal.py`: rich consoles, and a report drawn as a rich table."""
    return import_module(f"{__package__}.terminal")
