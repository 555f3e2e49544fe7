"""`check`: specs held to their checks in CI (shape errors and budgets), findings as text, annotations or JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

from .. import segments
from ..budget import Budget, from_options, load_budget_file
from ..check import check_paths, github_annotation
from ..errors import ArchcalcError
from ..report import MAX_BATCH
from ..states import OPTIMIZER_STATES
from .command import UsageError, argument, command, integer, option
from .common import STRICT
from .plan import CHECKPOINT, PRECISION


def _max(name: str, example: str, what: str) -> Any:
    """A --max-* budget option: its value is read with the budget (a usage error when it does not parse)."""
    return Annotated[Optional[str], option(name, metavar="SIZE" if example.endswith("B") else "COUNT",
                                           help=f"Fail a spec whose {what} exceeds this, e.g. {example}.")]


@command("check")
def check_command(
    paths: Annotated[list[str], argument("PATH", "Spec files, or directories searched recursively for *.yaml and "
                                                 "*.yml.")],
    budget_file: Annotated[Optional[str], option("--budget", metavar="FILE",
                                                 help="A YAML file of budgets, the keys of a spec's budget: params, "
                                                      "macs, activation_memory, inference_memory, train_memory, "
                                                      "batch, optimizer, precision, checkpoint.")] = None,
    max_params: _max("--max-params", "25M", "parameter count") = None,
    max_macs: _max("--max-macs", "4G", "MAC count (per sample)") = None,
    max_activation_memory: _max("--max-activation-memory", "512MiB", "activation sum") = None,
    max_inference_memory: _max("--max-inference-memory", "2GiB",
                               "inference memory (peak activations, weights, buffers)") = None,
    max_train_memory: _max("--max-train-memory", "8GiB",
                           "training memory (saved activations, weights, gradients, optimizer state, buffers)") = None,
    batch: Annotated[Optional[int], option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH),
                                           help="Batch size of memory budgets that do not give their own "
                                                "(default 1).")] = None,
    optimizer: Annotated[Optional[str], option("--optimizer", choices=tuple(OPTIMIZER_STATES), shown_default="sgd",
                                               help="The optimizer of a training budget's step (sgd 0, momentum 1, "
                                                    "adam 2 state tensors per parameter).")] = None,
    precision: PRECISION = None, checkpoint: CHECKPOINT = None,
    strict: STRICT = False,
    fmt: Annotated[str, option("--format", "-f", choices=("text", "github", "json"),
                               help="text (file:line:col: layer: message), github (workflow annotations) or json (a "
                                    "list of findings).")] = "text",
) -> int:
    """Check specs for CI: each is read, expanded and analysed; every error, and every figure over a budget, is a finding.

    Budgets come from each spec's own `budget:` mapping, from --budget FILE and from the --max-* options; all hold.
    A training budget prices the step that --optimizer, --precision and --checkpoint plan (sgd, fp32, none unless
    told), where the budget does not name its own. Every mistake of a spec is a finding in one run: each unknown
    key, kind or budget key, each impossible layer the others do not depend on. Exit 0 when clean, 1 with
    findings, 2 on a usage error.

    Examples: archcalc check specs/ · archcalc check specs/ --max-params 25M --max-macs 4G ·
    archcalc check net.yaml --max-train-memory 8GiB --batch 32 --format github ·
    archcalc check net.yaml --max-train-memory 24GiB --batch 64 --optimizer adam --precision amp-bf16
    """
    try:
        budgets: list[Budget] = [load_budget_file(budget_file)] if budget_file else []
        options = {"params": max_params, "macs": max_macs, "activation_memory": max_activation_memory,
                   "inference_memory": max_inference_memory, "train_memory": max_train_memory}
        budgets.append(from_options(options, None))
        plan = {key: value for key, value in (("optimizer", optimizer), ("precision", precision),
                                              ("checkpoint", segments.chosen(checkpoint))) if value is not None}
        result = check_paths(paths, budgets, strict=strict, batch=batch or 1, plan=plan)
    except ArchcalcError as err:  # a missing path, a bad option or budget file: usage errors
        raise UsageError(str(err)) from None
    if fmt == "json":
        sys.stdout.write(json.dumps([f.to_dict() for f in result.findings], indent=2, ensure_ascii=False) + "\n")
    else:
        show = github_annotation if fmt == "github" else str
        lines = [show(finding) for finding in result.findings] + [result.summary()]
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if result.ok else 1
