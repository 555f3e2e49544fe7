"""What `verify` and `verify --against` share: a check's records, its tolerance, and where a forward runs.

A `Mismatch` is one figure of one node the engine and torch disagree on; a
`SavedCheck` the bytes autograd keeps at one batch, the engine's against a
measure, within `TOLERANCE`; `placement` says where a training forward at a
batch runs (the device, the meta device, fake tensors, or nowhere) and
refuses, before anything is allocated, a smallest batch that cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..fit import smaller_batch
from ..ir import Network
from ..rules import RULES
from ..rules.base import shape_text
from ..units import format_bytes
from . import capacity

TOLERANCE = 0.05  # the saved-bytes model must land within 5% of what autograd keeps
REAL_LIMIT = 16 * 10**9  # MACs of one forward (batch × per-image) a 2-core CPU runs in about a second


@dataclass(frozen=True)
class Mismatch:
    """One figure of one node on which the engine and torch disagree."""

    node: str
    what: str  # shape, params, trainable, buffers, MACs
    engine: str
    torch: str


@dataclass(frozen=True)
class SavedCheck:
    """Bytes autograd keeps for backward at one batch: the engine's model against a measure."""

    batch: int
    where: str  # the device the forward ran on: cpu, cuda, mps — or meta (shapes only)
    engine: int
    measured: int | None  # None: not measured, `note` says why
    note: str = ""
    nodes: tuple[tuple[str, int, int], ...] = ()  # (node, engine, measured) where they differ
    cuda_allocated: int | None = None  # CUDA: memory the forward left allocated, less its output
    cuda_peak: int | None = None  # CUDA: max_memory_allocated during the forward (shown, not judged)
    recompute: tuple[int, int | None] | None = None  # checkpointed: (engine, measured) of the largest segment run again
    input: tuple[int, ...] | None = None  # the input per sample measured at, where not the spec's (a sequence length)

    @property
    def label(self) -> str:
        """The batch, and the input where not the spec's: `b2`, `b2 S32`."""
        return f"b{self.batch}" + ("" if self.input is None else f" S{shape_text(self.input)}")

    def to_dict(self) -> dict[str, Any]:
        """The check in JSON: the batch, where it ran, the engine's bytes and the measure's, and the verdict."""
        return {"batch": self.batch, **({} if self.input is None else {"input": list(self.input)}), "on": self.where, "engine": self.engine, "measured": self.measured,
                "diff": self.diff, "ok": self.ok, "note": self.note}

    @property
    def diff(self) -> float | None:
        """(engine − measured) / measured."""
        if self.measured is None:
            return None
        return (self.engine - self.measured) / self.measured if self.measured else float(self.engine != 0)

    @property
    def kept(self) -> int:
        """The engine's bytes kept at the end of the forward: all of them, but a checkpointed segment run again."""
        return self.engine - (self.recompute[0] if self.recompute else 0)

    @property
    def ok(self) -> bool:
        """Within tolerance, or not measured (which the output says, and which is no pass); checkpointed,
        what the forward keeps and what a segment run again keeps each within it too."""
        in_range = self.diff is None or abs(self.diff) <= TOLERANCE
        cuda = self.cuda_allocated is None or abs(self.kept - self.cuda_allocated) <= TOLERANCE * self.cuda_allocated
        parts = self.recompute is None or self.measured is None or all(
            abs(engine - measured) <= TOLERANCE * measured for engine, measured in (
                self.recompute, (self.engine - self.recompute[0], self.measured - self.recompute[1])))
        return in_range and cuda and parts


def modelled(device: str) -> str:
    """The device whose kernels and op lists the engine models for a run on `device`: cuda, or else cpu."""
    return "cuda" if device.startswith("cuda") else "cpu"


def placement(network: Network, macs: int, batch: int, smallest: int, device: str, real_limit: int,
              need: int = 0, force: bool = False, fake: bool = False, extra: int = 0,
              low: str = "float32") -> tuple[str, str]:
    """Where a training forward at `batch` runs ("none": nowhere), and a note when not on `device`.

    A real run must fit: its `need` (the engine's training memory, in bytes) within what the device
    has free, unless `force`; the smallest batch that does not is refused (capacity.TooLarge), with the
    largest batch whose need, `extra` bytes included (a reference model's own weights), would fit.
    The smallest batch, and any within `real_limit` MACs, runs for real; past either limit the meta
    device runs the same autograd graph without arithmetic, unless a kind's kernel (and what it saves)
    depends on the device, as attention's does: then it runs for real whatever its MACs, if it fits.
    With `fake` (autocast or checkpointing, which the meta device cannot show) fake CPU tensors run it
    instead on the CPU (its kernels and autocast, without storage or arithmetic), a GPU for real. The
    smallest batch is refused too when its step would take the device too long in `low`, the dtype its
    heavy arithmetic runs in (capacity.require_time).
    """
    fits = force or capacity.fits(need, device)
    if batch == smallest:
        if not fits:
            capacity.require(need, device, f"{network.name}'s training forward at batch {batch:,}",
                             lambda free: smaller_batch(network, free, lambda r: capacity.training_need(r) + extra))
        # a training step is its forward and a backward of about twice its MACs
        capacity.require_time(3 * macs * batch, device, f"{network.name}'s training step at batch {batch:,}",
                              low, force)
        return device, ""
    if batch * macs <= real_limit and fits:
        return device, ""
    reason = (f"{batch} × {macs:,} MACs is past the real-run limit" if batch * macs > real_limit
              else f"its training forward, {format_bytes(need)}, is more than {device} has free")
    if fake and device == "cpu":
        return "fake", f"fake tensors: {reason}"
    if fake or any(RULES[layer.kind].kernel_by_device for layer in network.layers):
        return (device, "") if fits else ("none", f"not measured: {reason}")
    return "meta", f"meta device: {reason}"
