"""Serving a sequence model: one decode step against a KV cache, as the analysis sees it.

The last token of a context of C runs the network on one new token while
every attention reads the C − 1 tokens before it from its cache: the analysis
at a sequence of 1 with each attention's `past` = C − 1. What the step needs is
the weights, every attention's K and V for the C positions (its `cache`, made
by its rule) and the largest live activation of that one step; prefill, a
prompt of C tokens at once, is the analysis at a sequence of C. Nothing of
attention's arithmetic is written here: the rules give the cache, the MACs
and the activations, this module only sets `past` and reads the figures.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from .errors import ArchcalcError
from .ir import Network
from .report import Report
from .rules import RULES
from .sides import MAX_SIDE
from .states import Part
from .units import DTYPE_BYTES

# --kv-dtype: the name the cache's type goes by, and its bytes per element
KV_OF_DTYPE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "int8": "fp8"}  # default: the weights'
# the KV cache's element type by its short name, and its size: fp8 (no weight dtype), then the weights' types
KV_DTYPES = {"fp8": ("float8", 1),
             **{short: (name, DTYPE_BYTES[name]) for short, name in (("bf16", "bfloat16"), ("fp16", "float16"),
                                                                    ("fp32", "float32"))}}
ATTENTION = "attention"


def decoding(net: Network, past: int) -> Network:
    """`net` with every self-attention's `past` set: tokens already in its KV cache (checked as a spec's value
    is)."""
    attention = [layer for layer in net.layers if layer.kind == ATTENTION]
    if not attention:
        raise ArchcalcError(f"{net.name}: serving reads the KV cache of attention layers; this network has none")
    if not any(layer.args.get("causal") for layer in attention):
        raise ArchcalcError(f"{net.name}: serving generates token by token through causal attention; this "
                            "network's attention is bidirectional (an encoder), with nothing to decode")
    arg = next(a for a in RULES[ATTENTION].args if a.name == "past")
    value = arg.check(past)
    changed: dict[int, MappingProxyType] = {}  # equal layers share one mapping still (the analysis evaluates it once)

    def with_past(args: Any) -> MappingProxyType:
        if id(args) not in changed:
            changed[id(args)] = MappingProxyType({**args, "past": value})
        return changed[id(args)]

    # a cross-attention's keys and values are its memory's, made once: no past of its own
    return replace(net, layers=tuple(replace(layer, args=with_past(layer.args))
                                     if layer.kind == ATTENTION and len(layer.inputs) == 1 else layer
                                     for layer in net.layers))


def context_limit(net: Network) -> int:
    """The longest context the network holds: its learned position tables' length (`pos_embed` max), else
    the largest size archcalc takes."""
    tables = [layer.args["max"] for layer in net.layers if layer.kind == "pos_embed" and layer.args.get("max")]
    return min(tables, default=MAX_SIDE)


def cached_layers(report: Report) -> int:
    return sum(1 for row in report.rows if row.cache)


def serve_parts(decode: Report, kv_dtype: str) -> list[Part]:
    """The bytes of one decode step at the report's batch: weights, KV cache, the step's largest live activations,
    buffers (the decode report: a sequence of 1, each attention's past the context before it)."""
    name, itemsize = KV_DTYPES[kv_dtype]
    totals = decode.totals
    cache = totals.kv_cache * itemsize * decode.batch
    return [part for part in (
        Part("weights", decode.dtype, totals.param_bytes),
        Part("KV cache", name, cache, f"K and V of {cached_layers(decode)} attention layers, every position"),
        Part("decode activations", decode.dtype, totals.inference_peak_bytes,
             "the largest live tensors of one decode step, one layer's K and V made anew among them"),
        Part("buffers", decode.dtype, totals.buffer_bytes),
    ) if not (isinstance(part.bytes, int) and part.bytes == 0)]
