"""Input sizes: a network analysed once for a symbolic input, then evaluated, checked and solved.

`analyze(net, input_shape=(3, H, W))` gives every figure as an expression
and records what each layer needs of the input (`symbolic.Condition`): an
output of at least one (validity) and a stride that divides (exactness).
Here those results are evaluated at a size (`at`), read as rules (`sizes`,
through `sides`: the smallest input every layer accepts, the residues at which
every division is whole), and solved (`largest_input`: the largest square
input whose memory fits a budget); `survey` is `archcalc sizes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from .analysis import analyze
from .errors import ArchcalcError, ShapeError
from .ir import SEQUENCE, SIZE_SYMBOLS, Layer, Network
from .report import MAX_BATCH, Report, Row
from .rules.base import shape_text
from .safe import clip
from .sides import MAX_PERIOD, MAX_SIDE, SIDE, Sizes, read, smallest_size  # noqa: F401 (MAX_PERIOD: read from here too)
from .symbolic import Condition, Expr

NAMES = (*SIZE_SYMBOLS, SEQUENCE, "B")
_DIM = re.compile(r"\d+|[A-Za-z]")


def dimension(value: Any) -> int | Expr:
    """A size of an input given as a value (the Python API's input_shape): a whole number from 1 to
    MAX_SIDE, or a size symbol (the sequence length S too); ValueError, worded as --input's, otherwise."""
    if isinstance(value, Expr) and value.variables() <= {*SIZE_SYMBOLS, SEQUENCE}:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIDE:
        raise ValueError(f"expected dimensions from 1 to {MAX_SIDE:,}; received {shown(value)}")
    return value


def batch_size(value: Any) -> int | Expr:
    """A batch given as a value: a whole number from 1 to MAX_BATCH, or B; ValueError, worded as --batch's."""
    if isinstance(value, Expr) and value == Expr.var("B"):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH:
        raise ValueError(f"expected an integer from 1 to {MAX_BATCH:,}, or B; received {shown(value)}")
    return value


def shown(value: Any) -> str:
    """A value in a message, short whatever it is (an integer of 5,000 digits has no decimal text to show)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length():,} bits"
    return f"{type(value).__name__} {clip(repr(value), 40)}" if not isinstance(value, int) or isinstance(value, bool) \
        else str(value)


def parse_shape(text: str) -> tuple[int | Expr, ...]:
    """`3x224x224`, `3xHxW`, `3xNxN`, `1xL`, `3xTxHxW`, or tokens `Sx768` and token ids `S` (×, x or X between
    dimensions); ValueError says what was expected."""
    parts = text.strip().replace("×", "x").replace("X", "x").split("x")
    expected = ("C×H×W such as 3x224x224, 3xHxW or 3xNxN, C×L such as 1xL, C×T×H×W such as 3xTxHxW, "
                "N×D tokens such as 197x768 or Sx768, features, or S token ids")
    if not 1 <= len(parts) <= 4 or not all(_DIM.fullmatch(p) for p in parts):
        raise ValueError(f"expected {expected}; received '{clip(text, 40)}'")
    dims: list[int | Expr] = []
    for axis, part in enumerate(parts):
        if part.isdigit():
            if len(part) > 7 or not 0 < int(part) <= MAX_SIDE:
                raise ValueError(f"expected dimensions from 1 to {MAX_SIDE:,}; received '{clip(part, 20)}'")
            dims.append(int(part))
        elif part in SIZE_SYMBOLS and axis > 0:
            dims.append(Expr.var(part))
        elif part == SEQUENCE and axis == 0 and len(parts) <= 2:
            dims.append(Expr.var(part))
        elif part in SIZE_SYMBOLS:
            raise ValueError(f"expected the channels (the first dimension) as a number, only {', '.join(SIZE_SYMBOLS)} "
                             f"symbolic (or S, a token sequence's length: Sx768); received '{clip(text, 40)}'")
        elif part == SEQUENCE:
            raise ValueError(f"S is a token sequence's length: the first of at most two dimensions (S token ids, "
                             f"Sx768 tokens); received '{clip(text, 40)}'")
        else:
            raise ValueError(f"expected {expected}: a size is a number, {', '.join(SIZE_SYMBOLS)} or {SEQUENCE}; "
                             f"received '{part}'")
    return tuple(dims)


def parse_sizes(text: str) -> dict[str, int]:
    """`N=224`, `H=224,W=320`, `L=16000`, `T=16,N=112`, `B=32` (comma-separated); ValueError says what was expected."""
    env: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name.strip() not in NAMES or not (value.strip().isascii() and value.strip().isdigit()) or len(value.strip()) > 7:
            raise ValueError(f"expected sizes such as N=224 or H=224,W=320,B=32; received '{clip(text, 40)}'")
        number, name = int(value), name.strip()
        if not 1 <= number <= MAX_SIDE:
            raise ValueError(f"expected {name} from 1 to {MAX_SIDE:,}; received {number}")
        if name in env:  # else the last would win, in silence
            raise ValueError(f"{name} is given twice ({name}={env[name]}, {name}={number}); give each size once")
        env[name] = number
    return env


def is_symbolic_report(report: Report) -> bool:
    return any(isinstance(d, Expr) for d in (*report.input, report.batch))


def variables(report: Report) -> set[str]:
    return report.variables()


# ── evaluating a symbolic report ─────────────────────────────────────────────


def at(report: Report, env: Mapping[str, int], network: Network | None = None, strict: bool = False) -> Report:
    """The report's figures at the sizes `env`; ShapeError (as the concrete engine's) where a layer fails, and
    with `strict` at the first division that is not whole."""
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
    if strict:
        _refuse_inexact(rows, network)
    return replace(report, input=value(report.input), batch=value(report.batch), rows=rows, totals=totals, conditions=())


def _refuse_inexact(rows: tuple[Row, ...], network: Network | None) -> None:
    """--strict at sizes: the first division that is not whole is an error, as a concrete run's."""
    row = next((r for r in rows if r.flags), None)
    if row is not None:
        node = _node(network, row.name)
        raise ShapeError(f"{row.flags[0]} (--strict refuses inexact divisions)", node.origin.mark if node else None,
                         f"{node.origin.path} '{row.name}'" if node else f"'{row.name}'")


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


