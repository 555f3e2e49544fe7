"""Measuring a real torch module: MACs by FlopCounterMode, and the bytes autograd saves.

A training forward can run under torch.autocast, and through torch.utils.checkpoint
(an ArchcalcModule whose segments are checkpointed): each segment's forward is
then run again, as its backward would, to measure what it keeps meanwhile.
Fake tensors (`fake_tensors`) measure without storage or arithmetic, with the
CPU's kernels and autocast (the meta device has neither).

Shared by `verify` (archcalc's own build, node by node) and `verify
--against` (an independent model, such as torchvision's). MACs are
FlopCounterMode's FLOPs / 2, with two corrections to its registry: batch
norm counts 0 without being decomposed (that takes seconds on a deep
ResNet), and the CPU's fused attention kernel, which the counter does not
know and would count as 0, counts what the CUDA kernels count: Q·Kᵀ and
the weighted sum of V. So does the CPU's fused LSTM layer (oneDNN's
mkldnn_rnn_layer, which nn.LSTM runs in float32): its input and hidden
products per step, as the rule counts them. (A GRU, and an LSTM elsewhere
than on the CPU but cuDNN's, runs cells of matrix products it counts.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _zero_flops(*args: Any, **kwargs: Any) -> int:
    return 0


def _attention_flops(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """B·H·N·M·d multiply-adds for Q·Kᵀ and B·H·N·M·d_v for the weighted sum of V, two FLOPs each."""
    b, h, n, d = query
    m, d_v = key[-2], value[-1]
    return 2 * b * h * n * m * (d + d_v)


def _mkldnn_rnn_flops(input: Any, w_ih: Any, w_hh: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """oneDNN's LSTM layer (one layer, one direction, over the whole sequence): per step and sample the
    input's and the hidden state's matrix products, G·H·in + G·H·H multiply-adds, two FLOPs each."""
    steps = input[0] * input[1]  # S·B, whichever of them comes first
    return 2 * steps * (w_ih[0] * w_ih[1] + w_hh[0] * w_hh[1])


def _both(packet: Any, formula: Callable[..., int]) -> dict[Any, Callable[..., int]]:
    """FlopCounterMode counts an op by its packet, and decomposes any overload it does not know."""
    return {packet: formula, **{getattr(packet, name): formula for name in packet.overloads()}}


FLOP_MAPPING: dict[Any, Callable[..., int]] = {
    **{key: f for op in (aten.native_batch_norm, aten._native_batch_norm_legit,
                         aten._native_batch_norm_legit_no_training, aten.cudnn_batch_norm)
       for key, f in _both(op, _zero_flops).items()},
    **_both(aten._scaled_dot_product_flash_attention_for_cpu, _attention_flops),
    **_both(aten.mkldnn_rnn_layer, _mkldnn_rnn_flops),
}


def flop_counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping=FLOP_MAPPING)


def storage_key(t: torch.Tensor) -> int:
    """A storage's identity (views share it), on any device, the meta device included."""
    return t.untyped_storage()._cdata


def own_storages(module: nn.Module) -> set[int]:
    """The storages of a module's parameters and buffers (counted apart from what autograd saves)."""
    return {storage_key(t) for t in (*module.parameters(), *module.buffers())}


@contextmanager
def saved_bytes(module: nn.Module, attribute: Callable[[], str], exclude: frozenset[int] = frozenset()
                ) -> Iterator[dict[str, int]]:
    """Inside: the bytes of each unique storage autograd saves for backward, by `attribute()`
    (the node running) when first saved; the module's own parameters and buffers left out, and
    the storages in `exclude`.

    The graph built inside is for measuring only, never for backward: it keeps a number for
    each saved tensor, and the tensors themselves are held here until the block ends (so that
    no storage is freed and its address reused while identities are compared). A graph that
    kept its own output as a saved tensor would hold itself through C++ where Python's
    collector cannot see, and every measured network would stay in memory.
    """
    own = own_storages(module) | exclude
    seen: set[int] = set()
    per: dict[str, int] = {}
    held: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> int:
        key = storage_key(t)
        held.append(t)
        if key not in own and key not in seen:
            seen.add(key)
            name = attribute()
            per[name] = per.get(name, 0) + t.untyped_storage().nbytes()
        return key

    def unpack(key: int) -> torch.Tensor:
        raise RuntimeError("a graph built to measure saved bytes cannot run backward")

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            yield per
    finally:
        held.clear()


