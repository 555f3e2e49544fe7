"""Model states per device: weights, gradients and optimizer state, under a precision and a sharding.

A training step keeps, per trained parameter, its weight, its gradient and the
optimizer's state (sgd none, momentum one, adam two tensors). Unsharded, mixed
precision (torch.autocast) keeps float32 weights, gradients and state; the
low-precision weight copies autocast makes are among the step's saved tensors.
Sharded, it keeps what ZeRO keeps (Rajbhandari et al. 2020, Section 3.1): on
each device the low-precision weights and gradients the step uses (2 + 2 bytes
per parameter), and with the optimizer's state the float32 master weights
(K = 12 bytes per parameter for Adam: master weights, momentum, variance).

Each sharding stage divides one more of these among the devices: `optimizer`
the optimizer state (ZeRO stage 1, P_os), `gradients` the gradients too
(stage 2, P_os+g; FSDP's SHARD_GRAD_OP), `parameters` the weights too (stage
3, P_os+g+p; FSDP's FULL_SHARD).
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import ArchcalcError
from .precision import Precision
from .safe import clip, describe
from .units import DTYPE_BYTES

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # tensors per parameter
SHARDS = ("none", "optimizer", "gradients", "parameters")  # ZeRO stages 0 to 3: what the devices divide
MAX_DEVICES = 10**6


class Part(NamedTuple):
    """The bytes of one kind of tensor in a step, on each device."""

    tensor: str  # what it is: saved activations, weight copies, gradients, adam state …
    dtype: str
    bytes: int
    note: str = ""


def labelled(parts: list[Part]) -> dict[str, int]:
    """The parts' bytes by name: the tensor, and its dtype where a tensor has several (`saved activations
    (int64)`)."""
    count: dict[str, int] = {}
    for part in parts:
        count[part.tensor] = count.get(part.tensor, 0) + 1
    return {part.tensor if count[part.tensor] == 1 else f"{part.tensor} ({part.dtype})": part.bytes for part in parts}


def model_states(params: int, trainable: int, precision: Precision, optimizer: str, devices: int = 1,
                 shard: str = "none") -> list[Part]:
    """Weights (all `params`), gradients and optimizer state (of the `trainable` ones) on each device."""
    if optimizer not in OPTIMIZER_STATES:
        raise ArchcalcError(f"unknown optimizer '{clip(str(optimizer))}' (known: {', '.join(OPTIMIZER_STATES)})")
    if shard not in SHARDS:
        raise ArchcalcError(f"unknown sharding '{clip(str(shard))}' (known: {', '.join(SHARDS)})")
    if isinstance(devices, bool) or not isinstance(devices, int) or not 1 <= devices <= MAX_DEVICES:
        raise ArchcalcError(f"devices: expected an integer from 1 to {MAX_DEVICES:,}; received {describe(devices)}")
    stage, states, low = SHARDS.index(shard), OPTIMIZER_STATES[optimizer], precision.autocast
    kept = DTYPE_BYTES[precision.weights]
    state = (f"{optimizer} state", precision.weights, kept * states * trainable, 1, f"{states} per parameter")
    if low is not None and stage > 0:  # ZeRO's mixed precision: the master weights live with the optimizer
        held = [("weights", low, DTYPE_BYTES[low] * params, 3, "the low-precision weights the step uses"),
                ("gradients", low, DTYPE_BYTES[low] * trainable, 2, ""),
                ("master weights", precision.weights, kept * trainable, 1, "updated by the optimizer"),
                state]
    else:
        held = [("master weights" if low else "parameters", precision.weights, kept * params, 3, ""),
                ("gradients", precision.weights, kept * trainable, 2, ""),
                state]
    parts = []
    for tensor, dtype, size, divided_from, note in held:
        if stage >= divided_from and devices > 1:
            size = -(-size // devices)
            note = ", ".join(filter(None, (note, f"1/{devices} on each device")))
        parts.append(Part(tensor, dtype, size, note))
    return parts
