"""The engine's figures for a spec against an independent model, such as torchvision's.

`archcalc verify NET --against torchvision:NAME` builds torchvision's model
of that name (untrained: nothing is downloaded), runs it, and compares it
with the engine's analysis of the spec, never with archcalc's own build of
the spec, which would share the spec's mistakes:

- in total, always: parameters, buffers, MACs (FlopCounterMode FLOPs / 2,
  as `verify` counts them), the output shape, and the bytes autograd saves
  in a training forward at each batch (within 5 %);
- the parameter tensors: the shapes of the spec's and of the model's must
  be the same, one for one;
- layer by layer where they can be matched: each layer with parameters is
  matched to the model's modules that hold tensors of the same shapes
  (taken in the order the model runs them); where those modules hold
  nothing else, their MACs and output shape are compared with the layer's.
"""

from __future__ import annotations

import re
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..analysis import analyze
from ..errors import ArchcalcError, did_you_mean
from ..ir import Network
from ..report import Report
from ..rules.base import shape_text
from . import capacity
from .measure import Probe, materialize
from .torch import build
from .checks import REAL_LIMIT, Mismatch, SavedCheck, placement

_REFERENCE = re.compile(r"torchvision:([A-Za-z0-9_]+)(?:\((.*)\))?")
_KWARG = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(true|false|True|False|-?\d{1,15}(?:\.\d{1,15})?)\s*")
DEFAULT_BATCHES = (1, 2)


