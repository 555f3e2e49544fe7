"""Timing a built network's forward pass: warm up, synchronise, time, summarise.

Eval mode under torch.inference_mode. CPU and MPS runs are timed with
perf_counter around a synchronised call; CUDA runs with CUDA events. The
per-layer pass is separate from the whole-network runs (its hooks
synchronise after every node, which would slow the total) and reports each
node's median time and its share of their sum.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..analysis import analyze
from ..errors import ArchcalcError
from ..ir import Network
from ..fit import smaller_batch
from . import capacity
from .torch import DTYPES, ArchcalcModule, build


@dataclass(frozen=True)
class BenchConfig:
    """What to time, and how; each default with its reason."""

    batch: int = 1  # one image: the latency case
    device: str = "auto"  # cuda, then mps, then cpu: the fastest device present
    dtype: str = "float32"  # what the engine's byte figures assume by default
    warmup: int = 3  # first runs pay for allocation, oneDNN primitives, cuDNN autotuning
    runs: int = 10  # enough for a median and p10/p90 that hold still on a quiet machine
    threads: int | None = None  # torch's own default: one per physical core
    channels_last: bool = False  # NHWC: often faster for convolutions on GPU and with oneDNN
    per_layer: bool = False  # a second pass timing each node (synchronised hooks)
    force: bool = False  # run even when the engine's figure says the device has too little memory free


@dataclass(frozen=True)
class LayerTime:
    name: str
    kind: str
    seconds: float  # median over the per-layer runs
    share: float  # of the sum over all nodes


@dataclass(frozen=True)
class BenchResult:
    network: str
    config: BenchConfig
    device: str  # resolved: cpu, cuda, cuda:1, mps
    device_name: str
    torch_version: str
    threads: int
    macs: int  # per image, from the engine
    times: tuple[float, ...]  # seconds per forward pass
    layers: tuple[LayerTime, ...] = field(default=())
    other_cpus: float | None = None  # CPUs' worth of other processes' work while timing (Linux), else None

    @property
    def contended(self) -> bool:
        """Other work took cores torch's threads needed: they then wait on one another at
        every operator, and a CPU median can be several times too slow (try fewer --threads)."""
        spare = (os.cpu_count() or 1) - self.threads
        return self.device == "cpu" and self.other_cpus is not None and self.other_cpus > spare + 0.25

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p10(self) -> float:
        return _quantile(self.times, 0.10)

    @property
    def p90(self) -> float:
        return _quantile(self.times, 0.90)

    @property
    def images_per_s(self) -> float:
        return self.config.batch / self.median

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s, FLOPs = 2 × the engine's MACs (conv, fc, linear, attention), per median pass."""
        return 2 * self.macs * self.config.batch / self.median / 1e9

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "network": self.network, "batch": c.batch, "device": self.device, "device_name": self.device_name,
            "dtype": c.dtype, "torch": self.torch_version, "threads": self.threads, "channels_last": c.channels_last,
            "warmup": c.warmup, "runs": c.runs, "times_s": list(self.times),
            "median_s": self.median, "p10_s": self.p10, "p90_s": self.p90, "images_per_s": self.images_per_s,
            "macs_per_image": self.macs, "flops_per_image": 2 * self.macs, "achieved_gflops": self.gflops,
            "layers": [{"name": t.name, "kind": t.kind, "median_s": t.seconds, "share": t.share} for t in self.layers],
            "other_cpus": self.other_cpus, "contended": self.contended,
        }


