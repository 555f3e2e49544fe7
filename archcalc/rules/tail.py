"""What a weighted layer fuses after its product: a bias, batch norm and an activation.

Convolutions, transposed convolutions, fc and linear layers and projection
shortcuts share it: a bias per output map unless batch norm follows (whose
γ and β take its place), BN's running statistics as buffers, and what
autograd keeps for BN (its input, the raw product, and per-channel
statistics) and for the activation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .base import Saved
from .elementwise import inline_act
from .norm import batchnorm_stats


class Tail(NamedTuple):
    params: int
    terms: tuple[str, ...]  # the parameter formula's terms after the weights: "96", "2·96"
    buffers: int
    counters: int  # of the buffers, BN's int64 batch count
    saved: tuple[Saved, ...]
    temporaries: int  # elements alive only while the layer runs (the raw product before BN)


def resolve_bias(args: Mapping[str, Any], shapes: list) -> Mapping[str, Any]:
    """`bias` unset (None) means a bias unless batch norm follows (its β takes the bias's place)."""
    return args if args["bias"] is not None else {**args, "bias": not args["bn"]}


def tail(out: int, count: int, raw: str, *, bias: bool, bn: bool, act: str | None) -> Tail:
    """The tail of a layer with `out` maps and `count` output elements per sample.

    `raw` names the product before BN (`tmp:conv`); `bias` is resolved (`resolve_bias`).
    """
    act_saved, act_tmp = inline_act(act, "tmp:bn" if bn else raw, count)
    bn_saved = (Saved(raw, count), batchnorm_stats(out)) if bn else ()
    return Tail(
        params=(out if bias else 0) + (2 * out if bn else 0),
        terms=((str(out),) if bias else ()) + ((f"2·{out}",) if bn else ()),
        buffers=2 * out + 1 if bn else 0,
        counters=1 if bn else 0,
        saved=bn_saved + act_saved,
        temporaries=(count if bn else 0) + act_tmp,
    )
