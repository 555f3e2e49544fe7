"""What an import leaves out of the network: the index and mask arithmetic of a model's forward.

A language model's forward builds position ids, cache positions, attention masks and rotary tables
(arange, cumsum, diff, ne, index, cos, sin …) from constants, buffers and the token ids. None of it reads
an activation or a learned parameter, and nothing of it is what the engine counts (the attention kinds
count their masks and rotary tables themselves), so it is no layer. The rule, op by op:

    an op is left out when it reads no learned parameter, and every tensor it reads is an integer or
    boolean tensor (the ids, a mask), a buffer, or the output of an op left out;

except that an op passing the ids on unchanged (a view of them to the same shape) stays the ids. A float
op that reads an activation is never left out: it is mapped, or listed as what no kind expresses (an
activation added to a left-out tensor included). A module called only on left-out tensors is left out
whole when it has no parameters (a rotary embedding); an embedding table called on them (GPT-2's position
table at positions 0 … S−1) is its table, as a parameter the network adds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .functional import Const


def const_of(value: Any) -> Const:
    """The left-out tensor a traced value is (a tuple's first: a rotary embedding's cos and sin)."""
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return Const(tuple(value.shape) if isinstance(value, torch.Tensor) else ())


def left_out(reads: Iterable[tuple[Any, Any]], is_buffer: Any, is_parameter: Any) -> bool:
    """Whether an op is index arithmetic, from what it reads: (its input's Value, its traced value) pairs;
    `is_buffer(value)` and `is_parameter(value)` tell a Value that is a buffer or a learned parameter. (An op
    that reads neither an activation nor a parameter nor a buffer is a Const before this is asked.)"""
    for value, traced in reads:
        if is_parameter(value):
            return False
        if isinstance(value, Const) or is_buffer(value):
            continue
        if isinstance(traced, torch.Tensor) and (traced.is_floating_point() or traced.is_complex()):
            return False
    return True
