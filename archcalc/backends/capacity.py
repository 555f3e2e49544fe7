"""Memory free on a device, and the gate that refuses a run before it allocates what cannot fit.

`bench` and `verify` build a spec for real. A spec is a stranger's: it may
ask for a terabyte. Before anything is allocated, the engine's own figure
for the run (the inference peak with weights and buffers for `bench`, the
training memory for `verify`'s training forward) is compared with what the
device has free; past it the run is refused with both figures and a way out
(a smaller --batch, or --force to try anyway).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from ..errors import ArchcalcError
from ..ir import INPUT
from ..report import Report
from ..units import format_bytes
from .torch.kinds import CPU_HALF_WORKSPACE

_CGROUP_FILES = (  # (limit, usage): cgroup v2, then v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


class TooLarge(ArchcalcError):
    """A run whose memory, by the engine's own figure, is more than the device has free."""


class TooSlow(ArchcalcError):
    """A run whose arithmetic, by the engine's MACs and the device's measured rate, would take too long."""


MAX_SECONDS = 300.0  # a run estimated past five minutes is refused (unless --force): an 85-byte spec can ask 10¹³ MACs
_RATES: dict[tuple[str, str], float] = {}  # (device, dtype name) → MACs a second


def available(device: str) -> int | None:
    """Bytes `device` can give this process now; None where no figure can be had."""
    if device.startswith("cuda"):
        index = torch.device(device)
        free, _ = torch.cuda.mem_get_info(index)
        return free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)  # cached blocks too
    if device == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return max(0, torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    return _system_available()


def _system_available() -> int | None:
    """Available system memory (Linux's MemAvailable, or free pages), within a container's cgroup limit."""
    figures = [_meminfo_available(), *(_cgroup_room(limit, usage) for limit, usage in _CGROUP_FILES)]
    if figures[0] is None:
        figures[0] = _sysconf_pages("SC_AVPHYS_PAGES") or _sysconf_pages("SC_PHYS_PAGES")
    known = [f for f in figures if f is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(limit_file: str, usage_file: str) -> int | None:
    try:
        with open(limit_file, encoding="ascii") as limit, open(usage_file, encoding="ascii") as usage:
            text, used = limit.read().strip(), int(usage.read().strip())
    except (OSError, ValueError):
        return None
    if not text.isdigit() or int(text) >= 1 << 60:  # "max", or v1's "no limit" (a page-rounded 2^63)
        return None
    return max(0, int(text) - used)


def _sysconf_pages(name: str) -> int | None:
    try:
        return os.sysconf(name) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def require(need: int, device: str, what: str, way_out: Callable[[int], str], force: bool = False) -> None:
    """Refuse (TooLarge) a run that needs `need` bytes when `device` has less free, unless `force`.

    `what` names the run and its figure; `way_out(free)` says what would fit (a smaller batch).
    """
    if force:
        return
    free = available(device)
    if free is not None and need > free:
        raise TooLarge(f"{what} needs {format_bytes(need)} ({need:,} B) by the engine's figure, more than the "
                       f"{format_bytes(free)} available on {device}; {way_out(free)}, or --force to try anyway")


def training_need(report: Report, device: str = "") -> int:
    """Bytes a training forward on `device` may hold, by the engine's figures: the training memory (what
    autograd keeps, weights, gradients, buffers) and, besides, the tensors alive at the inference peak (a
    layer's fresh output, even one nothing keeps, exists while the next runs) and its kernels' workspace."""
    return report.train_total_bytes + report.totals.inference_peak_bytes + workspace(report, device)


def inference_need(report: Report, device: str = "") -> int:
    """Bytes a forward pass in inference on `device` holds at its peak: live tensors, weights, buffers,
    and its kernels' workspace."""
    return sum(report.inference_breakdown().values()) + workspace(report, device)


def fits(need: int, device: str) -> bool:
    """Whether `need` bytes fit in what `device` has free (true where that is unknown)."""
    free = available(device)
    return free is None or need <= free


def rate(device: str, dtype: str = "float32") -> float:
    """Multiply-accumulates a second `device` does in `dtype`, measured once on a 512×512 matrix product
    (the best of three, after one untimed): the kernels a network runs reach at most about this."""
    key = (device, dtype)
    if key not in _RATES:
        a = torch.ones(512, 512, device=device, dtype=getattr(torch, dtype))
        best = float("inf")
        for attempt in range(4):
            started = time.perf_counter()
            (a @ a).sum().item()  # .item() waits for the device
            if attempt:
                best = min(best, time.perf_counter() - started)
        _RATES[key] = 512**3 / max(best, 1e-9)
    return _RATES[key]


def require_time(macs: int, device: str, what: str, dtype: str = "float32", force: bool = False) -> None:
    """Refuse (TooSlow) a run of `macs` multiply-accumulates that `device` would take past MAX_SECONDS for,
    unless `force`; the meta device does no arithmetic and is never refused."""
    if force or device == "meta" or macs <= 0:
        return
    seconds = macs / rate(device, dtype)
    if seconds > MAX_SECONDS:
        raise TooSlow(f"{what} is {macs:,} MACs, about {seconds:,.0f} s on {device} at its measured "
                      f"{rate(device, dtype) / 1e9:,.1f} G MAC/s (a {MAX_SECONDS:g} s bound); a smaller --batch or "
                      "--input, fewer --runs, or --force to run it anyway")


def workspace(report: Report, device: str) -> int:
    """Bytes the largest kernel workspace of the run takes while its layer runs (per sample, as the kernel
    loops over the batch): CPU float16 convolutions unfold their input (see CPU_HALF_WORKSPACE); 0 elsewhere."""
    if device != "cpu" or report.regime.low != "float16":
        return 0
    shapes = {INPUT: report.input, **{row.name: row.output for row in report.rows}}
    return 2 * max((CPU_HALF_WORKSPACE[row.kind](row.args, [shapes[i] for i in row.inputs], row.output)
                    for row in report.rows if row.kind in CPU_HALF_WORKSPACE), default=0)
