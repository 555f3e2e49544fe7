"""Input sizes: a network analysed once for a symbolic input, then evaluated, checked and solved.

`analyze(net, input_shape=(3, H, W))` gives every figure as an expression
and records what each layer needs of the input (`symbolic.Condition`): an
output of at least one (validity) and a stride that divides (exactness).
Here those results are evaluated at a size (`at`), read as rules (`sizes`:
the smallest input every layer accepts, the residues at which every division
is whole), and solved (`largest_input`: the largest square input whose memory
fits a budget).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import reduce
from math import lcm
from typing import Any

from .errors import ArchcalcError, ShapeError
from .ir import SIZE_SYMBOLS, Layer, Network
from .report import Report, Row
from .rules.base import shape_text
from .safe import clip
from .symbolic import Condition, Expr, Floor

SIDE = "N"  # the name of a square input's side
NAMES = (*SIZE_SYMBOLS, "B")
MAX_SIDE = 1 << 20  # a million pixels a side: past any image, and the bound of searches
MAX_PERIOD = 1 << 16  # sizes read to find the residues at which every division is whole (ResNets: 32)
_DIM = re.compile(r"\d+|[A-Za-z]")


def parse_shape(text: str) -> tuple[int | Expr, ...]:
    """`3x224x224`, `3xHxW`, `3xNxN`, `1xL` or `3xTxHxW` (×, x or X between dimensions); ValueError says what was expected."""
    parts = text.strip().replace("×", "x").replace("X", "x").split("x")
    expected = "C×H×W such as 3x224x224, 3xHxW or 3xNxN, C×L such as 1xL, C×T×H×W such as 3xTxHxW (or N×D tokens, or features)"
    if not 1 <= len(parts) <= 4 or not all(_DIM.fullmatch(p) for p in parts):
        raise ValueError(f"expected {expected}; received '{clip(text, 40)}'")
    dims: list[int | Expr] = []
    for part in parts:
        if part.isdigit():
            if len(part) > 7 or not 0 < int(part) <= MAX_SIDE:
                raise ValueError(f"expected dimensions from 1 to {MAX_SIDE:,}; received '{clip(part, 20)}'")
            dims.append(int(part))
        elif part in SIZE_SYMBOLS:
            dims.append(Expr.var(part))
        else:
            raise ValueError(f"expected {expected}: a size is a number, {', '.join(SIZE_SYMBOLS)}; received '{part}'")
    if isinstance(dims[0], Expr):
        raise ValueError(f"expected the channels (the first dimension) as a number, only {', '.join(SIZE_SYMBOLS)} "
                         f"symbolic; received '{clip(text, 40)}'")
    return tuple(dims)


def parse_sizes(text: str) -> dict[str, int]:
    """`N=224`, `H=224,W=320`, `L=16000`, `T=16,N=112`, `B=32` (comma-separated); ValueError says what was expected."""
    env: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name.strip() not in NAMES or not (value.strip().isascii() and value.strip().isdigit()) or len(value.strip()) > 7:
            raise ValueError(f"expected sizes such as N=224 or H=224,W=320,B=32; received '{clip(text, 40)}'")
        number = int(value)
        if not 1 <= number <= MAX_SIDE:
            raise ValueError(f"expected {name.strip()} from 1 to {MAX_SIDE:,}; received {number}")
        env[name.strip()] = number
    return env


def is_symbolic_report(report: Report) -> bool:
    return any(isinstance(d, Expr) for d in (*report.input, report.batch))


def variables(report: Report) -> set[str]:
    return {name for d in (*report.input, report.batch) if isinstance(d, Expr) for name in d.variables()}


# ── evaluating a symbolic report ─────────────────────────────────────────────


def at(report: Report, env: Mapping[str, int], network: Network | None = None) -> Report:
    """The report's figures at the sizes `env`; ShapeError (as the concrete engine's) where a layer fails."""
    env = dict(env)
    if SIDE in env:
        env.setdefault("H", env[SIDE])
        env.setdefault("W", env[SIDE])
    if "H" in env and env.get("W") == env["H"]:
        env.setdefault(SIDE, env["H"])
    missing = sorted(variables(report) - set(env))
    if missing:
        raise ArchcalcError(f"--at: give a value for {', '.join(missing)} (e.g. {missing[0]}=224)")
    failed = first_failure(report.conditions, env, "valid")
    if failed is not None:
        node = _node(network, failed.layer)
        raise ShapeError(f"at {_env_text(env)}: {failed.message}: {failed.expr.at(env) + 1} ≤ 0",
                         node.origin.mark if node else None,
                         f"{node.origin.path} '{failed.layer}'" if node else f"'{failed.layer}'")
    inexact: dict[str, list[str]] = {}
    for condition in report.conditions:
        if condition.kind == "exact" and not condition.holds(env):
            value = condition.expr.at(env)
            note = (f"{condition.message} at {_env_text(env)}: {value}/{condition.modulus} = "
                    f"{value / condition.modulus:g} is not whole; rounded")
            if note not in inexact.setdefault(condition.layer, []):  # N×N: the same condition for H and for W
                inexact[condition.layer].append(note)
    value = _evaluator(env)
    rows = tuple(row._replace(flags=tuple(inexact.get(row.name, ())), **{f: value(getattr(row, f)) for f in _ROW_FIGURES})
                 for row in report.rows)
    totals = replace(report.totals, **{f.name: value(getattr(report.totals, f.name)) for f in fields(report.totals)})
    return replace(report, input=value(report.input), batch=value(report.batch), rows=rows, totals=totals, conditions=())


_ROW_FIGURES = tuple(f for f in Row._fields if f not in ("name", "kind", "formulas", "flags", "layers"))


def _evaluator(env: Mapping[str, int]) -> Callable[[Any], Any]:
    """A function giving any figure (a number, a formula, a tuple of them) its value at `env`; each
    formula, and each floor and maximum inside one, is evaluated once however many rows repeat it."""
    memo: dict = {}
    values: dict[Expr, int] = {}

    def value(figure: Any) -> Any:
        if type(figure) is Expr:
            if figure not in values:
                values[figure] = figure.at(env, memo)
            return values[figure]
        if type(figure) is tuple:
            return tuple(value(item) for item in figure)
        return figure

    return value


def first_failure(conditions: tuple[Condition, ...], env: Mapping[str, int], kind: str) -> Condition | None:
    """The first condition of `kind` (in the network's order) that does not hold at `env`."""
    return next((c for c in conditions if c.kind == kind and not c.holds(env)), None)


def _env_text(env: Mapping[str, int]) -> str:
    shown = {k: v for k, v in env.items() if k != SIDE or "H" not in env}
    if "H" in env and env.get("W") == env["H"]:
        shown = {SIDE: env["H"], **{k: v for k, v in env.items() if k not in ("H", "W", SIDE)}}
    return ", ".join(f"{k} = {v}" for k, v in shown.items())


def _node(network: Network | None, layer: str) -> Layer | None:
    return None if network is None else next((node for node in network.layers if node.name == layer), None)


# ── the sizes a network accepts ──────────────────────────────────────────────


@dataclass(frozen=True)
class Sizes:
    """The sizes of one input side (N of a square input, or H or W) a network accepts, and those at which
    every division is whole."""

    network: str
    variable: str  # N, H or W
    smallest: int | None  # the smallest size every layer accepts (None: none up to MAX_SIDE)
    smallest_exact: int | None  # …at which every division is whole too (None: none found)
    period: int | None  # exactness repeats with this period (None: too long a period to list residues)
    residues: tuple[int, ...]  # exact sizes are ≡ one of these (mod period), from smallest_exact on
    within: tuple[int, int]  # the range listed
    exact: tuple[int, ...]  # the exact sizes within it
    valid: int  # how many sizes within it every layer accepts

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "smallest": self.smallest, "smallest_exact": self.smallest_exact,
                "period": self.period, "residues": list(self.residues), "rule": self.rule(),
                "range": list(self.within), "exact": list(self.exact), "valid_in_range": self.valid}

    def rule(self) -> str:
        """The exact sizes as a rule: `N ≡ 0 (mod 32)`, and from which size on."""
        v = self.variable
        if self.smallest is None:
            return f"no {v} up to {MAX_SIDE:,} is accepted by every layer"
        if self.period is None:
            return f"every division is whole only at sizes without a short period (beyond {MAX_PERIOD:,})"
        if self.smallest_exact is None:
            return f"no {v} makes every division whole"
        if self.period == 1:
            return f"every {v} from {self.smallest_exact} is exact"
        first, step = self.smallest_exact, self.period
        if len(self.residues) == 1:
            return f"{v} ≡ {self.residues[0]} (mod {step}): {first}, {first + step}, {first + 2 * step}, … ({first} + {step}k)"
        shown = ", ".join(str(r) for r in self.residues[:12]) + (" …" if len(self.residues) > 12 else "")
        return f"{v} mod {step} ∈ {{{shown}}}, from {first} on"


