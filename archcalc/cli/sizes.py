"""`sizes`: which square inputs a network accepts, at which every division is whole, and why a size fails."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

from .. import catalog, render, sizes
from ..safe import clip
from .command import UsageError, argument, command, integer, option
from .common import NET

MAX_RANGE = 100_000  # sides listed at most: a million-wide range would print for minutes


def size_range(text: str) -> tuple[int, int]:
    """`32..1024` as (32, 1024)."""
    low, sep, high = text.partition("..")
    if not sep or not text.isascii() or not low.strip().isdigit() or not high.strip().isdigit() or len(text) > 20:
        raise ValueError(f"expected a range such as 32..1024; received '{clip(text, 40)}'")
    first, last = int(low), int(high)
    if not 1 <= first <= last <= sizes.MAX_SIDE or last - first >= MAX_RANGE:
        raise ValueError(f"expected 1 ≤ low ≤ high ≤ {sizes.MAX_SIDE:,}, at most {MAX_RANGE:,} "
                                         f"sizes; received '{clip(text, 40)}'")
    return first, last


@command("sizes")
def sizes_command(
    net: NET,
    sides: Annotated[Optional[list[int]], argument("N", "Sides to try: whether each is accepted and exact, and the "
                                                        "first layer that fails.", convert=integer(1, sizes.MAX_SIDE))] = None,
    span: Annotated[Any, option("--range", metavar="LOW..HIGH", convert=size_range, shown_default="32..1024",
                                help="The sides listed.")] = (32, 1024),
    input_shape: Annotated[Any, option("--input", "-i", metavar="SHAPE", convert=sizes.parse_shape,
                                       help="Another input than C×N×N: 3xHxW reads H and W each alone, 3xHx320 H at a "
                                            "width of 320 (1xL, 3xTxHxW, Sx768 alike); all numbers, 3x224x320, tries "
                                            "that input.")] = None,
    fmt: Annotated[str, option("--format", "-f", choices=("text", "json"),
                               help="text or json (with --input: {network, input, sizes: {H: …, W: …}, tried}).")
                   ] = "text",
) -> None:
    """Which square inputs C×N×N a network accepts, and at which every division is whole.

    One symbolic analysis (every size a formula in N) gives what each layer needs of N: an output of
    at least 1, and a stride that divides. Read as rules: the smallest N every layer accepts; the N at
    which every division is whole, as a congruence (N ≡ r mod p) and as a list within --range; and,
    for each side given, whether it fits, and the first layer that fails and why (H and W of a
    rectangular input follow the same rules one by one).

    Examples: archcalc sizes googlenet · archcalc sizes unet --range 500..700 · archcalc sizes resnet50 200 224 225
    · archcalc sizes resnet50 --input 3xHxW · archcalc sizes resnet50 --input 3xHx320 · archcalc sizes resnet50
    --input 3x224x320
    """
    network = catalog.load(net)
    if input_shape is not None:
        if sides:
            raise UsageError("N tries square inputs; with --input, give the input to try: --input 3x224x320")
        _print_input(sizes.survey_input(network, sizes.channels_first(network, input_shape), *span), fmt)
        return
    survey = sizes.survey(network, *span, sides or [])
    if fmt == "json":
        sys.stdout.write(render.dumps(survey.to_dict()) + "\n")
        return
    found, trials = survey.found, survey.trials
    lines = [f"{network.name}: input {network.input[0]}×N×N (H and W of a rectangle follow the same rules)"]
    if found.smallest is None:
        lines.append(f"  no N up to {sizes.MAX_SIDE:,} is accepted by every layer")
    else:
        lines.append(f"  every layer accepts N ≥ {found.smallest}" + _below(survey))
        lines.append(f"  every division is whole for {found.rule()}")
        low, high = found.within
        shown = ", ".join(map(str, found.exact[:24])) + (" …" if len(found.exact) > 24 else "")
        lines.append(f"  within {low}..{high}: {found.valid:,} accepted, {len(found.exact):,} exact"
                     + (f": {shown}" if found.exact else ""))
    lines += [f"  N = {t['side']}: {t['verdict']}" for t in trials]
    sys.stdout.write("\n".join(lines) + "\n")


def _print_input(survey: sizes.InputSurvey, fmt: str) -> None:
    """sizes --input: the rules of each symbol of the input, or the input tried."""
    if fmt == "json":
        sys.stdout.write(render.dumps(survey.to_dict()) + "\n")
        return
    shown = render.shape(survey.input)
    if survey.tried is not None:
        sys.stdout.write(f"{survey.network.name}: input {shown}: {survey.tried['verdict']}\n")
        return
    lines = [f"{survey.network.name}: input {shown}" + (" (each side read alone)" if len(survey.found) > 1 else "")]
    for v, found in survey.found.items():
        if found.smallest is None:
            lines.append(f"  {v}: no {v} up to {sizes.MAX_SIDE:,} is accepted by every layer")
            continue
        low, high = found.within
        listed = ", ".join(map(str, found.exact[:24])) + (" …" if len(found.exact) > 24 else "")
        lines += [f"  {v}: every layer accepts {v} ≥ {found.smallest}; every division is whole for {found.rule()}",
                  f"  {v} within {low}..{high}: {found.valid:,} accepted, {len(found.exact):,} exact"
                  + (f": {listed}" if found.exact else "")]
    sys.stdout.write("\n".join(lines) + "\n")


def _below(survey: sizes.Survey) -> str:
    """Why the size under the smallest fails: its first failing layer."""
    below = survey.below()
    return "" if below is None else f" (at N = {below['side']}: {below['verdict']})"
