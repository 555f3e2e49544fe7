"""The engine's figures checked against torch: shapes, parameters, MACs, saved bytes.

Per node: output shape, parameters (trained and fixed), buffers, and MACs
as FlopCounterMode's FLOPs / 2 — all from the first training forward that
runs (or, if torch refuses every one, an eval forward on the meta device).
And autograd's saved tensors in a training-mode forward, counted by storage
(a tensor kept twice, or a view, counts once; the module's own parameters
and buffers are left out, the engine counts them apart), at each batch,
against the report's `train_saved_bytes`:

- at the smallest batch, always a real forward on the chosen device, with
  zero-filled parameters (values do not change what autograd keeps);
- at a larger batch, a real forward too while batch × MACs stays within
  `real_limit`; past it the meta device runs the same autograd graph with
  no arithmetic, and the result says so (`where == "meta"`).

Under a precision (`amp-bf16`: the forward runs under torch.autocast; `bf16`:
the module in bfloat16) the engine follows the op lists of the device that
measures; with checkpointing (segments.cut), the module runs those segments
through torch.utils.checkpoint, and each segment's forward is run again as its
backward would: what the forward keeps and the most one segment keeps when
run again are each held to the engine's. Past `real_limit` these modes
measure on fake tensors (no storage, no arithmetic, but the CPU's kernels and
autocast, which the meta device lacks), and the result says so.

A training forward that torch refuses (batch norm of one value per channel
at batch 1, memory) is reported as not measured, never passed silently.
On CUDA, the memory the forward leaves allocated (torch.cuda.memory_allocated
after a warm-up pass has made cuBLAS/cuDNN workspaces, less the output) is
a second, independent measure of the same figure, held to the same 5%.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import segments
from ..analysis import analyze
from ..ir import Network
from ..precision import PRECISIONS
from ..rules.base import Shape, shape_text
from . import capacity
from .checks import REAL_LIMIT, Mismatch, SavedCheck, modelled, placement
from .measure import Probe, fake_tensors, materialize
from .torch import DTYPES, ArchcalcModule, build


@dataclass(frozen=True)
class Verification:
    """Everything `archcalc verify` found for one network."""

    name: str
    nodes: int
    params: tuple[int, int]  # (engine, torch)
    buffers: tuple[int, int]
    macs: tuple[int, int]  # torch: FlopCounterMode FLOPs / 2
    mismatches: tuple[Mismatch, ...]
    saved: tuple[SavedCheck, ...]
    seconds: float
    torch_version: str = field(default_factory=lambda: torch.__version__)
    precision: str | None = None  # the regime measured (None: float32, plain autograd)
    checkpoint: str | int | None = None

    @property
    def ok(self) -> bool:
        """Every figure agrees, and at least one batch's saved bytes were measured: nothing measured is no pass."""
        return not self.mismatches and all(check.ok for check in self.saved) and not self.unmeasured_only

    @property
    def unmeasured_only(self) -> bool:
        return all(check.measured is None for check in self.saved)

    @property
    def unmeasured(self) -> tuple[SavedCheck, ...]:
        return tuple(check for check in self.saved if check.measured is None)

    def to_dict(self) -> dict[str, Any]:
        """The verification in JSON (`verify --format json`): totals engine against torch, every mismatch,
        and each batch's saved bytes with what CUDA measured and the nodes that differ."""
        return {
            "network": self.name, "ok": self.ok, "torch": self.torch_version, "nodes": self.nodes,
            "seconds": round(self.seconds, 3), "precision": self.precision, "checkpoint": self.checkpoint,
            "params": {"engine": self.params[0], "torch": self.params[1]},
            "buffers": {"engine": self.buffers[0], "torch": self.buffers[1]},
            "macs": {"engine": self.macs[0], "torch": self.macs[1]},
            "mismatches": [{"node": m.node, "figure": m.what, "engine": m.engine, "torch": m.torch}
                           for m in self.mismatches],
            "saved": [{**c.to_dict(), "cuda_allocated": c.cuda_allocated, "cuda_peak": c.cuda_peak,
                       "recompute": None if c.recompute is None else dict(zip(("engine", "measured"), c.recompute)),
                       "nodes": [{"node": n, "engine": e, "measured": m} for n, e, m in c.nodes]} for c in self.saved],
        }


def document(results: Sequence[Verification], comparisons: Sequence[Any]) -> list[dict[str, Any]]:
    """`verify --format json`: each network's verification, with its comparison with an independent model
    (a `reference.Comparison`; None where none was made) as its `against`."""
    return [{**r.to_dict(), "against": None if c is None else c.to_dict()} for r, c in zip(results, comparisons)]