def sizes(report: Report, low: int = 1, high: int = 1024, variable: str | None = None) -> Sizes:
    """Read a symbolic report as rules and lists of sizes of one side: N, or H or W (each read alone)."""
    names = variables(report) - {"B"}
    variable = variable or (SIDE if names == {SIDE} else None)
    if variable not in names:
        raise ArchcalcError(f"sizes reads one side of the input: give one of {', '.join(sorted(names)) or 'none'}")
    mine = [c for c in report.conditions if c.expr.variables() <= {variable, "B"}]
    valid = [c for c in mine if c.kind == "valid"]
    exact = [c for c in mine if c.kind == "exact"]

    def ok(n: int, conditions: list[Condition]) -> bool:
        return all(c.holds({variable: n, "B": 1}) for c in conditions)

    smallest = _smallest(lambda n: ok(n, valid))
    period = reduce(lcm, (_period(c) for c in exact), 1)
    if smallest is None or period > MAX_PERIOD:
        residues, smallest_exact = (), None
    else:
        # Validity only grows with the size (outputs grow with the input); exactness is periodic once
        # every floor has passed its small-size transient: a period past the smallest size.
        residues = tuple(sorted({n % period for n in range(smallest + period, smallest + 2 * period) if ok(n, exact)}))
        smallest_exact = next((n for n in range(smallest, smallest + 2 * period) if ok(n, exact)), None)
    accepted = range(max(low, smallest or high + 1), high + 1)  # validity only grows with the size
    listed = tuple(n for n in accepted if ok(n, exact))
    return Sizes(report.name, variable, smallest, smallest_exact, None if period > MAX_PERIOD else period,
                 residues, (low, high), listed, len(accepted))


