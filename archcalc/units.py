"""Human units in and out: 25M parameters, 4G MACs, 16GiB, 93.0 MiB.

Counts use decimal SI prefixes (K = 10³, M = 10⁶, G = 10⁹, T = 10¹²).
Sizes in bytes take binary prefixes, KiB, MiB, GiB, TiB (2¹⁰ … 2⁴⁰), which
`16G` abbreviates as GNU tools read it, or decimal ones, KB, MB, GB, TB
(10³ … 10¹²); a bare integer is a count, or bytes. Sizes are shown in binary
units unless asked otherwise. Every quantity is read exactly (`1.5GiB` is
1,610,612,736 bytes) and bounded: what a person types is never a reason for
a float to overflow or an integer of a thousand digits to be built.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .safe import clip

_COUNT = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_BYTES = {"": 1, "B": 1, **_BINARY, **{f"{p}IB": v for p, v in _BINARY.items()}, **{f"{p}I": v for p, v in _BINARY.items()},
          **{f"{p}B": v for p, v in _COUNT.items() if p}}
_QUANTITY = re.compile(r"\s*(\d{1,19}(?:\.\d{1,12})?)\s*([A-Za-z]{0,3})\s*", re.ASCII)
MAX_COUNT = 10**18  # a million times GPT-sized parameter and MAC counts
MAX_BYTES = 2**60  # 1 EiB: a million times the largest machine's memory

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


class OutOfRange(ValueError):
    """A quantity read, but past what archcalc takes (MAX_COUNT, MAX_BYTES)."""


def parse_count(text: str | int) -> int:
    """`25M` → 25,000,000; a bare integer is taken as it is; at most 10¹⁸."""
    return _parse(text, _COUNT, MAX_COUNT, "a count such as 25M, 4G or 1500000")


def parse_bytes(text: str | int) -> int:
    """`16GiB` or `16G` → 17,179,869,184; `16GB` → 16,000,000,000; a bare integer is bytes; at most 2⁶⁰."""
    return _parse(text, _BYTES, MAX_BYTES, "a size such as 16GiB, 16G, 512MiB, 8GB or 1073741824")


def _parse(text: str | int, table: dict[str, int], limit: int, expected: str) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        shown = clip(str(text), 40)
        match = _QUANTITY.fullmatch(str(text)) if len(str(text)) <= 40 else None
        unit = match.group(2).upper() if match else ""
        if not match or unit not in table:
            raise ValueError(f"expected {expected}; received '{shown}'")
        value = round(Fraction(match.group(1)) * table[unit])  # exact: 1.5GiB is 1,610,612,736
    if value < 0:
        raise ValueError(f"expected {expected}; received {value}")
    if value > limit:
        raise OutOfRange(f"expected at most {limit:,}; received {value:,}")
    return value


def format_count(value: int) -> str:
    """138,357,544 → '138.36M' (decimal, as the papers count); a formula (symbolic size) as it is."""
    if not isinstance(value, (int, float)):
        return str(value)
    for suffix, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return str(value)


def format_bytes(value: int, decimal: bool = False) -> str:
    """Bytes in binary units (MiB, GiB) unless `decimal` (MB, GB); a formula (symbolic size) in bytes."""
    if not isinstance(value, (int, float)):
        return f"{value} B"
    base, units = (1000, ("B", "KB", "MB", "GB", "TB")) if decimal else (1024, ("B", "KiB", "MiB", "GiB", "TiB"))
    size, unit = float(value), units[0]
    for unit in units:
        if abs(size) < base or unit == units[-1]:
            break
        size /= base
    return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
