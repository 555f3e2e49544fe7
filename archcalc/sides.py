"""The sizes of one side of a symbolic input a network accepts, and those at which every division is whole.

A symbolic analysis records what each layer needs of its input
(`symbolic.Condition`): an output of at least one (validity) and a stride
that divides (exactness). Read as rules: the smallest size every layer
accepts, and the residues at which every division is whole. The report reads
its own (`Report.sides`); `sizes` evaluates and solves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from math import lcm
from typing import Any

from .errors import ArchcalcError
from .symbolic import Condition, Floor

SIDE = "N"  # the name of a square input's side
MAX_SIDE = 1 << 20  # a million pixels a side: past any image, and the bound of searches
MAX_PERIOD = 1 << 16  # sizes read to find the residues at which every division is whole (ResNets: 32)


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
        """The exact sizes as a rule: `N ≡ 0 (mod 32)`, and from which size on; a noun phrase, read after
        "every division is whole for" or "exact for"."""
        v = self.variable
        if self.smallest is None:
            return f"no {v} (none up to {MAX_SIDE:,} is accepted by every layer)"
        if self.period is None:
            return f"sizes without a short period only (beyond {MAX_PERIOD:,})"
        if self.smallest_exact is None:
            return f"no {v}"
        if self.period == 1:
            return f"every {v} from {self.smallest_exact}"
        first, step = self.smallest_exact, self.period
        if len(self.residues) == 1:
            return f"{v} ≡ {self.residues[0]} (mod {step}): {first}, {first + step}, {first + 2 * step}, … ({first} + {step}k)"
        shown = ", ".join(str(r) for r in self.residues[:12]) + (" …" if len(self.residues) > 12 else "")
        return f"{v} mod {step} ∈ {{{shown}}}, from {first} on"


def read(network: str, conditions: Sequence[Condition], names: set[str], low: int = 1, high: int = 1024,
         variable: str | None = None) -> Sizes:
    """The `conditions` of a symbolic analysis of `network`, with the input sizes `names` (the batch apart),
    read as rules and lists of sizes of one side: N, or H or W (each read alone)."""
    variable = variable or (SIDE if names == {SIDE} else None)
    if variable not in names:
        raise ArchcalcError(f"sizes reads one side of the input: give one of {', '.join(sorted(names)) or 'none'}")
    mine = [c for c in conditions if c.expr.variables() <= {variable, "B"}]
    valid = [c for c in mine if c.kind == "valid"]
    exact = [c for c in mine if c.kind == "exact"]

    def ok(n: int, conditions: list[Condition]) -> bool:
        return all(c.holds({variable: n, "B": 1}) for c in conditions)

    smallest = smallest_size(lambda n: ok(n, valid))
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
    return Sizes(network, variable, smallest, smallest_exact, None if period > MAX_PERIOD else period,
                 residues, (low, high), listed, len(accepted))


def smallest_size(accepts: Callable[[int], bool]) -> int | None:
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


def _period(condition: Condition) -> int:
    """A period of the condition in N: its modulus times every divisor of a floor inside it."""
    dens = [atom.den for atom in condition.expr.atoms() if isinstance(atom, Floor)]
    return condition.modulus * reduce(lambda a, b: a * b, dens, 1)
