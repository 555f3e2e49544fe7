"""Human units in and out: 25M parameters, 4G MACs, 16GiB, 93.0 MiB.

Counts use decimal SI prefixes (K = 10³, M = 10⁶, G = 10⁹, T = 10¹²).
Bytes accept both binary (KiB, MiB, GiB = 2¹⁰, 2²⁰, 2³⁰) and decimal
(KB, MB, GB) prefixes, and are shown in binary units unless asked otherwise.
"""

from __future__ import annotations

import re

_COUNT = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BYTES = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_QUANTITY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


def parse_count(text: str | int) -> int:
    """`25M` → 25,000,000; a bare integer is taken as it is."""
    return _parse(text, _COUNT, "a count such as 25M, 4G or 1500000")


def parse_bytes(text: str | int) -> int:
    """`16GiB` → 17,179,869,184; `16GB` → 16,000,000,000; a bare integer is bytes."""
    return _parse(text, _BYTES, "a size such as 16GiB, 512MiB or 8GB")


def _parse(text: str | int, table: dict[str, int], expected: str) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"expected {expected}; received {text}")
        return text
    match = _QUANTITY.fullmatch(str(text))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in table:
        raise ValueError(f"expected {expected}; received '{text}'")
    return round(float(match.group(1)) * table[unit])


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
