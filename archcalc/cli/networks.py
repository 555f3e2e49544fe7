"""`list`: the bundled networks, one line each."""

from __future__ import annotations

import sys
from typing import Annotated

from .. import api, render
from .command import command, option
from .terminal import draw, out_console


@command("list")
def list_networks(fmt: Annotated[str, option("--format", "-f", choices=("table", "json"),
                                             help="table (terminal) or json (a list of {name, title, source, input, "
                                                  "params, active_params, macs}).")] = "table") -> None:
    """List the bundled networks: parameters, MACs, input and source.

    Examples: archcalc list · archcalc list --format json
    """
    networks = api.networks()
    if fmt == "json":
        sys.stdout.write(render.dumps(networks) + "\n")
        return
    rows = [[n["name"], render.params_count(n["params"], n["active_params"]), render.count(n["macs"]),
             render.shape(n["input"]), n["source"]] for n in networks]
    draw(out_console(), ["Network", "Params", "MACs", "Input", "Source"], [False, True, True, False, False], rows,
         drop=("Input",))

