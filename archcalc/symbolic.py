"""Symbolic sizes: exact integer expressions in the input's H and W (and the batch B).

The rules compute with whatever numbers they are given. Given `Expr`s for
H and W, they derive each layer's shape, MACs and memory as formulas:
polynomials whose atoms are variables, floor divisions ⌊P/c⌋ of such
polynomials by whole numbers, and maxima. Sizes have whole coefficients; a
jump of the receptive field may have rational ones (upsampling from a
symbolic size to a fixed one spaces outputs N/64 input pixels apart). ⌊(a·H + b)/c⌋ is closed under
convolution, pooling and stride: ⌊(⌊X/a⌋ + k)/b⌋ = ⌊(X + a·k)/(a·b)⌋. Every
expression is kept canonical (a floor's numerator reduced modulo its
divisor), so equal sizes compare equal, as a residual sum's two branches
must, and every expression evaluates exactly at any size.

A rule's question about a size is answered where it holds for every size
(`decide`); a guard that holds only for some sizes becomes a condition of
validity, and a division that is whole only for some, a condition of
exactness (`Conditions`, collected while a network is analysed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache
from math import gcd, lcm
from typing import Any, Union
from weakref import WeakValueDictionary

from .errors import ArchcalcError

Number = Union[int, Fraction, "Expr"]
_INTERNED: WeakValueDictionary[tuple, Expr] = WeakValueDictionary()
MAX_SIZE = 20_000  # nodes of one formula written out (the bundled specs' largest: U-Net's, 1,874)
MAX_WORK = 300_000  # terms of expressions made and compared in one analysis (ResNet-1202: 73,842)


class Undecided(ValueError):
    """A question about a size whose answer depends on the size (its message made when shown)."""

    def __init__(self, message: str | Callable[[], str]):
        super().__init__()
        self.message = message

    def __str__(self) -> str:
        return self.message() if callable(self.message) else self.message


class Unsupported(ValueError):
    """An operation expressions do not define (a division by a symbolic size): the layer that asks is refused."""


class TooComplex(ArchcalcError):
    """A symbolic analysis past its budget of work (MAX_WORK): its formulas grow too large to be worth it."""


class _Budget:
    """Work spent by the symbolic analysis running now (see `bounded`); no limit outside one."""

    spent = 0
    limit: int | None = None


def spend(units: int) -> None:
    """Count work of the analysis running now; TooComplex past its budget."""
    if _Budget.limit is not None:
        _Budget.spent += units
        if _Budget.spent > _Budget.limit:
            raise TooComplex(f"the formulas of this network in a symbolic size grow past {_Budget.limit:,} terms "
                             "(the budget of one analysis); analyse it at a concrete size, such as --input 3x224x224")


@contextmanager
def bounded(limit: int | None = None) -> Iterator[None]:
    """Inside: the symbolic work (terms of expressions made, bounds compared) is limited to `limit`
    (default MAX_WORK)."""
    saved = _Budget.spent, _Budget.limit
    _Budget.spent, _Budget.limit = 0, MAX_WORK if limit is None else limit
    try:
        yield
    finally:
        _Budget.spent, _Budget.limit = saved


# ── atoms ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Var:
    """An input dimension: H, W, or the batch B."""

    name: str

    @cached_property
    def key(self) -> tuple:  # atoms are keys of every monomial: their keys and hashes are made once
        return (0, self.name)

    def __hash__(self) -> int:
        return hash(self.key)

    def __reduce__(self) -> tuple:  # pickled by its fields: a cached hash holds only in the process that made it
        return Var, (self.name,)

    size = 1  # nodes of the written formula (see Expr.size)

    def at(self, env: Mapping[str, int], memo: dict | None = None) -> int:
        return env[self.name]


@dataclass(frozen=True)
class Floor:
    """⌊num/den⌋, num canonical and not constant, den ≥ 2."""

    num: Expr
    den: int

    @cached_property
    def key(self) -> tuple:
        return (1, self.den, self.num.key)

    @cached_property
    def _hash(self) -> int:
        return hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        return Floor, (self.num, self.den)

    @cached_property
    def size(self) -> int:
        return 1 + self.num.size

    def at(self, env: Mapping[str, int], memo: dict | None = None) -> int:
        return self.num.at(env, memo) // self.den


@dataclass(frozen=True)
class Max:
    """The largest of two or more expressions none of which is known to bound the others."""

    args: tuple[Expr, ...]

    @cached_property
    def key(self) -> tuple:
        return (2, tuple(a.key for a in self.args))

    @cached_property
    def _hash(self) -> int:
        return hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        return Max, (self.args,)

    @cached_property
    def size(self) -> int:
        return 1 + sum(a.size for a in self.args)

    def at(self, env: Mapping[str, int], memo: dict | None = None) -> int:
        return max(a.at(env, memo) for a in self.args)


Atom = Union[Var, Floor, Max]
Monomial = tuple[tuple[Atom, int], ...]  # (atom, power) sorted by atom key; () is the constant term


@lru_cache(maxsize=1 << 16)
def _mono_key(m: Monomial) -> tuple:
    return tuple((atom.key, power) for atom, power in m)


def _mono_times(a: Monomial, b: Monomial) -> Monomial:
    powers: dict[Atom, int] = dict(a)
    for atom, power in b:
        powers[atom] = powers.get(atom, 0) + power
    return tuple(sorted(powers.items(), key=lambda item: item[0].key))


# ── expressions ──────────────────────────────────────────────────────────────


class Expr:
    """An integer-valued polynomial over atoms, canonical; immutable and hashable.

    Expressions are interned: equal expressions are one object, so comparing them (and finding
    them in a dict, as evaluating a report at a size does thousands of times) is an identity test.
    """

    __slots__ = ("terms", "_key", "_hash", "size", "__weakref__")
    terms: dict[Monomial, int]
    _key: tuple
    _hash: int
    size: int  # nodes of the formula written out, nested floors and maxima in full: what hashing and walking cost

    def __new__(cls, terms: Mapping[Monomial, int | Fraction]) -> Expr:
        clean = {m: c if type(c) is int else _whole(c) for m, c in terms.items() if c}
        size = sum(1 + sum(atom.size for atom, _ in m) for m in clean)
        if size > MAX_SIZE:  # before its key is sorted and hashed, which cost as much
            raise TooComplex(f"a formula of this network in a symbolic size grows past {MAX_SIZE:,} nodes (sizes "
                             "that each nest every earlier one, as an upsampling against a pooling does); analyse it "
                             "at a concrete size, such as --input 3x224x224")
        return cls._interned(clean, tuple(sorted([(_mono_key(m), c) for m, c in clean.items()])), size)

    @classmethod
    def _interned(cls, clean: dict[Monomial, int | Fraction], key: tuple, size: int) -> Expr:
        """The one expression of canonical terms `clean` and their sorted `key`."""
        spend(len(clean))
        found = _INTERNED.get(key)
        if found is not None:
            return found
        self = super().__new__(cls)
        self.terms, self._key, self._hash, self.size = clean, key, hash(key), size
        _INTERNED[key] = self
        return self

    def _scaled(self, k: int) -> Expr:
        """k·self for a whole k ≠ 0: the same monomials in the same order, so the key is made from self's."""
        whole = _whole if any(type(c) is not int for c in self.terms.values()) else _same
        return Expr._interned({m: whole(c * k) for m, c in self.terms.items()},
                              tuple([(mk, whole(c * k)) for mk, c in self._key]), self.size)

    @staticmethod
    def var(name: str) -> Expr:
        return Expr({((Var(name), 1),): 1})

    @staticmethod
    def of(value: Number) -> Expr:
        if isinstance(value, Expr):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
            raise TypeError(f"a size is a whole number or a fraction, not {type(value).__name__} {value!r}")
        return Expr({(): value} if value else {})

    @property
    def key(self) -> tuple:
        return self._key

    @property
    def constant(self) -> int:
        return self.terms.get((), 0)

    @property
    def is_constant(self) -> bool:
        return all(not m for m in self.terms)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self is other
        if type(other) is int:  # as `self is Expr.of(other)`, without making that expression
            return self.terms == {(): other} if other else not self.terms
        if not _operand(other):
            return NotImplemented
        return self is Expr.of(other)

    def __reduce__(self) -> tuple:  # pickled by its terms, interned again when loaded
        return Expr, (self.terms,)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    # arithmetic --------------------------------------------------------------

    def __add__(self, other: Number) -> Expr:
        return self._plus(other, 1)

    __radd__ = __add__

    def __neg__(self) -> Expr:
        return self._scaled(-1)

    def __sub__(self, other: Number) -> Expr:
        return self._plus(other, -1)

    def __rsub__(self, other: Number) -> Expr:
        return Expr.of(other)._plus(self, -1)

    def _plus(self, other: Number, sign: int) -> Expr:
        """self + sign·other, made at once (no intermediate −other)."""
        if not _operand(other):
            return NotImplemented
        terms = dict(self.terms)
        if type(other) is int:
            terms[()] = terms.get((), 0) + sign * other
            return Expr(terms)
        for m, c in Expr.of(other).terms.items():
            terms[m] = terms.get(m, 0) + sign * c
        return Expr(terms)

    def __mul__(self, other: Number) -> Expr:
        if not _operand(other):
            return NotImplemented
        if type(other) is int:  # a scale: the monomials stay as they are
            return self._scaled(other) if other else Expr({})
        factors = Expr.of(other).terms.items()
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in factors:
                m = _mono_times(m1, m2) if m1 and m2 else m1 or m2
                terms[m] = terms.get(m, 0) + c1 * c2
        return Expr(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other: Number) -> Expr:
        divisor = _whole_divisor(other)
        return floor_div(self, divisor)

    def __rfloordiv__(self, other: Number) -> Expr:
        raise Unsupported(f"a division by the symbolic size {self} (analyse at a concrete size)")

    def __mod__(self, other: Number) -> Expr:
        divisor = _whole_divisor(other)
        return self - divisor * floor_div(self, divisor)

    def __abs__(self) -> Expr:
        """|e|: e where it is ≥ 0 for every size (as sizes are), −e where ≤ 0; Undecided where its sign varies."""
        try:
            return self if decide(self, strict=False) else -self
        except Undecided:
            if decide(-self, strict=False):  # ≤ 0 everywhere, 0 at some size (1 − N)
                return -self
            raise

    # questions ---------------------------------------------------------------

    def __lt__(self, other: Number) -> bool:
        return decide(Expr.of(other) - self, strict=True)

    def __le__(self, other: Number) -> bool:
        return decide(Expr.of(other) - self, strict=False)

    def __gt__(self, other: Number) -> bool:
        return decide(self - other, strict=True)

    def __ge__(self, other: Number) -> bool:
        return decide(self - other, strict=False)

    def __bool__(self) -> bool:
        return bool(self.terms)  # nonzero as an expression

    def __index__(self) -> int:
        if self.is_constant and isinstance(self.constant, int):
            return self.constant
        raise TypeError(f"{self} is a symbolic size, not a number")

    # evaluation and text -----------------------------------------------------

    def at(self, env: Mapping[str, int], memo: dict | None = None) -> int:
        """The value at the sizes `env` ({"H": 224, "W": 224, "B": 1}); `memo` keeps the atoms' values
        for evaluating many expressions at the same sizes."""
        if memo is None:
            memo = {}
        total = 0
        for m, c in self.terms.items():
            value = c
            for atom, power in m:
                if atom not in memo:
                    memo[atom] = atom.at(env, memo)
                value *= memo[atom] ** power
            total += value
        return total

    def variables(self) -> set[str]:
        return {atom.name for atom in self.atoms() if isinstance(atom, Var)}

    def atoms(self) -> Iterator[Atom]:
        """Every atom, those nested in floors and maxima too."""
        for m in self.terms:
            for atom, _ in m:
                yield atom
                if isinstance(atom, Floor):
                    yield from atom.num.atoms()
                elif isinstance(atom, Max):
                    for arg in atom.args:
                        yield from arg.atoms()

    def __str__(self) -> str:
        return text(self)

    def __repr__(self) -> str:
        return f"Expr({text(self)!r})"

    def __format__(self, spec: str) -> str:
        return text(self)


