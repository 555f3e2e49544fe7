"""`check` (specs in CI: shape errors and budgets) and `schema` (a JSON Schema of the spec language)."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from ..budget import Budget, from_options, load_budget_file
from ..check import check_paths, github_annotation
from ..errors import ArchcalcError
from ..schema import spec_schema
from .common import StrictOpt, app, err_console


class CheckFormat(str, Enum):
    text = "text"
    github = "github"
    json = "json"


def _max(option: str, example: str, what: str):
    return typer.Option(option, help=f"Fail a spec whose {what} exceeds this, e.g. {example}.", show_default=False,
                        metavar="SIZE" if example.endswith("B") else "COUNT")


@app.command("check")
def check_command(
    paths: Annotated[list[str], typer.Argument(help="Spec files, or directories searched recursively for *.yaml and *.yml.",
                                               show_default=False, metavar="PATH")],
    budget_file: Annotated[Optional[str], typer.Option("--budget", help="A YAML file of budgets, the keys of a spec's "
                                                        "budget: params, macs, activation_memory, inference_memory, "
                                                        "train_memory, batch.", show_default=False, metavar="FILE")] = None,
    max_params: Annotated[Optional[str], _max("--max-params", "25M", "parameter count")] = None,
    max_macs: Annotated[Optional[str], _max("--max-macs", "4G", "MAC count (per sample)")] = None,
    max_activation_memory: Annotated[Optional[str], _max("--max-activation-memory", "512MiB", "activation sum")] = None,
    max_inference_memory: Annotated[Optional[str], _max("--max-inference-memory", "2GiB",
                                                        "inference memory (peak activations, weights, buffers)")] = None,
    max_train_memory: Annotated[Optional[str], _max("--max-train-memory", "8GiB",
                                                    "training memory (saved activations, weights, gradients, buffers; sgd)")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", "-b", min=1, max=10**9, help="Batch size of memory budgets "
                                                 "that do not give their own (default 1).", show_default=False)] = None,
    strict: StrictOpt = False,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="text (file:line:col: layer: message), github "
                                             "(workflow annotations) or json (a list of findings).")] = CheckFormat.text,
) -> None:
    """Check specs for CI: each is read, expanded and analysed; every error, and every figure over a budget, is a finding.

    Budgets come from each spec's own `budget:` mapping, from --budget FILE and from the --max-* options; all hold.
    Exit 0 when clean, 1 with findings, 2 on a usage error.

    Examples: archcalc check specs/ · archcalc check specs/ --max-params 25M --max-macs 4G ·
    archcalc check net.yaml --max-train-memory 8GiB --batch 32 --format github
    """
    try:
        budgets: list[Budget] = [load_budget_file(budget_file)] if budget_file else []
        options = {"params": max_params, "macs": max_macs, "activation_memory": max_activation_memory,
                   "inference_memory": max_inference_memory, "train_memory": max_train_memory}
        budgets.append(from_options(options, None))
        result = check_paths(paths, budgets, strict=strict, batch=batch or 1)
    except ArchcalcError as err:  # a missing path, a bad option or budget file: usage errors
        err_console().print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None
    if fmt == CheckFormat.json:
        sys.stdout.write(json.dumps([f.to_dict() for f in result.findings], indent=2, ensure_ascii=False) + "\n")
    else:
        show = github_annotation if fmt == CheckFormat.github else str
        lines = [show(finding) for finding in result.findings] + [result.summary()]
        sys.stdout.write("\n".join(lines) + "\n")
    if not result.ok:
        raise typer.Exit(1)


@app.command("schema")
def schema_command() -> None:
    """Print a JSON Schema (draft 2020-12) of the spec language, for editors and validators.

    Example: archcalc schema > archcalc.schema.json  (then point your editor's YAML language server at it)
    """
    sys.stdout.write(json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n")
