"""`bench` and `verify`: the network built as a real torch module, timed and checked.

torch is imported inside the commands only (through archcalc.backends), so
the analytic commands start without it; without torch these two say how to
install it, in one line, and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from typing import Annotated, Any, Optional

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import catalog, segments, sizes
from ..backends import torch_backend
from ..conventions import FLOPS, MACS
from ..plan import Plan
from ..precision import DTYPE_ALIASES
from ..report import MAX_BATCH
from ..symbolic import Expr
from ..units import format_bytes, format_count, parse_count
from .command import UsageError, argument, command, flag, integer, option
from .common import NET, complete_networks
from .plan import CHECKPOINT, PRECISION
from .terminal import draw, err_console, out_console

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_RUNS, MAX_WARMUP, MAX_BATCHES = 10_000, 1_000, 8
CPUS = os.cpu_count() or 1  # more threads than CPUs only make torch's threads wait on one another
FORCE = Annotated[bool, flag("--force", help="Run even when the engine's memory figure is more than the device has "
                                              "free, or its MACs would take the device past 5 minutes at its "
                                              "measured rate (by default such a run is refused before anything is "
                                              "allocated).")]
OUT_FORMAT = Annotated[str, option("--format", "-f", choices=("table", "json"), help="table (terminal) or json.")]


def _progress() -> Progress:
    """A progress bar on stderr, gone when done (nothing at all when stderr is not a terminal).

    Redrawn only between passes, from this thread: a refresh thread would compete with
    torch's own threads for the cores and slow the very passes being timed.
    """
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console(), transient=True, auto_refresh=False, disable=not sys.stderr.isatty())


@command("bench")
def bench_command(
    net: NET,
    batch: Annotated[int, option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH),
                                 help="Images per forward pass.")] = 1,
    device: Annotated[str, option("--device", choices=DEVICES, help="auto picks cuda, then mps, then cpu.")] = "auto",
    dtype: Annotated[str, option("--dtype", choices=("float32", "float16", "bfloat16"), aliases=DTYPE_ALIASES,
                                 help="Parameter and input type.")] = "float32",
    warmup: Annotated[int, option("--warmup", metavar="N", convert=integer(0, MAX_WARMUP),
                                  help="Untimed passes first (allocation, kernel choice).")] = 3,
    runs: Annotated[int, option("--runs", metavar="N", convert=integer(1, MAX_RUNS), help="Timed passes.")] = 10,
    threads: Annotated[Optional[int], option("--threads", metavar="N", convert=integer(1, CPUS),
                                             help=f"CPU threads, at most the {CPUS} CPUs (default: torch's).")] = None,
    channels_last: Annotated[bool, flag("--channels-last", help="NHWC memory format.")] = False,
    per_layer: Annotated[bool, flag("--per-layer", help="Also time each node and its share.")] = False,
    force: FORCE = False,
    fmt: OUT_FORMAT = "table",
) -> None:
    """Time the network's forward pass with torch: median, p10, p90, images/s, achieved GFLOP/s.

    Eval mode, torch.inference_mode, warm-up passes, then timed passes
    (synchronised; CUDA events on a GPU). GFLOP/s counts FLOPs = 2 × the
    engine's MACs. A run whose inference memory (the engine's figure: peak
    activations, weights, buffers) is more than the device has free is refused
    before anything is allocated.

    Examples: archcalc bench resnet50 · archcalc bench vgg16 --batch 8 --per-layer ·
    archcalc bench resnet50 --device cuda --dtype float16
    """
    torch_backend()
    from ..backends import timing

    network = catalog.load(net)
    config = timing.BenchConfig(batch, device, dtype, warmup, runs, threads, channels_last, per_layer, force)
    with _progress() as bar:
        task = bar.add_task(f"bench {network.name}", total=None)
        result = timing.bench(network, config,
                              lambda done, total: bar.update(task, completed=done, total=total, refresh=True))
    if result.contended:
        err_console().print(f"warning: other processes used {result.other_cpus:.1f} of {os.cpu_count()} CPUs while "
                            f"timing; torch's {result.threads} threads wait on them, so these times may be inflated "
                            "(rerun on a quiet machine, or with fewer --threads)", markup=False)
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    _print_bench(result)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _print_bench(result: Any) -> None:
    c = result.config
    console = out_console()
    console.print(f"{result.network} · batch {c.batch} · {c.dtype}{' · channels-last' if c.channels_last else ''} · "
                  f"{result.device}: {result.device_name} · torch {result.torch_version} · "
                  f"{result.threads} thread{'' if result.threads == 1 else 's'}",
                  markup=False)
    console.print(f"forward pass, eval mode, inference_mode: {c.runs} timed runs after {c.warmup} warm-up", markup=False)
    lines = (
        ("median", _ms(result.median)),
        ("p10 / p90", f"{_ms(result.p10)} / {_ms(result.p90)}"),
        ("images/s", f"{result.images_per_s:,.1f}"),
        ("achieved", f"{result.gflops:,.1f} GFLOP/s   {FLOPS}: {format_count(2 * result.macs)} per image "
                     f"({format_count(result.macs)} {MACS}, from the engine)"),
    )
    for label, text in lines:
        console.print(f"  {label:<11}{text}", markup=False)
    if result.layers:
        rows = [[layer.name, layer.kind, _ms(layer.seconds), f"{layer.share:.1%}"] for layer in result.layers]
        draw(console, ["Layer", "Kind", "Median", "Share"], [False, False, True, True], rows, drop=("Kind",))
        console.print("per-layer times: a separate pass, each node synchronised before and after", markup=False)


@command("verify")
def verify_command(
    nets: Annotated[Optional[list[str]], argument("NET|PATH…", "Bundled networks or .yaml specs (or --all).",
                                                  complete=complete_networks)] = None,
    every: Annotated[bool, flag("--all", help="Verify every bundled network.")] = False,
    batch: Annotated[Optional[list[int]], option("--batch", "-b", metavar="N", convert=integer(1, MAX_BATCH),
                                                 shown_default="1 and 8",
                                                 help=f"Batch sizes for the saved-bytes check (repeat the option, up "
                                                      f"to {MAX_BATCHES} sizes).")] = None,
    device: Annotated[str, option("--device", choices=DEVICES, help="Where the real training forwards run.")] = "cpu",
    real_limit: Annotated[int, option("--real-limit", metavar="COUNT", convert=parse_count, shown_default="16G",
                                      help="Largest batch × MACs (e.g. 16G) run for real beyond the smallest batch; "
                                           "past it the meta device measures (shapes only).")] = parse_count("16G"),
    nodes: Annotated[bool, flag("--nodes", help="List the nodes whose saved bytes differ, even when the total "
                                                "agrees.")] = False,
    precision: PRECISION = None, checkpoint: CHECKPOINT = None,
    against: Annotated[Optional[str], option("--against", metavar="REF",
                                             help="Also compare the engine with an independent model: "
                                                  "torchvision:NAME (e.g. torchvision:resnet50, or "
                                                  "torchvision:googlenet(aux_logits=false)), transformers:NAME (gpt2, "
                                                  "bert-base, llama-3-8b, mixtral-8x7b, or a Config class: "
                                                  "transformers:LlamaConfig(num_hidden_layers=2)), or `spec` for the "
                                                  "model each spec names in its reference: key. Parameters, buffers, "
                                                  "every parameter tensor's shape, MACs, output shape, matched "
                                                  "layers, and saved bytes at each batch (default 1 and 2; for "
                                                  "transformers at sequence lengths 16 and 32) measured on that "
                                                  "model.")] = None,
    force: FORCE = False,
    input_shape: Annotated[Any, option("--input", "-i", metavar="C×H×W", convert=sizes.parse_shape,
                                       help="Verify at this input instead of each spec's own (3x384x384: an "
                                            "EfficientNetV2 at its evaluation size), against --against's model "
                                            "too.")] = None,
    fmt: OUT_FORMAT = "table",
) -> int:
    """Check the engine's figures against torch; exit 1 with a diff table on any mismatch.

    Every node's output shape, parameters and buffers, MACs (FlopCounterMode
    FLOPs / 2), and the training-memory model: bytes autograd saves for
    backward (unique storages, parameters and buffers apart) within 5% of the
    engine's, at batch 1 and 8. The smallest batch runs for real (weights
    zero-filled: values do not change what autograd keeps); a larger one runs
    for real up to --real-limit MACs, past it on the meta device (the same
    autograd graph, no arithmetic), and the table says which. On stderr: the
    network and batch being measured, and a line for each network as soon as
    it is done. A real forward whose training memory (the engine's figure) is
    more than the device has free is not tried: a larger batch is measured on
    the meta device, the smallest refused (unless --force).

    --precision amp-bf16 (or amp-fp16, bf16) measures under torch.autocast (or in bfloat16) against the
    engine's model of that precision, by the autocast op lists of the device measuring; --checkpoint
    every-block (or N) runs the segments through torch.utils.checkpoint, and runs each segment's forward
    again as its backward would: what the forward keeps and what the largest segment keeps when run again
    are each held to 5%. Past --real-limit these measure on fake tensors (the CPU's kernels and autocast,
    no storage, no arithmetic).

    --against compares the engine with a model archcalc did not build (torchvision's, untrained, or a
    transformers model built from its Config with random weights, attention by SDPA: nothing is downloaded),
    so that a spec describing the wrong network is caught; it needs torchvision (or transformers).

    Examples: archcalc verify vgg16 · archcalc verify alexnet zfnet · archcalc verify --all · archcalc verify resnet50 --device cuda ·
    archcalc verify resnet50 --precision amp-bf16 · archcalc verify vit-b16 --checkpoint every-block ·
    archcalc verify efficientnet-b0 --against torchvision:efficientnet_b0 · archcalc verify --all --against spec ·
    archcalc verify resnet50-tv --input 3x320x320 --against spec
    """
    if every == bool(nets):
        raise UsageError("give networks, or --all")
    if batch and len(set(batch)) > MAX_BATCHES:
        raise UsageError(f"--batch: at most {MAX_BATCHES} batch sizes; received {len(set(batch))}")
    if input_shape is not None and any(isinstance(d, Expr) for d in input_shape):
        raise UsageError("--input: verify runs the network: give numbers, such as 3x384x384")
    torch_backend()
    from ..backends import timing, verify

    if precision is not None and device == "mps" and precision.startswith("amp"):
        raise UsageError("--precision amp-* is modelled on the autocast op lists of cpu and cuda: measure on one")
    batches = tuple(batch or (1, 8))
    names = list(catalog.bundled()) if every else nets
    regime = Plan(None if precision in (None, "fp32") else precision, checkpoint=segments.chosen(checkpoint))
    results, comparisons = _verify_each(names, batches, timing.resolve_device(device), real_limit, against,
                                        tuple(batch or (1, 2)), regime, force, input_shape)
    if fmt == "json":
        sys.stdout.write(json.dumps(verify.document(results, comparisons), indent=2) + "\n")
    else:
        _print_verifications(results, batches, nodes)
        _print_comparisons([c for c in comparisons if c is not None])
    ok = all(r.ok for r in results) and all(c.ok for c in comparisons if c is not None)
    return 0 if ok else 1


def _verify_each(names: list[str], batches: tuple[int, ...], device: str, real_limit: int, against: str | None,
                 reference_batches: tuple[int, ...], regime: Plan = Plan(), force: bool = False,
                 input_shape: tuple[int, ...] | None = None) -> tuple[list[Any], list[Any]]:
    """Verify the networks in turn, each against its reference too when asked: the bar names the network and
    batch; a line reports each as it ends (or says it was skipped: every-block, and a network without blocks)."""
    from ..backends import reference, verify

    networks = [catalog.load(name) for name in names]  # every name and spec checked before anything runs
    if input_shape is not None:
        networks = [replace(network, input=sizes.channels_first(network, input_shape)) for network in networks]
    for network in networks:
        model = network.reference if against == "spec" else against
        if model:
            reference.check(network, model)
    results, comparisons = [], []
    with _progress() as bar:
        task = bar.add_task("verify", total=len(names))
        for index, network in enumerate(networks):
            say = lambda text, name=network.name: bar.update(task, description=f"{name}: {text}", refresh=True)  # noqa: E731
            if len(names) > 1 and regime.checkpoint is not None and not any(layer.block for layer in network.layers):
                bar.update(task, advance=1, refresh=True)
                bar.console.print(f"[{index + 1}/{len(names)}] {network.name}: skipped: no blocks to checkpoint",
                                  markup=False)
                continue
            results.append(verify.verify(network, batches, device, real_limit=real_limit, progress=say,
                                         precision=regime.precision, checkpoint=regime.checkpoint, force=force))
            model = network.reference if against == "spec" else against
            comparisons.append(reference.compare(network, model, reference_batches, device, real_limit=real_limit,
                                                 progress=say, force=force) if model else None)
            bar.update(task, advance=1, refresh=True)
            line = _summary(results[-1]) + (f"; {_against_summary(comparisons[-1])}" if comparisons[-1] is not None
                                            else "; not compared: its spec names no reference" if against else "")
            bar.console.print(f"[{index + 1}/{len(names)}] {line}", markup=False)
    return results, comparisons


def _against_summary(c: Any) -> str:
    saved = ", ".join(f"saved {s.label} {_pct(s.diff)}" for s in c.saved)
    return (f"against {c.reference} ({c.built}): {'ok' if c.ok else 'MISMATCH'} "
            f"({c.compared} of {c.matched} layers compared; {saved})")


def _print_comparisons(comparisons: list[Any]) -> None:
    """The engine against independent models: totals, then what differs tensor by tensor and layer by layer."""
    if not comparisons:
        return
    console = out_console()
    console.print("engine against an independent model: parameters, buffers, MACs, output shape, every parameter "
                  "tensor's shape, matched layers' MACs and output, saved bytes within 5%", markup=False)
    headers = ["Network", "Reference", "Params", "Buffers", "MACs", "Output", "Tensors", "Layers",
               *(f"Saved {check.label} engine / model" for check in comparisons[0].saved), "Status"]
    right = [h not in ("Network", "Reference", "Status") for h in headers]
    rows = []
    for c in comparisons:
        pairs = [_agree(c.params), _agree(c.buffers), _agree(c.macs),
                 "same" if c.output[0] == c.output[1] else f"{c.output[0]} ≠ {c.output[1]}"]
        cells = [c.name, c.reference, *pairs, "same" if not c.tensors else f"{len(c.tensors)} differ",
                 f"{c.compared}/{c.matched}" + ("" if not c.layers else f", {len(c.layers)} differ")]
        cells += [f"{s.engine:,} / {'—' if s.measured is None else f'{s.measured:,}'} ({_pct(s.diff)})" for s in c.saved]
        rows.append([*cells, "ok" if c.ok else "MISMATCH"])
    draw(console, headers, right, rows)
    for c in comparisons:
        differ = [*c.tensors, *c.layers]
        if differ:
            draw(console, ["Layer (or module)", "Figure", "Engine", "Model"], [False, False, True, True],
                 [[m.node, m.what, m.engine, m.torch] for m in differ[:40]], title=f"{c.name}: engine ≠ {c.reference}")
            if len(differ) > 40:
                console.print(f"… and {len(differ) - 40} more", markup=False)


def _agree(pair: tuple[int, int | None]) -> str:
    if pair[1] is None:
        return f"{pair[0]:,} ≠ —"
    return f"{pair[0]:,}" if pair[0] == pair[1] else f"{pair[0]:,} ≠ {pair[1]:,}"


def _status(r: Any) -> str:
    """ok, ok (partly unmeasured), NOT MEASURED (no batch's saved bytes: a failure) or MISMATCH."""
    if r.ok:
        return "ok (partly unmeasured)" if r.unmeasured else "ok"
    return "NOT MEASURED" if not r.mismatches and r.unmeasured_only else "MISMATCH"


def _summary(r: Any) -> str:
    """One network's verdict in a line: status, what disagrees, the saved-bytes gaps, the time taken."""
    figures = "every node agrees" if not r.mismatches else f"{len(r.mismatches)} figure(s) differ"
    saved = ", ".join(f"saved b{c.batch} {_pct(c.diff)} ({c.where})" for c in r.saved)
    return f"{r.name}: {_status(r)}: {r.nodes} nodes, {figures}; {saved}; {r.seconds:.1f} s"


def _pct(diff: float | None) -> str:
    return "—" if diff is None else f"{diff:+.2%}"


def _print_verifications(results: list[Any], batches: tuple[int, ...], nodes: bool) -> None:
    console = out_console()
    if not results:
        console.print("nothing verified", markup=False)
        return
    first = results[0]
    under = ", ".join(filter(None, (first.precision and f"under {first.precision}",
                                    first.checkpoint and f"checkpointing {first.checkpoint}")))
    console.print(f"engine against torch {first.torch_version}: shapes, parameters, buffers, MACs "
                  "(FlopCounterMode FLOPs / 2) per node; saved bytes (engine vs autograd) within 5%"
                  + (f"; {under}" if under else ""), markup=False)
    headers, right = ["Network", "Nodes", "Params", "MACs", "Per node"], [False, True, True, True, False]
    for b in sorted(set(batches)):
        headers += [f"b{b} engine", f"b{b} torch", f"b{b} diff", f"b{b} on"]
        right += [True, True, True, False]
    headers.append("Status")
    right.append(False)
    rows = []
    for r in results:
        cells = [r.name, str(r.nodes), f"{r.params[1]:,}", f"{r.macs[1]:,}",
                 "ok" if not r.mismatches else f"{len(r.mismatches)} mismatch(es)"]
        for check in r.saved:
            cells += [f"{check.engine:,}", "—" if check.measured is None else f"{check.measured:,}",
                      _pct(check.diff), check.where]
        status = _status(r)
        rows.append([*cells, status])
    console.print("saved bytes for backward at batch N (bN): the engine's, torch's, their difference, and where "
                  "torch ran", markup=False)
    order = sorted(set(batches))
    drop = ["Nodes", *(f"b{b} on" for b in order), "MACs", "Params", *(f"b{b} {what}" for what in ("torch", "engine")
                                                                        for b in order)]
    draw(console, headers, right, rows, drop=drop)
    for r in results:
        for check in r.saved:
            if check.note:
                console.print(f"{r.name}, batch {check.batch}: {check.note}", markup=False)
            if check.recompute is not None and check.measured is not None:
                (engine, measured), kept = check.recompute, (check.engine - check.recompute[0],
                                                             check.measured - check.recompute[1])
                console.print(f"{r.name}, batch {check.batch}: the checkpointed forward keeps {kept[0]:,} B (torch "
                              f"{kept[1]:,}, {_pct(_gap(*kept))}); the largest segment run again keeps {engine:,} B "
                              f"(torch {measured:,}, {_pct(_gap(engine, measured))})", markup=False)
            if check.cuda_allocated is not None:
                share = (check.kept - check.cuda_allocated) / check.cuda_allocated if check.cuda_allocated else 0.0
                console.print(f"{r.name}, batch {check.batch}: CUDA memory left allocated by the forward "
                              f"{check.cuda_allocated:,} B ({format_bytes(check.cuda_allocated)}), engine {_pct(share)}; "
                              f"peak during it {format_bytes(check.cuda_peak or 0)} (max_memory_allocated)", markup=False)
        _print_diffs(console, r, nodes)


def _print_diffs(console: Any, r: Any, nodes: bool) -> None:
    if r.mismatches:
        console.print(f"{r.name}: engine ≠ torch", markup=False)
        draw(console, ["Node", "Figure", "Engine", "Torch"], [False, False, True, True],
             [[m.node, m.what, m.engine, m.torch] for m in r.mismatches[:40]], drop=())
        if len(r.mismatches) > 40:
            console.print(f"… and {len(r.mismatches) - 40} more", markup=False)
    for check in r.saved:
        if check.nodes and (nodes or not check.ok):
            console.print(f"{r.name}: saved bytes per node that differ, batch {check.batch} ({check.where})", markup=False)
            ranked = sorted(check.nodes, key=lambda n: -abs(n[1] - n[2]))
            draw(console, ["Node", "Engine", "Torch", "Engine − torch"], [False, True, True, True],
                 [[name, f"{engine:,}", f"{measured:,}", f"{engine - measured:+,}"] for name, engine, measured in ranked[:25]],
                 drop=())


def _gap(engine: int, measured: int) -> float | None:
    """(engine − measured) / measured."""
    return (engine - measured) / measured if measured else None
