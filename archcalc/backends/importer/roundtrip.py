"""The importer's oracle: a model's figures by torch against the engine's figures of its import.

Parameters (each tensor once, as torch counts a tied weight), MACs (FlopCounterMode's FLOPs / 2 at one
sample, with measure's corrections) and the output shape per sample, each exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ...analysis import analyze
from ...errors import ArchcalcError
from ..measure import first_tensor, flop_counter
from .network import example_input, import_module
from .sources import build


@dataclass(frozen=True)
class RoundTrip:
    model: str
    input: tuple[int, ...]
    params: tuple[int, int] = (0, 0)  # (engine, torch)
    macs: tuple[int, int] = (0, 0)
    output: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    seconds: float = 0.0  # the import's
    error: str = ""  # why it was not imported
    idle: tuple[str, ...] = ()  # modules with parameters that the forward never calls (no layer of the import)

    @property
    def exact(self) -> bool:
        return not self.error and all(engine == measured for engine, measured in (self.params, self.macs, self.output))

    @property
    def reason(self) -> str:
        """What differs, or why it failed ("" when exact)."""
        if self.error:
            return self.error
        why = "; ".join(f"{what}: archcalc {engine:,}, torch {measured:,}" if isinstance(engine, int) else
                        f"{what}: archcalc {engine}, torch {measured}" for what, (engine, measured) in
                        (("parameters", self.params), ("MACs", self.macs), ("output", self.output))
                        if engine != measured)
        return why + (f" (modules the forward never calls: {', '.join(self.idle)})" if self.idle and why else "")


def round_trip(text: str, input: tuple[int, ...] | None = None) -> RoundTrip:
    """Import the model `text` names and compare the engine's figures with torch's."""
    model = build(text, input)
    started = time.perf_counter()
    try:
        network = import_module(model.module, model.input, text, model.reference)
    except ArchcalcError as err:
        return RoundTrip(text, model.input, error=str(err))
    seconds = time.perf_counter() - started
    report = analyze(network)
    params, macs, output = measure(model.module, model.input)
    return RoundTrip(text, model.input, (report.totals.params, params), (report.totals.macs, macs),
                     (tuple(report.rows[-1].output), output), seconds, idle=idle(model.module, model.input))


def measure(module: torch.nn.Module, input: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    """torch's parameters, MACs at one sample and output shape per sample, on the meta device."""
    params = sum(p.numel() for p in module.parameters())
    counter = flop_counter()
    with counter, torch.no_grad():
        out = module.eval()(example_input(module, input, 1))
    shape = first_tensor(out).shape
    return params, counter.get_total_flops() // 2, tuple(shape[1:])


def idle(module: torch.nn.Module, input: tuple[int, ...]) -> tuple[str, ...]:
    """The outermost modules holding parameters that one evaluation forward never calls."""
    called: set[str] = set()
    hooks = [m.register_forward_pre_hook(lambda m, args, name=name: called.add(name))
             for name, m in module.named_modules()]
    try:
        with torch.no_grad():
            module.eval()(example_input(module, input, 1))
    finally:
        for hook in hooks:
            hook.remove()
    never = [name for name, m in module.named_modules() if name not in called and next(m.parameters(), None) is not None]
    return tuple(name for name in never if not any(name.startswith(other + ".") for other in never))


