"""Errors archcalc reports to its user, each with where it happened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    """A place in a spec file, 1-based as editors count."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ArchcalcError(Exception):
    """Base of every error the CLI turns into one clean line (exit 1)."""


class SpecError(ArchcalcError):
    """A spec that cannot be read, expanded or analysed.

    `mark` says where in the file, `path` which layer (`layers[3].conv`).
    """

    def __init__(self, message: str, mark: Mark | None = None, path: str = ""):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        layer = f"{self.path}: " if self.path else ""
        return f"{where}{layer}{self.message}"


class SpecErrors(SpecError):
    """Several independent errors of one place found at once (every unknown key of a mapping); the first is
    its message, so a caller that reports one error reports what it did before."""

    def __init__(self, errors: list[SpecError]):
        first = errors[0]
        super().__init__(first.message, first.mark, first.path)
        self.errors = tuple(errors)


def each_error(err: SpecError) -> tuple[SpecError, ...]:
    """The errors `err` holds: its own list (SpecErrors), or itself."""
    return err.errors if isinstance(err, SpecErrors) else (err,)


def collect(errors: list[SpecError], found: list[SpecError] | None) -> None:
    """Raise `errors` (the first is the message), or with a collector (`found`) keep them all and go on."""
    if errors and found is None:
        raise SpecErrors(errors)
    if errors:
        found.extend(errors)


class ShapeError(SpecError):
    """A layer whose output shape is impossible (empty, mismatched, inexact under --strict)."""


class ShadowWarning(UserWarning):
    """A bundled network's name was used while the working directory holds a file or directory of that name."""


def did_you_mean(word: str, known: list[str] | tuple[str, ...]) -> str:
    """' did you mean 'x'?' for the closest known word, or ''."""
    import difflib

    if len(word) > 100:  # no name is this long; and difflib's time grows with its square
        return ""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    # short names (k, s, p) are abbreviations: `kernel` means `k`
    close = close or sorted((k for k in known if k and word.startswith(k)), key=len, reverse=True)[:1]
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown(what: str, word: str, known: list[str] | tuple[str, ...]) -> str:
    """The message for an unknown key or kind: what, did-you-mean, the known ones."""
    return f"unknown {what} '{word}'{did_you_mean(word, known)} (known: {', '.join(sorted(known))})"


def numbers_needed(name: str, shape: str, command: str) -> str:
    """The message of a command that compares figures with numbers (budgets, memory) given a symbolic input
    (`shape`, as text), saying what to do."""
    return (f"{command} needs a concrete input; {name}'s is symbolic ({shape}): give its spec a size, or read the "
            f"formulas with `archcalc table {name} --at N=224`")