def fake_tensors() -> Any:
    """A mode in which new tensors are fake CPU tensors: PyTorch dispatches each op as on the CPU (its
    autocast lists and its kernel choices, attention's included) and runs only its shape function."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode()


def autocast(device: str, dtype: torch.dtype | None) -> Any:
    """torch.autocast to `dtype` on the device type of `device` (fake tensors are CPU tensors); none if None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=dtype)


def materialize(module: nn.Module, device: str) -> nn.Module:
    """Real storage on `device`, zero-filled: values do not change what autograd keeps, and
    zeroing is a memset where random initialisation of 100M weights takes seconds."""
    holders: dict[int, list[tuple[nn.Module, str]]] = {}  # each parameter's holders: a tied weight has several
    for owner in module.modules():
        for name, param in owner.named_parameters(recurse=False):
            holders.setdefault(id(param), []).append((owner, name))
    module.to_empty(device=device)
    for (first, name), *others in (group for group in holders.values() if len(group) > 1):
        for owner, other in others:  # to_empty makes one new tensor per holder: share the first again
            setattr(owner, other, getattr(first, name))
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            tensor.zero_()
    return module


def first_tensor(value: Any) -> torch.Tensor | None:
    """A module's output tensor (the first, when it returns a tuple such as attention's, or a mapping such
    as a transformers model's output: its logits or last hidden state)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping) and value:
        return first_tensor(next(iter(value.values())))
    if isinstance(value, (tuple, list)) and value:
        return first_tensor(value[0])
    return None


class Probe:
    """One forward of `module` with hooks on `nodes` (name → submodule, the root's own or any
    of its descendants): per node its parameters and buffers, the bytes autograd saves while it
    runs (each storage counted once, where first kept) and, with `count`, its output shape
    (first call), MACs per sample (FlopCounterMode FLOPs / 2 / batch, including what it calls,
    summed over its calls) and the order of its first call."""

    def __init__(self, module: nn.Module, nodes: Mapping[str, nn.Module], input_shape: tuple[int, ...], count: bool,
                 disjoint: bool = False):
        """`disjoint`: the nodes hold apart what they hold, in run order (an archcalc network's nodes, not a
        module tree's), so a parameter two of them share (a tied weight) counts at the first one only."""
        self.module, self.nodes, self.input_shape, self.count = module, dict(nodes), tuple(input_shape), count
        self.facts: dict[str, dict[str, Any]] = {}
        seen: set[int] = set()
        for name, node in self.nodes.items():
            params = [p for p in node.parameters() if id(p) not in seen]
            if disjoint:
                seen.update(map(id, params))
            self.facts[name] = {
                "params": sum(p.numel() for p in params),
                "trainable": sum(p.numel() for p in params if p.requires_grad),
                "buffers": sum(b.numel() for b in node.buffers()),
            }
        self.current = ""
        self.per_node: dict[str, int] = {}
        self.cuda_peak: int | None = None  # CUDA: torch.cuda.max_memory_allocated during the forward
        self.recompute: int | None = None  # checkpointed: the most one segment's forward, run again, saves

    def example_input(self, batch: int, device: Any, dtype: Any = None) -> torch.Tensor:
        """The module's own example input where it makes one (token ids for an archcalc network that reads
        them), else random numbers of the input's shape."""
        make = getattr(self.module, "example_input", None)
        if make is not None:
            return make(batch, device=device, dtype=dtype)
        return torch.randn(batch, *self.input_shape, device=device, dtype=dtype)

    def _forward(self, x: torch.Tensor) -> Any:
        counter = flop_counter() if self.count else None
        starts: list[int] = []
        calls = iter(range(1 << 62))
        flops: dict[str, int] = {}

        def before(name: str) -> None:
            self.current = name
            self.facts[name].setdefault("order", next(calls))
            if counter is not None:
                starts.append(counter.get_total_flops())

        def after(name: str, out: Any) -> None:
            if counter is not None:
                flops[name] = flops.get(name, 0) + counter.get_total_flops() - starts.pop()
                tensor = first_tensor(out)
                self.facts[name].setdefault("shape", None if tensor is None else tuple(tensor.shape[1:]))

        handles = []
        for name, node in self.nodes.items():
            handles.append(node.register_forward_pre_hook(lambda m, a, name=name: before(name)))
            if counter is not None:
                handles.append(node.register_forward_hook(lambda m, a, o, name=name: after(name, o)))
        try:
            with counter if counter is not None else nullcontext():
                return self.module(x)
        finally:
            for handle in handles:
                handle.remove()
            for name, total in flops.items():
                self.facts[name]["macs"] = total // (2 * x.shape[0])

    def eval_forward(self) -> Any:
        self.module.eval()
        with torch.no_grad():
            return self._forward(self.example_input(1, device="meta"))

    def training_forward(self, batch: int, device: str, low: torch.dtype | None = None
                         ) -> tuple[int, dict[str, int], int | None]:
        """Bytes of the unique storages autograd saves (under autocast to `low`, if given), in all and
        first kept per node; on CUDA also the memory the forward leaves allocated, less its output.
        Checkpointed segments keep their inputs (counted at their first node); `recompute` is then
        set to the most any one segment saves when it runs again, its inputs left out."""
        cuda = device.startswith("cuda")
        self.module.train()
        dtype = next(self.module.parameters(), torch.empty(0)).dtype
        if cuda:  # a first pass makes the library workspaces that stay allocated
            with torch.no_grad():
                self.module(self.example_input(batch, device=device, dtype=dtype))
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        x = self.example_input(batch, device=device, dtype=dtype)
        allocated = None
        segments: list[tuple[range, tuple[torch.Tensor, ...]]] = []
        if hasattr(self.module, "on_segment"):
            self.module.on_segment = lambda segment, inputs: self._segment(segment, inputs, segments)
        with saved_bytes(self.module, lambda: self.current) as per_node:
            with autocast(device, low):
                out = first_tensor(self._forward(x))
            x = None  # the input stays allocated only where autograd keeps it (a parameter-free network does not)
            if cuda and out is not None:  # while the saved tensors are still held
                torch.cuda.synchronize()
                allocated = torch.cuda.memory_allocated() - base - out.untyped_storage().nbytes()
                self.cuda_peak = torch.cuda.max_memory_allocated() - base
            if segments:
                self.recompute = max(self._run_again(segment, inputs, device, low) for segment, inputs in segments)
        if hasattr(self.module, "on_segment"):
            self.module.on_segment = None
        self.per_node = per_node
        self.output_shape = None if out is None else tuple(out.shape[1:])
        del out
        return sum(per_node.values()), per_node, allocated

    def _segment(self, segment: range, inputs: tuple[torch.Tensor, ...], seen: list) -> None:
        """A checkpointed segment starts: what it keeps (its inputs) is its first node's."""
        self.current = self.module.network.layers[segment.start].name
        seen.append((segment, inputs))

    def _run_again(self, segment: range, inputs: tuple[torch.Tensor, ...], device: str, low: torch.dtype | None) -> int:
        """What a checkpointed segment saves when its backward runs its forward again (its inputs,
        already kept, left out)."""
        kept = frozenset(storage_key(t) for t in inputs)
        with saved_bytes(self.module, lambda: "", kept) as per, autocast(device, low):
            self.module.run_segment(segment, inputs)
        return sum(per.values())
