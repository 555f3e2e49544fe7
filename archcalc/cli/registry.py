"""The command registry, and the one place archcalc defers imports.

`MODULES` says which module of `archcalc.cli` defines each command, and
`SUMMARIES` its one line in `archcalc --help`; `load` imports the module only
when its command runs or its own help is asked for. So `archcalc table
vgg16` loads typer, the engine and `cli/table.py`, and never torch,
jsonschema, rich's progress bars or what another command needs
(tests/test_imports.py holds this), and `archcalc --help` or `--version`
loads no engine module at all. `cli/terminal.py` (rich) loads through here
too, when `table` writes to a terminal; piped, a table is plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from types import ModuleType

from .command import REGISTERED

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
SUMMARIES = {  # the first sentence of each command's docstring (tests/test_cli.py holds them equal)
    "list": "List the bundled networks: parameters, MACs, input and source.",
    "table": "One row per layer: output shape, parameters, MACs, activation memory, receptive field; totals "
             "below.",
    "explain": "The worked arithmetic of one layer: shape, parameters, MACs, memory, receptive field.",
    "sizes": "Which square inputs C×N×N a network accepts, and at which every division is whole.",
    "compare": "Networks side by side: depth, parameters, MACs, FLOPs, training-step MACs, activation sum, "
               "inference peak and training memory, with ratios to the first.",
    "fit": "The largest batch, square input or sequence whose step fits a device's memory (inference, training or "
           "serving), or with --batch N whether that batch fits; after a reserve and a fragmentation allowance.",
    "check": "Check specs for CI: each is read, expanded and analysed; every error, and every figure over a "
             "budget, is a finding.",
    "schema": "Print a JSON Schema (draft 2020-12) of the spec language, for editors and validators.",
    "bench": "Time the network's forward pass with torch: median, p10, p90, images/s, achieved GFLOP/s.",
    "verify": "Check the engine's figures against torch; exit 1 with a diff table on any mismatch.",
    "plot": "Draw a network's activation memory and parameters per layer and its inference memory timeline; or "
            "several networks as points of MACs against parameters, marker area by activation memory.",
    "diagram": "Print the network's graph: one node per layer (kind, output shape, parameters), blocks as "
               "clusters; identity shortcuts are dashed edges, merges small nodes.",
    "report": "Write one self-contained HTML file: per network its table (sortable), totals, plots and diagram;"
              " a comparison when there are several.",
    "completion": "Print the shell completion script for bash, zsh or fish (typer's, as --show-completion "
                  "prints it).",
}


def load(name: str) -> Callable[..., int | None]:
    """The function of the command `name`, importing the module that defines it."""
    import_module(f"{__package__}.{MODULES[name]}")
    return REGISTERED[name]


def terminal() -> ModuleType:
    """`cli/terminal.py`: rich consoles, and a report drawn as a rich table."""
    return import_module(f"{__package__}.terminal")