def _operand(value: object) -> bool:
    """Whether arithmetic with an expression is defined on `value`: whole numbers, fractions, expressions."""
    kind = type(value)
    if kind is int or kind is Expr or kind is Fraction:  # the common cases, before isinstance's ABC checks
        return True
    return isinstance(value, (int, Fraction, Expr)) and not isinstance(value, bool)


def _same(c: int) -> int:
    return c


def _whole(c: int | Fraction) -> int | Fraction:
    """A coefficient: a fraction that is a whole number as an int, so that equal expressions are one."""
    return int(c) if type(c) is not int and isinstance(c, Fraction) and c.denominator == 1 else c


def _whole_divisor(value: Number) -> int:
    if isinstance(value, Expr):
        if not value.is_constant:
            raise Unsupported(f"a division by the symbolic size {value} (analyse at a concrete size)")
        value = value.constant
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"a symbolic size divides only by a whole number ≥ 1; received {value!r}")
    return value


def floor_div(e: Expr, c: int) -> Expr:
    """⌊e/c⌋ in canonical form."""
    if c == 1 and _integral(e):
        return e
    if e.is_constant:
        return Expr.of(e.constant // c)
    scale = lcm(*(Fraction(v).denominator for v in e.terms.values()))
    if scale > 1:  # ⌊e/c⌋ = ⌊(L·e)/(L·c)⌋, L·e with whole coefficients
        return floor_div(e * scale, c * scale)
    common = gcd(c, *e.terms.values())
    if common > 1:  # ⌊g·E/(g·c)⌋ = ⌊E/c⌋
        e, c = Expr({m: v // common for m, v in e.terms.items()}), c // common
        if c == 1:
            return e
    whole: dict[Monomial, int] = {}
    rest: dict[Monomial, int] = {}
    for m, v in e.terms.items():
        whole[m], rest[m] = divmod(v, c)
    quotient, remainder = Expr(whole), Expr(rest)
    if remainder.is_constant:  # 0 ≤ remainder < c
        return quotient
    for m, v in remainder.terms.items():
        if v == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(m[0][0], Floor):
            inner = m[0][0]  # ⌊(⌊X/a⌋ + K)/c⌋ = ⌊(X + a·K)/(a·c)⌋ for integer K
            others = remainder - Expr({m: 1})
            return quotient + floor_div(inner.num + inner.den * others, inner.den * c)
    return quotient + Expr({((Floor(remainder, c), 1),): 1})


def _integral(e: Expr) -> bool:
    return all(isinstance(v, int) for v in e.terms.values())


def largest(values: Iterable[Number]) -> Number:
    """max() of sizes: a number when all are numbers, else the canonical Max of those not bounded by another."""
    values = list(values)
    if not any(isinstance(v, Expr) for v in values):
        return max(values)  # ints, or the fractional jumps of upsampling
    exprs: list[Expr] = []
    for v in map(Expr.of, values):
        atom = _lone_atom(v)
        exprs.extend(atom.args if isinstance(atom, Max) else [v])  # max(max(a, b), c) = max(a, b, c)
    # Largest first at a few sizes, so that the first one kept bounds most of the others; a
    # proof is attempted only where the values at those sizes do not already refute it.
    names = set().union(*(e.variables() for e in exprs))
    samples = [dict.fromkeys(names, size) for size in _SAMPLES]
    values = {e: tuple(e.at(env) for env in samples) for e in set(exprs)}
    kept: list[Expr] = []
    for v in sorted(values, key=lambda e: (tuple(-x for x in values[e]), e.key)):
        spend(len(kept))
        if any(_at_least(k, v, values) for k in kept):
            continue
        kept = [k for k in kept if not _at_least(v, k, values)] + [v]
    if len(kept) == 1:
        return kept[0]
    return Expr({((Max(tuple(sorted(kept, key=lambda e: e.key))), 1),): 1})


def _lone_atom(e: Expr) -> Atom | None:
    """The atom when `e` is exactly one atom (coefficient 1, power 1)."""
    if len(e.terms) == 1:
        (m, c), = e.terms.items()
        if c == 1 and len(m) == 1 and m[0][1] == 1:
            return m[0][0]
    return None


_SAMPLES = (1, 7, 32, 224, 4096)  # sizes at which candidates for a maximum are first compared


def _at_least(a: Expr, b: Expr, values: Mapping[Expr, tuple[int, ...]]) -> bool:
    """Whether a ≥ b is proved for every size (never when some sample already shows a < b)."""
    if any(x < y for x, y in zip(values[a], values[b])):
        return False
    try:
        return decide(a - b, strict=False)
    except Undecided:
        return False


# ── deciding signs ───────────────────────────────────────────────────────────
#
# A question is decided when it holds for every size H, W, B ≥ 1: each floor
# atom is relaxed to the interval [(X − c + 1)/c, X/c] of its numerator, each
# maximum to [any argument, the sum of the non-negative arguments], giving
# rational lower and upper bounds that are linear or polynomial in the
# variables with known signs.


def decide(e: Number, strict: bool) -> bool:
    """Whether e > 0 (strict) or e ≥ 0 holds for every size; Undecided when it holds for some only."""
    e = Expr.of(e)
    if e.is_constant:
        return e.constant > 0 if strict else e.constant >= 0
    answer = _answer(e, strict)
    if answer is None:
        raise Undecided(lambda: f"whether {text(e)} {'>' if strict else '≥'} 0 depends on the size")
    return answer


@lru_cache(maxsize=1 << 14)
def _answer(e: Expr, strict: bool) -> bool | None:
    """decide's answer for a symbolic e, None when it depends on the size; asked once of each expression
    (the repeated blocks of a network ask the same questions of the same sizes)."""
    spend(len(e.terms))
    low, high = _bounds(e)
    if _nonneg(low, strict):
        return True
    if _nonneg(_negate(high), not strict):  # high ≤ 0 (or < 0) everywhere: the claim is false everywhere
        return False
    return None


Poly = dict[tuple[tuple[str, int], ...], Fraction]  # monomials over variables only, rational coefficients


def _bounds(e: Expr) -> tuple[Poly, Poly]:
    low: Poly = {(): Fraction(0)}
    high: Poly = {(): Fraction(0)}
    for m, c in e.terms.items():
        m_low, m_high = _mono_bounds(m)
        if c < 0:
            m_low, m_high = m_high, m_low
        low = _poly_add(low, _poly_scale(m_low, c))
        high = _poly_add(high, _poly_scale(m_high, c))
    return low, high


def _mono_bounds(m: Monomial) -> tuple[Poly, Poly]:
    if len(m) == 1 and m[0][1] == 1:
        return _atom_bounds(m[0][0])
    low: Poly = {(): Fraction(1)}
    high: Poly = {(): Fraction(1)}
    for atom, power in m:
        a_low, a_high = _atom_bounds(atom)
        for _ in range(power):
            # products of bounds are bounds only where the factors are non-negative, as sizes are
            if not _nonneg(a_low, False):
                raise Undecided("a product of sizes of unknown sign")
            low, high = _poly_mul(low, a_low), _poly_mul(high, a_high)
    return low, high


@lru_cache(maxsize=4096)
def _atom_bounds(atom: Atom) -> tuple[Poly, Poly]:
    if isinstance(atom, Var):
        return {((atom.name, 1),): Fraction(1)}, {((atom.name, 1),): Fraction(1)}
    if isinstance(atom, Floor):
        n_low, n_high = _bounds(atom.num)
        shift = Fraction(atom.den - 1)
        return _poly_scale(_poly_add(n_low, {(): -shift}), Fraction(1, atom.den)), _poly_scale(n_high, Fraction(1, atom.den))
    bounds = [_bounds(arg) for arg in atom.args]
    high: Poly = {(): Fraction(0)}
    for _, h in bounds:
        if not _nonneg(h, False):
            raise Undecided("a maximum of sizes of unknown sign")
        high = _poly_add(high, h)
    return bounds[0][0], high


def _nonneg(p: Poly, strict: bool) -> bool:
    """p ≥ 0 (or > 0) for every variable ≥ 1: true when, written in v − 1 ≥ 0, every coefficient is ≥ 0."""
    shifted: Poly = {(): Fraction(0)}
    for m, c in p.items():
        term: Poly = {(): c}
        for name, power in m:
            for _ in range(power):
                term = _poly_mul(term, {((name, 1),): Fraction(1), (): Fraction(1)})  # v = (v − 1) + 1
        shifted = _poly_add(shifted, term)
    # shifted is in u = v − 1 ≥ 0 (its keys name v, standing for u): every coefficient ≥ 0 proves it
    if any(c < 0 for c in shifted.values()):
        return False
    return shifted.get((), Fraction(0)) > 0 if strict else True


def _negate(p: Poly) -> Poly:
    return {m: -c for m, c in p.items()}


def _poly_add(a: Poly, b: Poly) -> Poly:
    spend(len(b))
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, Fraction(0)) + c
    return out


def _poly_scale(a: Poly, k: Any) -> Poly:
    return {m: c * k for m, c in a.items()}


def _poly_mul(a: Poly, b: Poly) -> Poly:
    spend(len(a) * len(b))
    out: Poly = {}
    for m1, c1 in a.items():
        for m2, c2 in b.items():
            powers: dict[str, int] = dict(m1)
            for name, power in m2:
                powers[name] = powers.get(name, 0) + power
            m = tuple(sorted(powers.items()))
            out[m] = out.get(m, Fraction(0)) + c1 * c2
    return out


# ── conditions of validity and exactness ─────────────────────────────────────


@dataclass(frozen=True)
class Condition:
    """What a layer needs of the input size: expression ≥ 0 (valid) or ≡ 0 mod m (exact)."""

    layer: str
    kind: str  # "valid" or "exact"
    expr: Expr
    modulus: int = 0  # exact: expr ≡ 0 (mod modulus)
    message: str = ""

    def holds(self, env: Mapping[str, int]) -> bool:
        value = self.expr.at(env)
        return value % self.modulus == 0 if self.kind == "exact" else value >= 0


class Conditions:  # a plain class: mutable, never compared, and cheaper to define on every run than a dataclass
    """Collected while one network is analysed symbolically; `layer` names the node being evaluated."""

    __slots__ = ("layer", "items")

    def __init__(self) -> None:
        self.layer = ""
        self.items: list[Condition] = []


_CONDITIONS: ContextVar[Conditions | None] = ContextVar("archcalc_symbolic_conditions", default=None)


@contextmanager
def collecting() -> Iterator[Conditions]:
    """Inside: every symbolic guard and inexact division is recorded in the Conditions yielded."""
    conditions = Conditions()
    token = _CONDITIONS.set(conditions)
    try:
        yield conditions
    finally:
        _CONDITIONS.reset(token)


def current_layer(name: str) -> None:
    conditions = _CONDITIONS.get()
    if conditions is not None:
        conditions.layer = name


def require(value: Number, message: str | Callable[[], str]) -> bool:
    """A guard `value ≥ 0`: for numbers, whether it holds; for a symbolic size, recorded as a condition
    of validity (true for the sizes the result is meant for) unless it holds, or fails, everywhere."""
    if isinstance(value, int):
        return value >= 0
    try:
        return decide(value, strict=False)
    except Undecided:
        conditions = _CONDITIONS.get()
        if conditions is None:
            raise
        conditions.items.append(Condition(conditions.layer, "valid", value, message=_text_of(message)))
        return True


def divides(modulus: int, value: Number, message: str | Callable[[], str] = "") -> bool:
    """Whether `modulus` divides `value`: for a symbolic size, recorded as a condition of exactness
    (and answered no: the rounding is then part of the formula) unless it always holds."""
    if isinstance(value, int):
        return value % modulus == 0
    remainder = value % modulus
    if remainder == 0:
        return True
    conditions = _CONDITIONS.get()
    if conditions is not None:
        conditions.items.append(Condition(conditions.layer, "exact", value, modulus, _text_of(message)))
    return False


def must_divide(modulus: int, value: Number, message: str | Callable[[], str]) -> bool:
    """Whether `modulus` divides `value`, where a layer is refused otherwise (groups of channels, equal
    parts): for a symbolic size, a condition of validity, (value mod modulus) ≤ 0, unless it always holds."""
    if isinstance(value, int):
        return value % modulus == 0
    return require(-(value % modulus), message)


def _text_of(message: str | Callable[[], str]) -> str:
    return message() if callable(message) else message


def is_symbolic(value: Any) -> bool:
    return isinstance(value, Expr) and not value.is_constant


# ── text ─────────────────────────────────────────────────────────────────────


def text(e: Number, style: str = "math") -> str:
    """`e` as people read it (style "math": ⌊(H + 1)/2⌋, 64·H·W) or as archcalc's expression
    grammar evaluates it (style "code": (H + 1) // 2, 64 * H * W; see expr.evaluate)."""
    return _text(Expr.of(e), style)


@lru_cache(maxsize=1 << 14)
def _text(e: Expr, style: str) -> str:
    """text() of an expression, made once (a network's thousands of layers share a few hundred sizes)."""
    if not e.terms:
        return "0"
    atom = _lone_atom(e - e.constant)
    if isinstance(atom, Floor) and e.constant:  # ⌊X/c⌋ + k reads better as ⌊(X + k·c)/c⌋
        return _atom_text(Floor(atom.num + e.constant * atom.den, atom.den), style, alone=True)
    e = _shifted(e, style)
    ordered = sorted(e.terms.items(), key=lambda mc: (-sum(p for _, p in mc[0]), _mono_key(mc[0])))
    out = ""
    for i, (m, c) in enumerate(ordered):
        sign = "-" if c < 0 else "+"
        body = _mono_text(m, abs(c), style)
        if i == 0:
            out = ("-" if sign == "-" else "") + body
        else:
            out += f" {'−' if style == 'math' and sign == '-' else sign} {body}"
    return out


def _shifted(e: Expr, style: str) -> Expr:
    """`e` with floors written ⌊(X + p·c)/c⌋ where that takes fewer terms: the canonical form keeps
    each floor's constant in [0, c), so a 7×7/4 convolution's (⌊(N + 1)/4⌋ − 2)² would otherwise
    print as 34,848·⌊(N + 1)/4⌋² − 139,392·⌊(N + 1)/4⌋ + 139,392 rather than 34,848·⌊(N − 7)/4⌋²."""
    floors = sorted({a for m in e.terms for a, _ in m if isinstance(a, Floor)}, key=lambda a: a.key)
    for atom in floors:
        best = e
        for shift in _shift_candidates(e, atom):
            label = _atom_text(Floor(atom.num + shift * atom.den, atom.den), style, alone=False)
            rewritten = _substitute(e, atom, Expr.var(label) - shift)  # a = a′ − p, a′ the shifted floor
            if len(rewritten.terms) < len(best.terms):
                best = rewritten
        e = best
    return e


def _shift_candidates(e: Expr, atom: Floor) -> set[int]:
    """Shifts p that cancel a term: for c·a^k next to c′·(the same without one a), p = c′/(k·c)."""
    found = set()
    for m, c in e.terms.items():
        powers = dict(m)
        if atom not in powers:
            continue
        rest = _mono_times(tuple((a, p) for a, p in m if a is not atom), ((atom, powers[atom] - 1),) if powers[atom] > 1 else ())
        ratio = Fraction(e.terms.get(rest, 0), c * powers[atom])
        if ratio and ratio.denominator == 1:
            found.add(int(ratio))
    return found


def _substitute(e: Expr, atom: Atom, replacement: Expr) -> Expr:
    total = Expr.of(0)
    for m, c in e.terms.items():
        term = Expr.of(c)
        for a, power in m:
            factor = replacement if a is atom else Expr({((a, 1),): 1})
            for _ in range(power):
                term = term * factor
        total = total + term
    return total


def _mono_text(m: Monomial, c: int | Fraction, style: str) -> str:
    if isinstance(c, Fraction):  # a rational jump: 3·N/64 (the code form's `/` is exact division)
        over = "/" if style == "math" else " / "
        return f"{_mono_text(m, c.numerator, style)}{over}{c.denominator:,}" if m else (
            f"{c.numerator:,}{over}{c.denominator:,}" if style == "math" else f"{c.numerator}{over}{c.denominator}")
    times = "·" if style == "math" else " * "
    parts = [] if (c == 1 and m) else [f"{c:,}" if style == "math" else str(c)]
    for atom, power in m:
        part = _atom_text(atom, style, alone=len(m) == 1 and c == 1)
        parts.extend([part] * power if style == "code" or power == 1 else [f"{part}{_superscript(power)}"])
    return times.join(parts)


def _atom_text(atom: Atom, style: str, alone: bool) -> str:
    if isinstance(atom, Var):
        return atom.name
    if isinstance(atom, Max):
        return "max(" + ", ".join(text(a, style) for a in atom.args) + ")"
    num = text(atom.num, style)
    if style == "code":
        body = f"({num}) // {atom.den}" if len(atom.num.terms) > 1 else f"{num} // {atom.den}"
        return body if alone else f"({body})"
    if atom.num.constant == atom.den - 1:  # ⌊(X + c − 1)/c⌋ = ⌈X/c⌉
        inner = atom.num - (atom.den - 1)
        return f"⌈{factor(inner)}/{atom.den}⌉"
    return f"⌊{factor(atom.num)}/{atom.den}⌋"


def factor(value: Any) -> str:
    """A number or expression as one factor of a product or a shape: in brackets when it has several terms
    (`6×(N − 4)×(N − 4)`, never `6×N − 4×N − 4`)."""
    body = str(value)
    return f"({body})" if isinstance(value, Expr) and _is_sum(body) else body


def _is_sum(body: str) -> bool:
    """Whether a formula's text adds or subtracts outside its brackets (`N − 4`, not `⌊(N − 4)/2⌋`)."""
    depth = 0
    for i, ch in enumerate(body):
        if ch in "(⌊⌈":
            depth += 1
        elif ch in ")⌋⌉":
            depth -= 1
        elif ch in "+−" and depth == 0 and i > 0:  # a leading − is a sign
            return True
    return False


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
