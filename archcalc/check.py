"""Specs held to their checks: read, expanded, analysed and kept within budgets; findings as data.

`archcalc check` is a thin layer over `check_paths`. Every problem is a
`Finding` with where it is (file:line:col and layer path) and what it is:
`spec` (cannot be read or expanded), `shape` (an impossible layer),
`inexact` (a division that is not whole, under --strict), `budget` (a figure
over its limit) or `internal` (a bug of ours, reported, never a traceback).
A bad spec never stops the others from being checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import expand, sizes, source
from .analysis import analyze
from .budget import Budget, Limit, from_mapping, overruns
from .catalog import SUFFIXES
from .errors import ArchcalcError, Mark, ShapeError, SpecError
from .ir import Network
from .report import Report
from .symbolic import Expr

KINDS = ("spec", "shape", "inexact", "budget", "internal")


@dataclass(frozen=True)
class Finding:
    """One problem in one spec."""

    file: str
    line: int
    col: int
    layer: str  # the layer path (`layers[3].conv 'conv2'`), "budget", or "" for the whole spec
    message: str
    kind: str  # one of KINDS

    def __str__(self) -> str:
        layer = f"{self.layer}: " if self.layer else ""
        return f"{self.file}:{self.line}:{self.col}: {layer}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Result:
    """What a check found: the specs it read, in order, and every finding."""

    specs: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        specs, findings = len(self.specs), len(self.findings)
        return f"{specs} spec{'' if specs == 1 else 's'}, {findings} finding{'' if findings == 1 else 's'}"


def find_specs(paths: Iterable[str]) -> list[str]:
    """Files as given, and the *.yaml / *.yml files under directories (recursively, sorted); each once.

    Raises ArchcalcError for a path that does not exist or a directory without specs.
    """
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            inside = sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                            for name in names if name.endswith(SUFFIXES))
            inside = [p for p in inside if os.path.isfile(p)]
            if not inside:
                raise ArchcalcError(f"{path}: no *.yaml or *.yml specs in this directory")
            found.extend(inside)
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise ArchcalcError(f"{path}: no such file or directory")
    return list(dict.fromkeys(found))


def check_paths(paths: Iterable[str], budgets: Sequence[Budget] = (), *, strict: bool = False,
                batch: int = 1) -> Result:
    """Check every spec under `paths` against its own budget and `budgets` (memory at `batch` unless they say)."""
    specs = find_specs(paths)
    findings = [finding for spec in specs for finding in check_spec(spec, budgets, strict=strict, batch=batch)]
    return Result(tuple(specs), tuple(findings))


def check_spec(path: str, budgets: Sequence[Budget] = (), *, strict: bool = False, batch: int = 1) -> list[Finding]:
    """The findings of one spec file (an empty list when it is fine)."""
    try:
        return _check(path, budgets, strict, batch)
    except ArchcalcError as err:
        return [_finding(err, path)]
    except Exception as err:  # a bug of ours: say so, keep checking the other specs
        message = f"internal error: {type(err).__name__}: {source.one_line(str(err))} (please report this spec)"
        return [Finding(path, 1, 1, "", message, "internal")]


def _check(path: str, budgets: Sequence[Budget], strict: bool, batch: int) -> list[Finding]:
    network = expand.build(source.load_file(path), path, Path(path).stem)
    reports: dict[int, Report] = {1: analyze(network)}  # by batch; ShapeError stops here

    def at(size: int) -> Report:
        if size not in reports:
            reports[size] = analyze(network, size)
        return reports[size]

    findings = _inexact(network, reports[1]) if strict else []
    own = from_mapping(network.budget, lambda key, mark: f"budget.{key}", in_spec=True)
    if reports[1].symbolic and any(budget.limits for budget in (own, *budgets)):
        mark = mark_of_input(network)
        return [*findings, Finding(mark.file, mark.line, mark.col, "budget",
                                   "budgets need a concrete input; this spec's is symbolic "
                                   f"({'×'.join(map(str, network.input))})", "budget")]
    for budget in (own, *budgets):
        report = at(budget.batch or batch) if budget.memory() else reports[1]
        findings += [_budget_finding(path, over.limit, over.message()) for over in overruns(report, budget.limits)]
    return findings


def _inexact(network: Network, report: Report) -> list[Finding]:
    """Every division that is not whole, as --strict refuses them (analysis stops at the first), each
    with the input sizes at which every division would be."""
    found = []
    exact = ""
    for layer, row in zip(network.layers, report.rows):
        mark = layer.origin.mark or Mark(network.file, 1, 1)
        for flag in row.flags:
            exact = exact or _exact_sizes(network)
            found.append(Finding(mark.file, mark.line, mark.col, f"{layer.origin.path} '{layer.name}'",
                                 f"{flag} (--strict refuses inexact divisions){exact}", "inexact"))
    return found


def mark_of_input(network: Network) -> Mark:
    """Where the network's first layer was written (findings about the spec as a whole point there)."""
    return network.layers[0].origin.mark or Mark(network.file, 1, 1)


def _exact_sizes(network: Network) -> str:
    """'; exact for N ≡ 1 (mod 32): …', from the symbolic analysis of a square input (empty if there is none)."""
    if len(network.input) != 3 or any(isinstance(d, Expr) for d in network.input):
        return ""
    side = Expr.var(sizes.SIDE)
    try:
        found = sizes.sizes(analyze(network, input_shape=(network.input[0], side, side)))
    except ArchcalcError:  # a network without a closed form: the finding stands without the rule
        return ""
    return f"; inexact at {network.input[1]}×{network.input[2]}, exact for {found.rule()}"


def _budget_finding(path: str, limit: Limit, message: str) -> Finding:
    mark = limit.mark or Mark(path, 1, 1)
    return Finding(mark.file, mark.line, mark.col, "budget" if limit.mark else "", message, "budget")


def _finding(err: ArchcalcError, path: str) -> Finding:
    if isinstance(err, SpecError):
        mark = err.mark or Mark(path, 1, 1)
        kind = "shape" if isinstance(err, ShapeError) else "spec"
        return Finding(mark.file, mark.line, mark.col, err.path, err.message, kind)
    return Finding(path, 1, 1, "", str(err), "spec")


def github_annotation(finding: Finding) -> str:
    """A GitHub Actions workflow command that marks the finding on its line."""
    text = f"{finding.layer}: {finding.message}" if finding.layer else finding.message
    return (f"::error file={_escape(finding.file, True)},line={finding.line},col={finding.col}"
            f"::{_escape(text, False)}")


def _escape(text: str, property_value: bool) -> str:
    """Workflow-command escaping: %, CR and LF always; ':' and ',' inside property values."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text
