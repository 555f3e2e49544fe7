"""A model's graph on the meta device: torch.export first, torch.fx.symbolic_trace where export fails.

Either way the result is an fx Graph whose nodes carry what the importer reads:
`meta["val"]` (the traced output: a meta or fake tensor, or a tuple of them), `meta["nn_module_stack"]`
(the modules the node ran inside, outermost first: key → (path, class)), and, for parameters and
buffers, `Traced.params` (node → its name in the model). Under fx a module with a reader is a leaf
(one call_module node), so its insides are never traced.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from ...errors import ArchcalcError


@dataclass
class Traced:
    graph: fx.Graph
    params: dict[str, str]  # node name → parameter or buffer name
    how: str  # "torch.export" or "torch.fx"
    why: str = ""  # why export was not used


class TraceError(ArchcalcError):
    """A model neither torch.export nor torch.fx can trace (data-dependent control flow …)."""


def trace(model: nn.Module, example: torch.Tensor, leaf: Callable[[nn.Module], bool]) -> Traced:
    """`model`'s graph at `example` (both on the meta device); `leaf` says which modules fx keeps whole."""
    logging.disable(logging.WARNING)  # torch logs and prints a refused graph whole: the one line below says it
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                return _export(model, example)
            except Exception as err:  # export's refusals have no one type (UserError, GuardOnDataDependent …)
                first = err
            try:
                traced = _fx(model, example, leaf)
            except Exception as err:
                raise TraceError(_refusal(first, err)) from None
    finally:
        logging.disable(logging.NOTSET)
    traced.why = _first_line(first)
    return traced


def _export(model: nn.Module, example: torch.Tensor) -> Traced:
    program = torch.export.export(model, (example,), strict=False)
    signature = program.graph_signature
    params = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
    return Traced(program.graph, params, "torch.export")


class _Leaves(fx.Tracer):
    def __init__(self, leaf: Callable[[nn.Module], bool]):
        super().__init__()
        self.leaf = leaf

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return self.leaf(m) or super().is_leaf_module(m, qualname)


def _fx(model: nn.Module, example: torch.Tensor, leaf: Callable[[nn.Module], bool]) -> Traced:
    graph = _Leaves(leaf).trace(model)
    module = fx.GraphModule(model, graph)
    _Values(module).run(example)
    params = {}
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "get_attr":
            params[node.name] = node.target
        elif node.op == "call_module":  # keyed as export keys a module's calls: path, then path@1, path@2 …
            n = calls[node.target] = calls.get(node.target, -1) + 1
            key = node.target + (f"@{n}" if n else "")
            node.meta["nn_module_stack"] = {key: (node.target, type(module.get_submodule(node.target)))}
    return Traced(graph, params, "torch.fx")


class _Values(fx.Interpreter):
    """Runs the graph, keeping each node's output as export does, in meta["val"]."""

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        n.meta["val"] = value
        return value


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _refusal(export_err: BaseException, fx_err: BaseException) -> str:
    """One line: where in the user's code tracing stopped, and what to try."""
    where = _user_line(export_err) or _user_line(fx_err)
    data = re.search(r"data.dependent|GuardOnDataDependent|symbolically traced variables cannot be used as inputs "
                     r"to control flow|Could not guard|item\(\)", f"{export_err} {fx_err}")
    cause = ("control flow or a value that depends on the input's data" if data else _first_line(export_err))
    return (f"cannot trace the model{' at ' + where if where else ''}: {cause}; torch.export and torch.fx both "
            "refused (try another --input, or make the branch depend on shapes only)")


def _user_line(err: BaseException) -> str:
    """The last frame of the traceback outside torch and archcalc: the user's line."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not f.filename.startswith("<") and "/torch/" not in f.filename and "/archcalc/" not in f.filename and "/torchvision/" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} ({(frame.line or '').strip()[:80]})"