def channels_first(network: Network, shape: tuple[int | Expr, ...]) -> tuple[int | Expr, ...]:
    """`shape`, given for the network's input, unless it reads as channels last (224x224x3 for a 3×H×W
    network): ArchcalcError then, with the channels-first shape it means."""
    own = network.input
    if len(shape) == len(own) >= 3 and network.input_rank(shape) > 0 and shape[-1] == own[0] != shape[0]:
        meant = "x".join(map(str, (shape[-1], *shape[:-1])))
        raise ArchcalcError(f"--input {'x'.join(map(str, shape))}: an input is channels first, "
                            f"{'C×H×W' if len(shape) == 3 else 'C×T×H×W'}; did you mean {meant}?")
    return shape


def square_input(network: Network, command: str) -> tuple[int, Expr, Expr]:
    """The network's input as C×N×N, for `command` to analyse at every square size."""
    if len(network.input) != 3:
        raise ArchcalcError(f"{network.name}: {command} reads a C×H×W input; this one is "
                            f"{shape_text(network.input)}")
    side = Expr.var(SIDE)
    return network.input[0], side, side


def sequence_input(network: Network, command: str, length: int | Expr | None = None) -> tuple[Expr | int, ...]:
    """The network's input with a sequence of `length` (default the symbol S): tokens length×D, or `length`
    token ids, for `command`."""
    if not (network.ids or (len(network.input) == 2 and network.input_rank() == 0)):
        raise ArchcalcError(f"{network.name}: {command} reads a token sequence (token ids, or N×D tokens); this "
                            f"input is {shape_text(network.input)}")
    return Expr.var(SEQUENCE) if length is None else length, *network.input[1:]


def sizes(report: Report, low: int = 1, high: int = 1024, variable: str | None = None) -> Sizes:
    """Read a symbolic report as rules and lists of sizes of one side: N, or H or W (each read alone)."""
    return read(report.name, report.conditions, variables(report) - {"B"}, low, high, variable)


def every_side(report: Report) -> dict[str, Sizes]:
    """The sizes of each side of a symbolic input (N, or H and W), each read alone (`Report.sides`)."""
    return report.sides()


def summary_lines(sides: Mapping[str, Sizes]) -> list[str]:
    """The footer of a symbolic table: for each side, the smallest size every layer accepts and the rule of
    the exact sizes (`archcalc sizes` says more)."""
    return [f"Sizes: every layer accepts {'none' if found.smallest is None else f'{v} ≥ {found.smallest}'}; "
            f"every division is whole for {found.rule()}" for v, found in sides.items()]


# ── solving for a size ───────────────────────────────────────────────────────


