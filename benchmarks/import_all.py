"""Every torchvision classification model, and the video and segmentation models, imported and compared
with torch: parameters, MACs (FlopCounterMode / 2) and the output shape, exactly; and how fast a deep model
imports (ResNet-152, traced with torch.export and with torch.fx, each in a fresh process).

    python benchmarks/import_all.py [--out benchmarks/IMPORT.md] [MODEL …]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

# One import in a fresh process: seconds from start (torch's own import included) and peak RSS.
TIMED = """
import resource, sys, time
started = time.perf_counter()
import torch, torchvision
from archcalc.backends.importer import import_module, trace
if sys.argv[1] == "torch.fx":  # the fallback, timed as if export had refused
    trace._export = lambda model, example: (_ for _ in ()).throw(RuntimeError("timed without export"))
with torch.device("meta"):
    model = torchvision.models.resnet152()
network = import_module(model, (3, 224, 224), "resnet152")
used = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - started, used.ru_utime + used.ru_stime, used.ru_maxrss * 1024, len(network.layers))
"""


def models() -> list[str]:
    import torchvision.models as tv

    return [f"torchvision:{name}" for name in (*tv.list_models(module=tv), *tv.list_models(module=tv.video),
                                               *tv.list_models(module=tv.segmentation))]


def timed(tracer: str) -> tuple[float, float, int, int]:
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", TIMED, tracer], capture_output=True, text=True, env=env, check=True)
    seconds, cpu, rss, layers = done.stdout.split()
    return float(seconds), float(cpu), int(rss), int(layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--out", type=Path, default=HERE / "benchmarks" / "IMPORT.md")
    options = parser.parse_args()
    from archcalc.backends.importer.roundtrip import round_trip

    speed = [(tracer, *timed(tracer)) for tracer in ("torch.export", "torch.fx")]
    rows = []
    for name in options.models or models():
        started = time.perf_counter()
        try:
            result = round_trip(name)
            verdict, reason = ("exact", "") if result.exact else ("differs" if not result.error else "refused",
                                                                   result.reason)
        except Exception as err:  # an import that fails unexpectedly is a row, not the end of the run
            verdict, reason = "error", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        rows.append((name, verdict, reason, time.perf_counter() - started))
        print(f"{name}: {verdict} {reason[:200]}", file=sys.stderr)
    options.out.write_text(report(speed, rows), encoding="utf-8")


def report(speed: list[tuple[str, float, float, int, int]], rows: list[tuple[str, str, str, float]]) -> str:
    import torch
    import torchvision

    exact = sum(verdict == "exact" for _, verdict, _, _ in rows)
    lines = [
        "# Importing torchvision's models", "",
        "`python benchmarks/import_all.py`: each model imported (`archcalc table torchvision:NAME`, at its own "
        "input), its parameters, MACs and output shape compared with torch's (FlopCounterMode's FLOPs / 2 at one "
        "sample, on the meta device), exactly.", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch "
        f"{torch.__version__}, torchvision {torchvision.__version__}.", "",
        "## ResNet-152: time and memory of one import", "",
        "A fresh process: `import torch, torchvision`, the model built on the meta device, traced and mapped. CPU "
        "seconds are the process's own (user + system): on a shared machine, the wall clock also counts others' "
        f"work (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs as this was written).", "",
        "| tracer | wall seconds | CPU seconds | peak RSS | layers |", "|---|---:|---:|---:|---:|",
        *(f"| {tracer} | {seconds:.2f} | {cpu:.2f} | {rss / 2**20:.0f} MiB | {layers} |"
          for tracer, seconds, cpu, rss, layers in speed),
        "", f"## Every model: {exact} of {len(rows)} exact", "",
        "| model | result | reason | seconds |", "|---|---|---|---:|",
        *(f"| {name} | {verdict} | {reason.replace('|', '/')[:400]} | {seconds:.1f} |"
          for name, verdict, reason, seconds in rows),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
