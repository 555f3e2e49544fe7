"""The `archcalc` command line: a thin typer layer over catalog → analysis → render.

Each command lives in its own module and registers itself on `app`.
Domain errors become one line on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import compare, table  # noqa: F401  (each registers its commands)
from . import check  # noqa: F401  (check, schema)
from . import torch  # noqa: F401  (bench, verify: torch is imported only when they run)
from .common import app


def version_callback(value: bool) -> None:
    if value:
        print(f"archcalc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Shape and cost of neural-network architectures, from a small YAML spec."""


def main() -> None:
    app()