def verify(network: Network, batches: tuple[int, ...] = (1, 8), device: str = "cpu", *,
           real_limit: int = REAL_LIMIT, input_shape: Shape | None = None,
           progress: Callable[[str], None] | None = None, precision: str | None = None,
           checkpoint: str | int | None = None, force: bool = False) -> Verification:
    """Check one network's shapes, parameters, buffers, MACs and saved bytes against torch, under a
    precision and with checkpointing when given.

    The first training forward that runs also gives the per-node shapes and
    FLOPs; when torch refuses every one, an eval forward on the meta device does.
    A real forward whose training memory (the engine's figure) is more than the
    device has free is not tried: a larger batch runs on the meta device, and
    the smallest is refused (capacity.TooLarge) unless `force`.
    """
    started = time.perf_counter()
    say = progress or (lambda text: None)
    report = analyze(network, input_shape=input_shape)
    regime = PRECISIONS[precision or "fp32"]
    cut = segments.cut(network, checkpoint)
    low = DTYPES[regime.autocast] if regime.autocast else None
    ordered = sorted(set(batches))
    real: ArchcalcModule | None = None
    facts: dict[str, dict[str, Any]] | None = None
    checks = []
    for batch in ordered:
        engine = analyze(network, batch, input_shape=input_shape, precision=precision, checkpoint=checkpoint,
                         device=modelled(device))
        where, note = placement(network, report.totals.macs, batch, ordered[0], device, real_limit,
                                capacity.training_need(engine, device), force,
                                fake=precision is not None or checkpoint is not None, low=regime.low)
        say(f"batch {batch} ({where})")
        expected = engine.totals.train_saved_bytes + engine.totals.recompute_bytes
        if where == "none":
            checks.append(SavedCheck(batch, device, expected, None, note))
            continue
        try:
            with fake_tensors() if where == "fake" else nullcontext():
                if where not in ("meta", "fake") and real is None:
                    real = materialize(_build(network, input_shape, "meta", regime.weights), device)
                module = real if where not in ("meta", "fake") else _build(
                    network, input_shape, "cpu" if where == "fake" else "meta", regime.weights)
                run = _probe(module.checkpoint(cut), count=facts is None)
                measured, per_node, allocated = run.training_forward(batch, "cpu" if where == "fake" else where, low)
        except (RuntimeError, ValueError, MemoryError) as err:  # torch refuses this forward: say so
            checks.append(SavedCheck(batch, where, expected, None, f"not measured: {str(err).splitlines()[0]}"))
            continue
        if facts is None:
            facts = run.facts
        nodes = tuple((row.name, row.saved_bytes, per_node.get(row.name, 0)) for row in engine.rows
                      if row.saved_bytes != per_node.get(row.name, 0))
        recompute = (engine.totals.recompute_bytes, run.recompute or 0) if cut else None
        checks.append(SavedCheck(batch, where, expected, measured + (run.recompute or 0), note, nodes, allocated,
                                 run.cuda_peak, recompute))
    if facts is None:
        say("shapes (meta device)")
        run = _probe(build(network, input_shape=input_shape, device="meta"), count=True)
        run.eval_forward()
        facts = run.facts
    mismatches = tuple(_compare(report.rows, facts))
    total = report.totals
    return Verification(
        network.name, len(network.layers),
        (total.params, sum(f["params"] for f in facts.values())),
        (total.buffers, sum(f["buffers"] for f in facts.values())),
        (total.macs, sum(f["macs"] for f in facts.values())),
        mismatches, tuple(checks), time.perf_counter() - started, precision=precision, checkpoint=checkpoint)


def _build(network: Network, input_shape: Shape | None, device: str, dtype: str) -> ArchcalcModule:
    """The module, its parameters made in `dtype` (not converted after: fake tensors cannot be swapped)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(DTYPES[dtype])
    try:
        return build(network, input_shape=input_shape, device=device)
    finally:
        torch.set_default_dtype(before)


def _probe(module: ArchcalcModule, count: bool) -> Probe:
    return Probe(module, module.nodes(), module.input_shape, count, disjoint=True)


def _compare(rows: Any, facts: dict[str, dict[str, Any]]) -> list[Mismatch]:
    out = []
    for row in rows:
        got = facts[row.name]
        pairs = (("shape", row.output, got.get("shape")), ("params", row.params, got["params"]),
                 ("trainable", row.trainable_params, got["trainable"]), ("buffers", row.buffers, got["buffers"]),
                 ("MACs", row.macs, got.get("macs")))
        for what, engine, measured in pairs:
            if engine != measured:
                out.append(Mismatch(row.name, what, _text(engine), _text(measured)))
    return out


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return shape_text(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