def _quantile(values: tuple[float, ...], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def resolve_device(name: str) -> str:
    """`auto` → cuda, mps or cpu; a named device must be present."""
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ArchcalcError("--device cuda: no CUDA device is available to this torch "
                            f"({torch.__version__}); use --device cpu or auto")
    if name == "mps" and not _mps_available():
        raise ArchcalcError("--device mps: no Apple GPU (MPS) is available to this torch; use --device cpu or auto")
    return name


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    return _cpu_name()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _cpu_busy() -> float | None:
    """Seconds all CPUs together have been busy since boot (Linux's /proc/stat; VM steal
    time counts as busy), or None where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))
    elif device == "mps":
        torch.mps.synchronize()


def prepare(network: Network, config: BenchConfig, device: str) -> tuple[ArchcalcModule, torch.Tensor]:
    """The module in eval mode on `device` at the dtype, and an input batch."""
    module = build(network, device=device)
    module.to(DTYPES[config.dtype]).eval()
    x = module.example_input(config.batch, device=device, dtype=DTYPES[config.dtype])
    if config.channels_last and x.dim() == 4:
        module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return module, x


def bench(network: Network, config: BenchConfig = BenchConfig(),
          progress: Callable[[int, int], None] | None = None) -> BenchResult:
    """Time `network`'s forward pass; `progress(done, total)` after every pass.

    Refused (capacity.TooLarge) before anything is allocated when the engine's inference figure at the
    batch (peak activations, weights, buffers) is more than the device has free, unless `config.force`.
    """
    device = resolve_device(config.device)
    report = analyze(network, config.batch, config.dtype)
    what = f"{network.name} at batch {config.batch:,} ({config.dtype}, inference)"
    capacity.require(capacity.inference_need(report, device), device, what,
                     lambda free: smaller_batch(network, free, lambda r: capacity.inference_need(r, device),
                                                config.dtype),
                     config.force)
    passes = (config.warmup + config.runs) * (2 if config.per_layer else 1)
    capacity.require_time(report.totals.macs * config.batch * passes, device, f"{what}, {passes} passes",
                          config.dtype, config.force)
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _bench(network, config, device, progress)
    finally:
        torch.set_num_threads(threads_before)


def _bench(network: Network, config: BenchConfig, device: str,
           progress: Callable[[int, int], None] | None) -> BenchResult:
    step = progress or (lambda done, total: None)
    layer_runs = min(config.runs, 5) if config.per_layer else 0
    total = config.warmup + config.runs + layer_runs
    try:
        module, x = prepare(network, config, device)
        with torch.inference_mode():
            for i in range(config.warmup):
                module(x)
                synchronize(device)
                step(i + 1, total)
            busy, own, began = _cpu_busy(), time.process_time(), time.perf_counter()
            times = tuple(_timed(module, x, device, lambda i: step(config.warmup + i + 1, total), config.runs))
            wall, mine, after = time.perf_counter() - began, time.process_time() - own, _cpu_busy()
            layers = _per_layer(module, x, device, layer_runs,
                                lambda i: step(config.warmup + config.runs + i + 1, total)) if layer_runs else ()
    except RuntimeError as err:  # a dtype or operator the device does not support, out of memory …
        raise ArchcalcError(f"torch could not run {network.name} on {device} at {config.dtype}: "
                            f"{str(err).splitlines()[0]}") from None
    other = None if busy is None or after is None else max(0.0, after - busy - mine) / wall
    macs = analyze(network).totals.macs
    return BenchResult(network.name, config, device, device_name(device), torch.__version__,
                       torch.get_num_threads(), macs, times, layers, other)


def _timed(module: ArchcalcModule, x: torch.Tensor, device: str, step: Callable[[int], None], runs: int) -> list[float]:
    times = []
    cuda = device.startswith("cuda")
    for i in range(runs):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            module(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            synchronize(device)
            began = time.perf_counter()
            module(x)
            synchronize(device)
            times.append(time.perf_counter() - began)
        step(i)
    return times


def _per_layer(module: ArchcalcModule, x: torch.Tensor, device: str, runs: int,
               step: Callable[[int], None]) -> tuple[LayerTime, ...]:
    """Each node's median time over `runs` passes, hooks synchronising before and after it."""
    seconds: dict[str, list[float]] = {name: [] for name in module.nodes()}
    began: dict[str, float] = {}
    handles = []
    for name, node in module.nodes().items():
        def before(mod: Any, args: Any, name: str = name) -> None:
            synchronize(device)
            began[name] = time.perf_counter()

        def after(mod: Any, args: Any, out: Any, name: str = name) -> None:
            synchronize(device)
            seconds[name].append(time.perf_counter() - began[name])

        handles += [node.register_forward_pre_hook(before), node.register_forward_hook(after)]
    try:
        for i in range(runs):
            module(x)
            step(i)
    finally:
        for handle in handles:
            handle.remove()
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    whole = sum(medians.values()) or 1.0
    kinds = {layer.name: layer.kind for layer in module.network.layers}
    return tuple(LayerTime(name, kinds[name], t, t / whole) for name, t in medians.items())