@dataclass(frozen=True)
class Comparison:
    """Everything `verify --against` found for one spec and its reference model."""

    name: str
    reference: str
    params: tuple[int, int]  # (engine, reference)
    buffers: tuple[int, int]
    macs: tuple[int, int]
    output: tuple[tuple[int, ...], tuple[int, ...] | None]
    tensors: tuple[Mismatch, ...]  # parameter tensors one side has and the other lacks
    layers: tuple[Mismatch, ...]  # matched layers whose MACs or output shape differ
    matched: int  # layers with parameters matched to modules of the model
    compared: int  # …of which MACs and output shape were compared
    saved: tuple[SavedCheck, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        totals = (self.params, self.buffers, self.macs, self.output)
        return (all(engine == measured for engine, measured in totals) and not self.tensors and not self.layers
                and all(check.ok and check.measured is not None for check in self.saved))

    def to_dict(self) -> dict[str, Any]:
        """The comparison in JSON (a verification's `against`): totals engine against model, what differs,
        and the saved bytes at each batch."""
        return {
            "reference": self.reference, "ok": self.ok, "seconds": round(self.seconds, 3),
            **{key: {"engine": pair[0], "model": pair[1]} for key, pair in
               (("params", self.params), ("buffers", self.buffers), ("macs", self.macs))},
            "output": {"engine": list(self.output[0]), "model": None if self.output[1] is None else list(self.output[1])},
            "layers_matched": self.matched, "layers_compared": self.compared,
            "differences": [{"where": m.node, "figure": m.what, "engine": m.engine, "model": m.torch}
                            for m in (*self.tensors, *self.layers)],
            "saved": [check.to_dict() for check in self.saved],
        }


def reference_model(text: str) -> nn.Module:
    """`torchvision:NAME` or `torchvision:NAME(key=value, …)` as an untrained model on the meta device."""
    match = _REFERENCE.fullmatch(text.strip())
    if not match:
        raise ArchcalcError(f"--against: expected torchvision:NAME, e.g. torchvision:resnet50; received '{text}'")
    name, options = match.group(1), match.group(2)
    kwargs = _kwargs(options, text) if options else {}
    try:
        import torchvision
    except ImportError:
        raise ArchcalcError("--against torchvision needs torchvision, which is not installed "
                            "(pip install torchvision, of the release made for your torch)") from None
    known = torchvision.models.list_models()
    if name not in known:
        raise ArchcalcError(f"--against: torchvision has no model '{name}'{did_you_mean(name, known)}")
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's notes on future default initialisations
        try:
            return torchvision.models.get_model(name, weights=None, **kwargs)
        except (TypeError, ValueError, RuntimeError, AssertionError, OverflowError) as err:  # options it refuses
            raise ArchcalcError(f"--against {text}: {str(err).splitlines()[0]}") from None


def _kwargs(options: str, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in options.split(","):
        match = _KWARG.fullmatch(part)
        if not match:
            raise ArchcalcError(f"--against {text}: expected key=value options (true, false or a number); received '{part}'")
        key, value = match.groups()
        out[key] = value.lower() == "true" if value.lower() in ("true", "false") else (float(value) if "." in value else int(value))
    return out


def compare(network: Network, reference: str, batches: tuple[int, ...] = DEFAULT_BATCHES, device: str = "cpu", *,
            real_limit: int = REAL_LIMIT, progress: Callable[[str], None] | None = None, force: bool = False) -> Comparison:
    """Compare the engine's analysis of `network` with the model `reference` names; a real run must fit
    the device (checks.placement), unless `force`."""
    started = time.perf_counter()
    say = progress or (lambda text: None)
    report = analyze(network)
    model = reference_model(reference)
    real = None
    facts: Probe | None = None
    checks = []
    for batch in sorted(set(batches)):
        engine = analyze(network, batch)
        extra = max(0, _weight_bytes(model) - _weight_bytes_of(engine))  # the model's weights beyond the engine's
        where, note = placement(network, report.totals.macs, batch, min(batches), device, real_limit,
                                capacity.training_need(engine, device) + extra, force, extra=extra)
        say(f"against {reference}, batch {batch} ({where})")
        if where == "none":
            checks.append(SavedCheck(batch, device, engine.totals.train_saved_bytes, None, note))
            continue
        if where != "meta" and real is None:
            real = materialize(model, device)
        module = real if where != "meta" else reference_model(reference)
        probe = Probe(module, dict(module.named_modules()), report.input, count=facts is None)
        try:
            measured, _, _ = probe.training_forward(batch, where)
        except (RuntimeError, ValueError, MemoryError) as err:
            checks.append(SavedCheck(batch, where, engine.totals.train_saved_bytes, None,
                                     f"not measured: {str(err).splitlines()[0]}"))
            continue
        facts = facts or probe
        checks.append(SavedCheck(batch, where, engine.totals.train_saved_bytes, measured, note))
    if facts is None:
        raise ArchcalcError(f"{reference} would not run a training forward on {device}: {checks[0].note}")
    tensors, layers, matched, compared = _layers(network, report, facts)
    totals = facts.facts[""]
    return Comparison(
        network.name, reference,
        (report.totals.params, totals["params"]), (report.totals.buffers, totals["buffers"]),
        (report.totals.macs, totals["macs"]), (report.rows[-1].output, facts.output_shape),
        tuple(tensors), tuple(layers), matched, compared, tuple(checks), time.perf_counter() - started)


def _weight_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters and buffers (on the meta device: nothing is allocated to know)."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def _weight_bytes_of(report: Report) -> int:
    return report.totals.param_bytes + report.totals.buffer_bytes


def _layers(network: Network, report: Report, facts: Probe) -> tuple[list[Mismatch], list[Mismatch], int, int]:
    """Parameter tensors matched shape for shape, then the layers whose modules hold only theirs compared."""
    ours = build(network, device="meta")
    theirs = _in_run_order(facts)
    pool: dict[tuple[int, ...], deque[str]] = {}
    for param, owner, shape in theirs:
        pool.setdefault(shape, deque()).append(owner)
    owners: dict[str, set[str]] = {}  # engine layer → the model's modules holding its tensors
    tensors = []
    for node, module in ours.nodes().items():
        for param in module.parameters():
            shape = tuple(param.shape)
            if pool.get(shape):
                owners.setdefault(node, set()).add(pool[shape].popleft())
            else:
                tensors.append(Mismatch(node, "parameter tensor", _shape(shape), "none of this shape left"))
    for shape, left in pool.items():
        tensors += [Mismatch(owner, "parameter tensor", "none of this shape left", _shape(shape)) for owner in left]
    claimed = {owner: node for node, modules in owners.items() for owner in modules}
    rows = {row.name: row for row in report.rows}
    layers, compared = [], 0
    for node, modules in owners.items():
        top = {m for m in modules if not any(m.startswith(other + ".") or other == "" for other in modules - {m})}
        if not all(_holds_only(facts.module, m, node, claimed) for m in top):
            continue
        compared += 1
        row, last = rows[node], max(top, key=lambda m: facts.facts[m].get("order", -1))
        got_macs = sum(facts.facts[m].get("macs", 0) for m in top)
        where = ", ".join(sorted(top))
        if row.macs != got_macs:
            layers.append(Mismatch(node, f"MACs ({where})", f"{row.macs:,}", f"{got_macs:,}"))
        if row.output != facts.facts[last].get("shape"):
            layers.append(Mismatch(node, f"output ({last})", _shape(row.output), _shape(facts.facts[last].get("shape"))))
    return tensors, layers, len(owners), compared


def _holds_only(model: nn.Module, module: str, node: str, claimed: dict[str, str]) -> bool:
    """Whether every parameter under `module` is one the engine's layer `node` was matched to."""
    owners = {name.rpartition(".")[0] for name, _ in model.get_submodule(module).named_parameters(prefix=module)}
    return bool(owners) and all(claimed.get(owner) == node for owner in owners)


def _in_run_order(facts: Probe) -> list[tuple[str, str, tuple[int, ...]]]:
    """The model's parameters as (name, owning module, shape), ordered by when their module first
    ran (a module never called, such as attention's out_proj, by its nearest caller)."""
    def order(owner: str) -> int:
        while owner and "order" not in facts.facts.get(owner, {}):
            owner = owner.rpartition(".")[0]
        return facts.facts.get(owner, {}).get("order", 0)

    params = [(name, name.rpartition(".")[0], tuple(p.shape)) for name, p in facts.module.named_parameters()]
    return sorted(params, key=lambda item: order(item[1]))


def _shape(shape: Any) -> str:
    return "—" if shape is None else shape_text(shape) or "scalar"
