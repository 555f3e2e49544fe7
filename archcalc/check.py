"""Specs held to their checks: read, expanded, analysed and kept within budgets; findings as data.

`archcalc check` is a thin layer over `check_paths`. Every problem is a
`Finding` with where it is (file:line:col and layer path) and what it is:
`file` (not read: a symbolic link check does not follow, not a regular
file, a directory it cannot list), `spec` (cannot be read or expanded), `shape` (an impossible layer),
`inexact` (a division that is not whole, under --strict), `unread` (a layer
whose output no layer reads: a typo in a `from:`), `budget` (a figure
over its limit) or `internal` (a bug of ours, reported, never a traceback).
A bad spec never stops the others from being checked, and a spec's own
mistakes are found together: every unknown key, kind and budget key (what
could not be read is passed over), and every impossible layer that does not
read one (`analysis.Unfinished`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from . import expand, render, safe, sizes, source
from .analysis import Unfinished, analyze
from .budget import Budget, Limit, from_mapping, overruns
from .catalog import SUFFIXES
from .errors import ArchcalcError, Mark, ShapeError, SpecError, each_error
from .ir import HOLE, UNREAD, Layer, Network
from .links import link_problem
from .plan import Plan
from .report import Report
from .symbolic import Expr

KINDS = ("file", "spec", "shape", "inexact", "unread", "budget", "internal")


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
        """`file:line:col: layer: message`, safe to show in a terminal or a CI log (see `safe`)."""
        layer = f"{safe.printable(self.layer)}: " if self.layer else ""
        return f"{safe.path(self.file)}:{self.line}:{self.col}: {layer}{safe.printable(self.message)}"

    def to_dict(self) -> dict[str, object]:
        """The finding for JSON, its texts safe to show (and so valid UTF-8, whatever the file's name)."""
        data = asdict(self)
        data.update(file=safe.path(self.file), layer=safe.printable(self.layer), message=safe.printable(self.message))
        return data


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


class Found(NamedTuple):
    """A spec file to check, or one check does not read, with why (`problem`)."""

    path: str
    problem: str = ""


def find_specs(paths: Iterable[str]) -> list[Found]:
    """Files as given, and the *.yaml / *.yml entries under directories (recursively, sorted); each once.

    Only regular files are read. A symbolic link is followed only to a regular file inside the tree it
    was found in (the directory given; for a path given itself, the working directory); any other link
    (dangling, looping, leaving the tree), and anything that is not a regular file (a FIFO, a device, a
    directory named *.yaml) or cannot be listed, is returned with its problem, never read and never
    skipped in silence. Raises ArchcalcError for a path that does not exist or a directory without specs.
    """
    found: list[Found] = []
    here = os.path.realpath(os.curdir)
    for path in paths:
        if not os.path.lexists(path):
            raise ArchcalcError(f"{path}: no such file or directory")
        problem = link_problem(path, here)
        if not problem and os.path.isdir(path):
            inside = _walk(path)
            if not inside:
                raise ArchcalcError(f"{path}: no *.yaml or *.yml specs in this directory")
            found.extend(inside)
        else:
            found.append(Found(path, problem or _kind_problem(path)))
    return list(dict.fromkeys(found))


def _walk(top: str) -> list[Found]:
    """The spec entries under the directory `top`, without following links to directories."""
    tree = os.path.realpath(top)
    entries: list[Found] = []

    def unreadable(err: OSError) -> None:
        entries.append(Found(err.filename or top, f"cannot list this directory: {err.strerror or err}; not checked"))

    for root, dirs, names in _tree(top, unreadable):
        for name in dirs:  # links to directories are never descended (one inside the tree is searched anyway)
            path = os.path.join(root, name)
            if os.path.islink(path) and (name.endswith(SUFFIXES) or link_problem(path, tree)):
                entries.append(Found(path, link_problem(path, tree, "a directory") or _kind_problem(path)))
        for name in names:
            if name.endswith(SUFFIXES):
                path = os.path.join(root, name)
                entries.append(Found(path, link_problem(path, tree) or _kind_problem(path)))
    return sorted(entries, key=lambda entry: entry.path)


def _tree(top: str, onerror: Callable[[OSError], None]) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk's (root, directories, files), top down, links to directories not descended, without recursion:
    Python 3.11's os.walk recurses once a level, and a tree 1,200 directories deep exhausts the stack."""
    pending = [top]
    while pending:
        root = pending.pop()
        try:
            with os.scandir(root) as listing:
                entries = list(listing)
        except OSError as err:
            onerror(err)
            continue
        dirs, files = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # a link to a directory counts as one, as in os.walk
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(entry.name)
        yield root, dirs, files
        pending.extend(path for path in (os.path.join(root, name) for name in dirs) if not os.path.islink(path))


def _kind_problem(path: str) -> str:
    """Why `path` (links followed) is not read: it is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return f"cannot read: {err.strerror or err}; not checked"
    if stat.S_ISREG(mode):
        return ""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    kind = next((name for test, name in kinds if test(mode)), "not a file")
    return f"not a regular file ({kind}); not read"


def check_paths(paths: Iterable[str], budgets: Sequence[Budget] = (), *, strict: bool = False,
                batch: int = 1, plan: Mapping[str, Any] | None = None) -> Result:
    """Check every spec under `paths` against its own budget and `budgets` (memory at `batch`, a training step
    under `plan`'s keys (budget.PLAN_KEYS), unless they say)."""
    specs = find_specs(paths)
    findings = [finding for spec in specs for finding in
                ([Finding(spec.path, 1, 1, "", spec.problem, "file")] if spec.problem
                 else check_spec(spec.path, budgets, strict=strict, batch=batch, plan=plan))]
    return Result(tuple(spec.path for spec in specs), tuple(findings))


def check_spec(path: str, budgets: Sequence[Budget] = (), *, strict: bool = False, batch: int = 1,
               plan: Mapping[str, Any] | None = None) -> list[Finding]:
    """The findings of one spec file (an empty list when it is fine), each once."""
    try:
        found = _check(path, budgets, strict, batch, plan or {})
    except SpecError as err:
        found = [_finding(one, path) for one in each_error(err)]
    except ArchcalcError as err:
        return [_finding(err, path)]
    except Exception as err:  # a bug of ours: say so, keep checking the other specs
        message = f"internal error: {type(err).__name__}: {source.one_line(str(err))} (please report this spec)"
        return [Finding(path, 1, 1, "", message, "internal")]
    unique: dict[tuple, Finding] = {}  # a mistake inside a block is found in each of its instances: once is enough
    for finding in found:
        unique.setdefault((finding.file, finding.line, finding.col, finding.message, finding.kind), finding)
    return list(unique.values())


def _check(path: str, budgets: Sequence[Budget], strict: bool, batch: int, plan: Mapping[str, Any]) -> list[Finding]:
    read: list[SpecError] = []  # what expansion could not read, collected: the rest is expanded
    try:
        network = expand.build(source.load_file(path), path, Path(path).stem, found=read)
    except SpecError as err:  # what stops the expansion (a limit, a missing 'layers'), after what it had found
        return [_finding(one, path) for one in (*read, *each_error(err))]
    findings = [_finding(err, path) for err in read]
    unread = [] if HOLE in network.outputs else _unread(network)  # a hole reads layers no layer reads
    try:
        first = analyze(network, collect=True)
    except Unfinished as err:
        return [*findings, *(_finding(one, path) for one in err.errors),
                *(_inexact(network, err.flagged) if strict else []), *unread]
    findings += [*unread, *(_inexact(network, list(zip(network.layers, (row.flags for row in first.rows))))
                            if strict else [])]
    own = from_mapping(network.budget, lambda key, mark: f"budget.{key}", in_spec=True)
    if first.symbolic and any(budget.limits for budget in (own, *budgets)):
        mark = mark_of_input(network)
        return [*findings, Finding(mark.file, mark.line, mark.col, "budget",
                                   "budgets need a concrete input; this spec's is symbolic "
                                   f"({render.shape(network.input)})", "budget")]
    reports: dict[tuple[int, Plan], Report] = {(1, Plan()): first}  # by batch and plan
    for budget in (own, *budgets):
        size, steps = (budget.batch or batch, Plan(**{**plan, **budget.plan})) if budget.memory() else (1, Plan())
        if (size, steps) not in reports:
            reports[size, steps] = steps.analyze(network, size)
        findings += [_budget_finding(path, over.limit, over.message())
                     for over in overruns(reports[size, steps], budget.limits, steps.text())]
    return findings


def _inexact(network: Network, flagged: Sequence[tuple[Layer, Sequence[str]]]) -> list[Finding]:
    """Every division that is not whole, as --strict refuses them (analysis stops at the first), each
    with the input sizes at which every division would be; `flagged`: the layers evaluated, with their flags."""
    found = []
    exact = ""
    for layer, flags in flagged:
        mark = layer.origin.mark or Mark(network.file, 1, 1)
        for flag in flags:
            exact = exact or _exact_sizes(network)
            found.append(Finding(mark.file, mark.line, mark.col, f"{layer.origin.path} '{layer.name}'",
                                 f"{flag} (--strict refuses inexact divisions){exact}", "inexact"))
    return found


def _unread(network: Network) -> list[Finding]:
    """Every layer whose output no layer reads (but the last and the declared outputs)."""
    return [Finding(*_position(layer.origin.mark, network), f"{layer.origin.path} '{layer.name}'", UNREAD, "unread")
            for layer in network.unread()]


def _position(mark: Mark | None, network: Network) -> tuple[str, int, int]:
    mark = mark or Mark(network.file, 1, 1)
    return mark.file, mark.line, mark.col


def mark_of_input(network: Network) -> Mark:
    """Where the network's first layer was written (findings about the spec as a whole point there)."""
    return network.layers[0].origin.mark or Mark(network.file, 1, 1)


def _exact_sizes(network: Network) -> str:
    """'; exact for N ≡ 1 (mod 32): …', from the symbolic analysis of a square input (empty if there is none)."""
    if len(network.input) != 3 or any(isinstance(d, Expr) for d in network.input):
        return ""
    try:
        found = sizes.sizes(analyze(network, input_shape=sizes.square_input(network, "check")))
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
    return (f"::error file={_escape(safe.path(finding.file), True)},line={finding.line},col={finding.col}"
            f"::{_escape(safe.printable(text), False)}")


def _escape(text: str, property_value: bool) -> str:
    """Workflow-command escaping: %, CR and LF always; ':' and ',' inside property values."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text