def largest_input(report: Report, need: Callable[[Report], Any], budget: int, env: Mapping[str, int],
                  variable: str = SIDE) -> int | None:
    """The largest size of `variable` (the side N of a square input, or the sequence length S) whose `need`
    (bytes, at the other sizes `env`) fits `budget`, among valid sizes.

    Memory grows with the size: a binary search over the valid sizes, then a check of the answer and the next.
    """
    valid = [c for c in report.conditions if c.kind == "valid"]
    needed = need(report)

    def fits(n: int) -> bool:
        at_n = _sizes_at(n, env, variable)
        return all(c.holds(at_n) for c in valid) and _value(needed, at_n) <= budget

    smallest = smallest_input(report, env, variable)
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


def smallest_input(report: Report, env: Mapping[str, int], variable: str = SIDE) -> int | None:
    """The smallest size of `variable` that every layer takes (at the other sizes `env`); None up to MAX_SIDE."""
    valid = [c for c in report.conditions if c.kind == "valid"]
    return smallest_size(lambda n: all(c.holds(_sizes_at(n, env, variable)) for c in valid))


def _sizes_at(n: int, env: Mapping[str, int], variable: str) -> dict[str, int]:
    return {**env, variable: n, **({"H": n, "W": n} if variable == SIDE else {})}


def _value(value: Any, env: Mapping[str, int]) -> int:
    return value.at(env) if isinstance(value, Expr) else value


# ── a network's sizes, and sides tried ───────────────────────────────────────


def trial(network: Network, side: int) -> dict[str, Any]:
    """One side through the concrete engine: accepted or the first failing layer; exact or the first rounding."""
    return {"side": side, **tried(network, (network.input[0], side, side))}


def tried(network: Network, shape: tuple[int, ...]) -> dict[str, Any]:
    """One input through the concrete engine: accepted or the first failing layer; exact or the first rounding."""
    try:
        report = analyze(network, input_shape=shape)
    except ShapeError as err:
        return {"accepted": False, "exact": False, "verdict": f"not accepted: {err.path}: {err.message}"}
    rounded = next((row for row in report.rows if row.flags), None)
    if rounded is None:
        return {"accepted": True, "exact": True, "verdict": "accepted, every division whole"}
    return {"accepted": True, "exact": False, "verdict": f"accepted; first rounding at {rounded.name}: {rounded.flags[0]}"}


@dataclass(frozen=True)
class Survey:
    """What `archcalc sizes` finds: the square sides a network accepts and makes exact, read from one symbolic
    analysis, and each side asked about tried through the concrete engine."""

    network: Network
    found: Sizes
    trials: tuple[dict[str, Any], ...] = ()

    def below(self) -> dict[str, Any] | None:
        """The side under the smallest accepted, tried: why it fails (None where the smallest is 1, or none is)."""
        smallest = self.found.smallest
        return None if smallest is None or smallest <= 1 else trial(self.network, smallest - 1)

    def to_dict(self) -> dict[str, Any]:
        """`archcalc sizes --format json`: the rules of N, the exact sides within the range, and each side tried."""
        return {"network": self.network.name, "input": f"{self.network.input[0]}xNxN", **self.found.to_dict(),
                "sides": list(self.trials)}


def survey(network: Network, low: int = 32, high: int = 1024, sides: Sequence[int] = ()) -> Survey:
    """The square inputs C×N×N the network accepts (and makes exact) within low..high, and `sides` tried."""
    report = analyze(network, input_shape=square_input(network, "sizes"))
    return Survey(network, sizes(report, low, high), tuple(trial(network, side) for side in sides))


@dataclass(frozen=True)
class InputSurvey:
    """`archcalc sizes --input`: another input than C×N×N, each of its symbols read alone (3xHxW: H and W;
    3xHx320: H at a width of 320), or, all numbers, that input tried."""

    network: Network
    input: tuple[int | Expr, ...]
    found: Mapping[str, Sizes]  # by symbol; empty for a concrete input
    tried: dict[str, Any] | None = None  # a concrete input through the engine

    def to_dict(self) -> dict[str, Any]:
        """`archcalc sizes --input … --format json`: the input, the rules of each symbol, or the input tried."""
        return {"network": self.network.name, "input": "x".join(map(str, self.input)),
                "sizes": {v: found.to_dict() for v, found in self.found.items()}, "tried": self.tried}


def survey_input(network: Network, shape: tuple[int | Expr, ...], low: int = 32, high: int = 1024) -> InputSurvey:
    """What the network makes of `shape`: the rules of each of its symbols within low..high, or, concrete, the
    input tried."""
    if not any(isinstance(d, Expr) for d in shape):
        return InputSurvey(network, shape, {}, tried(network, shape))
    return InputSurvey(network, shape, analyze(network, input_shape=shape).sides(low, high))
