"""The engine's figures for a spec against an independent model: torchvision's, or a transformers model.

`archcalc verify NET --against torchvision:NAME` builds torchvision's model
of that name (untrained: nothing is downloaded), `--against transformers:NAME`
a transformers model from its Config (random weights; see `hf`), runs it,
and compares it with the engine's analysis of the spec, never with
archcalc's own build of the spec, which would share the spec's mistakes:

- in total, always: parameters (a tied weight once, as torch and
  transformers count it), buffers (those the model's state_dict holds: index
  tables made afresh, such as BERT's position ids or rope's frequencies, are
  not its state), MACs (FlopCounterMode FLOPs / 2, as `verify` counts them,
  attention's fused CPU kernel included: see `measure`), the output shape,
  and the bytes autograd saves in a training forward at each batch (within
  5 %), for a transformers model at each of two sequence lengths;
- the parameter tensors: the shapes of the spec's and of the model's must
  be the same, one for one (`tensors.match`: a tensor one side packs, such
  as attention's q, k and v, matches the other's projections it packs);
- layer by layer where they can be matched: each layer with parameters is
  matched to the model's modules that hold tensors of the same shapes
  (taken in the order the model runs them); where those modules hold
  nothing else, their MACs and output shape are compared with the layer's.

MACs, output and layers are compared at the first input measured (the
spec's own for torchvision, the shorter sequence for transformers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...analysis import analyze
from ...errors import ArchcalcError
from ...ir import Network
from ...report import Report
from ...rules.base import Shape, shape_text
from .. import capacity
from ..checks import REAL_LIMIT, Mismatch, SavedCheck, modelled, placement
from ..measure import Probe, fake_tensors, materialize
from ..torch import build
from . import hf, tensors, vision
from .oracle import Oracle

DEFAULT_BATCHES = (1, 2)
SOURCES = {vision.SOURCE: vision.oracle, hf.SOURCE: hf.oracle}


@dataclass(frozen=True)
class Comparison:
    """Everything `verify --against` found for one spec and its reference model."""

    name: str
    reference: str
    params: tuple[int, int]  # (engine, reference)
    buffers: tuple[int, int]
    macs: tuple[int, int | None]  # None: the model ran no forward (each saved check says why)
    output: tuple[tuple[int, ...], tuple[int, ...] | None]
    tensors: tuple[Mismatch, ...]  # parameter tensors one side has and the other lacks
    layers: tuple[Mismatch, ...]  # matched layers whose MACs or output shape differ
    matched: int  # layers with parameters matched to modules of the model
    compared: int  # …of which MACs and output shape were compared
    saved: tuple[SavedCheck, ...]
    seconds: float
    built: str = ""  # the model built, in its library's words
    at: Shape | None = None  # the input per sample MACs, output and layers were compared at (None: the spec's)

    @property
    def ok(self) -> bool:
        totals = (self.params, self.buffers, self.macs, self.output)
        return (all(engine == measured for engine, measured in totals) and not self.tensors and not self.layers
                and all(check.ok and check.measured is not None for check in self.saved))

    def to_dict(self) -> dict[str, Any]:
        """The comparison in JSON (a verification's `against`): totals engine against model, what differs,
        and the saved bytes at each batch (and input)."""
        return {
            "reference": self.reference, "built": self.built, "ok": self.ok, "seconds": round(self.seconds, 3),
            "input": None if self.at is None else list(self.at),
            **{key: {"engine": pair[0], "model": pair[1]} for key, pair in
               (("params", self.params), ("buffers", self.buffers), ("macs", self.macs))},
            "output": {"engine": list(self.output[0]), "model": None if self.output[1] is None else list(self.output[1])},
            "layers_matched": self.matched, "layers_compared": self.compared,
            "differences": [{"where": m.node, "figure": m.what, "engine": m.engine, "model": m.torch}
                            for m in (*self.tensors, *self.layers)],
            "saved": [check.to_dict() for check in self.saved],
        }


def oracle(text: str) -> Oracle:
    """The independent model `text` names (`torchvision:…` or `transformers:…`), checked, not yet built."""
    return SOURCES[_source(text)](text)


def _source(text: str) -> str:
    source = text.strip().partition(":")[0]
    if source not in SOURCES:
        raise ArchcalcError("--against: expected torchvision:NAME (e.g. torchvision:resnet50) or transformers:NAME "
                            f"(e.g. transformers:gpt2); received '{text}'")
    return source


def check(network: Network, text: str) -> None:
    """What can be said of `text` for `network` before its library is imported or anything runs: its source,
    a transformers name, and that the model reads what the spec's input is (token ids, or not)."""
    source = _source(text)
    if source == hf.SOURCE:
        hf.check_name(text)
    if network.ids != (source == hf.SOURCE):
        reads, given = (("token ids", f"{shape_text(network.input)}, not token ids ({{ids: S}})") if not network.ids
                        else ("images, signals or features", "token ids"))
        other = "torchvision:NAME" if not network.ids else "transformers:NAME"
        raise ArchcalcError(f"--against {text}: that model reads {reads}, but {network.name}'s input is {given}; "
                            f"compare it with a model of its kind ({other})")


def reference_model(text: str) -> nn.Module:
    """The model `text` names, untrained, on the meta device."""
    return _on_meta(oracle(text))


def _on_meta(model: Oracle) -> nn.Module:
    with torch.device("meta"):
        return model.make()


def compare(network: Network, reference: str, batches: tuple[int, ...] = DEFAULT_BATCHES, device: str = "cpu", *,
            real_limit: int = REAL_LIMIT, progress: Callable[[str], None] | None = None, force: bool = False) -> Comparison:
    """Compare the engine's analysis of `network` with the model `reference` names; a real run must fit
    the device (checks.placement), unless `force`, or, for a model that can (transformers'), runs on fake
    tensors."""
    started = time.perf_counter()
    say = progress or (lambda text: None)
    source = oracle(reference)
    model = _on_meta(source)
    real = None
    facts: Probe | None = None
    first: Report | None = None
    checks = []
    for shape in source.inputs:
        report = analyze(network, input_shape=shape, device=modelled(device))
        for batch in sorted(set(batches)):
            engine = analyze(network, batch, input_shape=shape, device=modelled(device))
            extra = max(0, _weight_bytes(model) - _weight_bytes_of(engine))  # the model's weights beyond the engine's
            where, note = _where(source, network, report, batch, min(batches), device, real_limit,
                                 capacity.training_need(engine, device) + extra, force, extra)
            at = "" if shape is None else f", input {shape_text(shape)}"
            say(f"against {reference}, batch {batch}{at} ({where})")
            if where == "none":
                checks.append(SavedCheck(batch, device, engine.totals.train_saved_bytes, None, note, input=shape))
                continue
            if where not in ("meta", "fake") and real is None:
                real = materialize(_on_meta(source), device)
            try:
                measured, probe = _measure(source, real, where, shape or report.input, batch, count=facts is None)
            except (RuntimeError, ValueError, MemoryError, NotImplementedError) as err:
                checks.append(SavedCheck(batch, where, engine.totals.train_saved_bytes, None,
                                         f"not measured: {str(err).splitlines()[0]}", input=shape))
                continue
            if facts is None:
                facts, first = probe, report
            checks.append(SavedCheck(batch, where, engine.totals.train_saved_bytes, measured, note, input=shape))
    ran = facts is not None
    if facts is None or first is None:  # no forward ran (every check says why): the tensors compared, no more
        first = analyze(network, input_shape=source.inputs[0], device=modelled(device))
        facts = source.probe(model, source.inputs[0] or first.input, False)
    differ, layers, matched, compared = _layers(network, first, facts, source, ran)
    return Comparison(
        network.name, reference,
        (first.totals.params, facts.facts[""]["params"]), (first.totals.buffers, _state_buffers(model)),
        (first.totals.macs, facts.facts[""]["macs"] if ran else None),
        (first.rows[-1].output, facts.output_shape if ran else None),
        tuple(differ), tuple(layers), matched, compared, tuple(checks), time.perf_counter() - started,
        source.built, source.inputs[0])


def _where(source: Oracle, network: Network, report: Report, batch: int, smallest: int, device: str,
           real_limit: int, need: int, force: bool, extra: int) -> tuple[str, str]:
    """checks.placement; for a model that can run on fake tensors, there rather than refused or on the meta
    device (a transformers model's forward asks values of its tensors, which the meta device has not)."""
    try:
        return placement(network, report.totals.macs, batch, smallest, device, real_limit, need, force,
                         fake=source.fakes, extra=extra)
    except (capacity.TooLarge, capacity.TooSlow) as err:
        if not source.fakes or device != "cpu":
            raise
        return "fake", f"fake tensors: {str(err).splitlines()[0].partition('; ')[0]}"


def _measure(source: Oracle, real: nn.Module | None, where: str, shape: Shape, batch: int,
             count: bool) -> tuple[int, Probe]:
    """The bytes autograd saves in one training forward of the model at `batch`, and the probe that ran it."""
    if where == "fake":
        with fake_tensors(), source.fake_context():
            probe = source.probe(source.make(), shape, count)
            measured, _, _ = probe.training_forward(batch, "cpu")
        return measured, probe
    module = real if where != "meta" else _on_meta(source)
    probe = source.probe(module, shape, count)
    measured, _, _ = probe.training_forward(batch, where)
    return measured, probe


def _state_buffers(model: nn.Module) -> int:
    """Elements of the buffers a model's state_dict holds (its persistent buffers)."""
    state = model.state_dict(keep_vars=True)
    return sum(b.numel() for name, b in model.named_buffers() if name in state)


def _weight_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters and buffers (on the meta device: nothing is allocated to know)."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def _weight_bytes_of(report: Report) -> int:
    return report.totals.param_bytes + report.totals.buffer_bytes


def _layers(network: Network, report: Report, facts: Probe, source: Oracle, ran: bool = True
            ) -> tuple[list[Mismatch], list[Mismatch], int, int]:
    """Parameter tensors matched shape for shape (tensors.match), then, if the model ran, the layers whose
    modules hold only theirs compared."""
    ours = build(network, input_shape=facts.input_shape, device="meta")
    seen: set[int] = set()  # a tied weight is one tensor, whichever layers hold it
    mine = []
    for node, module in ours.nodes().items():
        for name, param in module.named_parameters():
            if id(param) not in seen:
                seen.add(id(param))
                mine.append(tensors.Tensor(node, node, name.rpartition(".")[2], tuple(param.shape)))
    owners, extra, left = tensors.match(mine, _in_run_order(facts, source))
    differ = [Mismatch(t.owner, "parameter tensor", _shape(t.shape), "none of this shape left") for t in extra]
    differ += [Mismatch(t.owner, "parameter tensor", "none of this shape left", _shape(t.shape)) for t in left]
    if not ran:
        return differ, [], len(owners), 0
    claimed = {owner: node for node, modules in owners.items() for owner in modules}
    rows = {row.name: row for row in report.rows}
    layers, compared = [], 0
    for node, modules in owners.items():
        top = {m for m in modules if not any(m.startswith(other + ".") or other == "" for other in modules - {m})}
        if not all(_holds_only(facts.module, m, node, claimed) for m in top):
            continue
        lifted = {_lift(facts.module, m, node, claimed) for m in top}
        top = {m for m in lifted if not any(m.startswith(other + ".") for other in lifted - {m})}
        compared += 1
        row, last = rows[node], max(top, key=lambda m: facts.facts[m].get("order", -1))
        got_macs = sum(facts.facts[m].get("macs", 0) for m in top)
        where = ", ".join(sorted(top))
        if row.macs != got_macs:
            layers.append(Mismatch(node, f"MACs ({where})", f"{row.macs:,}", f"{got_macs:,}"))
        if row.output != facts.facts[last].get("shape"):
            layers.append(Mismatch(node, f"output ({last})", _shape(row.output), _shape(facts.facts[last].get("shape"))))
    return differ, layers, len(owners), compared


def _lift(model: nn.Module, module: str, node: str, claimed: dict[str, str]) -> str:
    """The outermost module above `module` that groups several modules with parameters, all of them the
    layer's: what runs between them is the layer's too (GPT-2's attention around c_attn, SDPA and c_proj;
    BERT's self-attention around its query, key and value)."""
    while "." in module:
        parent = module.rpartition(".")[0]
        holders = [child for child in model.get_submodule(parent).children() if next(child.parameters(), None) is not None]
        if len(holders) < 2 or not _holds_only(model, parent, node, claimed):
            break
        module = parent
    return module


def _holds_only(model: nn.Module, module: str, node: str, claimed: dict[str, str]) -> bool:
    """Whether every parameter under `module` is one the engine's layer `node` was matched to."""
    owners = {name.rpartition(".")[0] for name, _ in model.get_submodule(module).named_parameters(prefix=module)}
    return bool(owners) and all(claimed.get(owner) == node for owner in owners)


def _in_run_order(facts: Probe, source: Oracle) -> list[tensors.Tensor]:
    """The model's parameters as (name, owning module, shape as the engine writes it: source.shape_of),
    ordered by when their module first ran (a module never called, such as attention's out_proj, by its
    nearest caller)."""
    def order(owner: str) -> int:
        while owner and "order" not in facts.facts.get(owner, {}):
            owner = owner.rpartition(".")[0]
        return facts.facts.get(owner, {}).get("order", 0)

    model = facts.module
    params = [tensors.model_tensor(name, source.shape_of(model.get_submodule(name.rpartition(".")[0]), p))
              for name, p in model.named_parameters()]
    return sorted(params, key=lambda tensor: order(tensor.owner))


def _shape(shape: Any) -> str:
    return "—" if shape is None else shape_text(shape) or "scalar"