def _smallest(accepts: Callable[[int], bool]) -> int | None:
    """The smallest size in 1..MAX_SIDE that `accepts`, which holds from some size on: doubling, then bisection."""
    high = 1
    while not accepts(high):
        if high >= MAX_SIDE:
            return None
        high = min(high * 2, MAX_SIDE)
    low = high // 2  # does not accept (or is 0)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if accepts(middle) else (middle, high)
    return high


def square_input(network: Network, command: str) -> tuple[int, Expr, Expr]:
    """The network's input as C×N×N, for `command` to analyse at every square size."""
    if len(network.input) != 3:
        raise ArchcalcError(f"{network.name}: {command} reads a C×H×W input; this one is "
                            f"{shape_text(network.input)}")
    side = Expr.var(SIDE)
    return network.input[0], side, side


def every_side(report: Report) -> dict[str, Sizes]:
    """The sizes of each side of a symbolic input (N, or H and W), each read alone."""
    return {variable: sizes(report, variable=variable) for variable in sorted(variables(report) - {"B"})}


def summary_lines(sides: Mapping[str, Sizes]) -> list[str]:
    """The footer of a symbolic table: for each side, the smallest size every layer accepts and the rule of
    the exact sizes (`archcalc sizes` says more)."""
    return [f"Sizes: every layer accepts {'none' if found.smallest is None else f'{v} ≥ {found.smallest}'}; "
            f"every division is whole for {found.rule()}" for v, found in sides.items()]


def _period(condition: Condition) -> int:
    """A period of the condition in N: its modulus times every divisor of a floor inside it."""
    dens = [atom.den for atom in condition.expr.atoms() if isinstance(atom, Floor)]
    return condition.modulus * reduce(lambda a, b: a * b, dens, 1)


# ── solving for a size ───────────────────────────────────────────────────────


def largest_input(report: Report, need: Callable[[Report], Any], budget: int, env: Mapping[str, int]) -> int | None:
    """The largest side N whose `need` (bytes, at the other sizes `env`) fits `budget`, among valid sides.

    Memory grows with N: a binary search over the valid sides, then a check of the answer and the next.
    """
    valid = [c for c in report.conditions if c.kind == "valid"]
    needed = need(report)

    def fits(n: int) -> bool:
        sizes_at = {**env, SIDE: n, "H": n, "W": n}
        return all(c.holds(sizes_at) for c in valid) and _value(needed, sizes_at) <= budget

    smallest = _smallest(lambda n: all(c.holds({**env, SIDE: n, "H": n, "W": n}) for c in valid))
    if smallest is None or not fits(smallest):
        return None
    low, high = smallest, smallest
    while high < MAX_SIDE and fits(high):
        low, high = high, min(high * 2, MAX_SIDE)
    if fits(high):
        return high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _value(value: Any, env: Mapping[str, int]) -> int:
    return value.at(env) if isinstance(value, Expr) else value
