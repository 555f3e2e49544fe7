"""Precision regimes: the type of a step's weights, and the low precision autocast computes in.

`fp32` and `bf16` keep one type for everything (bf16: the model cast to bfloat16,
its gradients and optimizer state too). `amp-fp16` and `amp-bf16` are
torch.autocast over a float32 model: float32 weights, gradients and optimizer
state; each layer's tensors in the type autocast gives them (see
`rules.base.Autocast`), and the low-precision weight copies it makes.
"""

from __future__ import annotations

from typing import NamedTuple

from .units import DTYPE_BYTES


class Precision(NamedTuple):
    name: str
    weights: str  # the trained weights' dtype (under autocast: the float32 master weights)
    autocast: str | None = None  # the low precision autocast computes in; None without autocast

    @property
    def low(self) -> str:
        """The dtype the heavy arithmetic runs in."""
        return self.autocast or self.weights


PRECISIONS = {p.name: p for p in (
    Precision("fp32", "float32"),
    Precision("amp-fp16", "float32", "float16"),
    Precision("amp-bf16", "float32", "bfloat16"),
    Precision("bf16", "bfloat16"),
)}

# The other spelling of each, accepted wherever a precision or a dtype is asked for (docs/cli.md, "Precisions and
# dtypes"): a training precision by its dtype's name, a dtype by its short name
PRECISION_ALIASES = {"float32": "fp32", "bfloat16": "bf16"}
DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def precision_name(text: str) -> str:
    """A precision's own name (fp32, amp-fp16, amp-bf16, bf16) for it or its alias; other text unchanged."""
    return PRECISION_ALIASES.get(text, text)


def dtype_name(text: str) -> str:
    """A dtype's own name (float32, float16, bfloat16, int8) for it or its alias; other text unchanged."""
    return DTYPE_ALIASES.get(text, text)


DEVICES = ("cuda", "cpu")  # whose autocast op lists an analysis follows


def dtype_names(weights: str, autocast: str | None) -> dict[int, str]:
    """The name of each element size a step under this regime holds: its floats, int64 indices, byte masks."""
    names = {1: "bool", 4: "float32", 8: "int64", DTYPE_BYTES[weights]: weights}
    if autocast is not None:
        names[DTYPE_BYTES[autocast]] = autocast
    return names
