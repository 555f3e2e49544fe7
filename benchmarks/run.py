"""archcalc's speed as people meet it: whole processes, side by side with the import of its dependencies and with torchinfo.

    python benchmarks/run.py [--runs 7] [--out benchmarks/RESULTS.md]

One interleaved run: every round starts each command once, in the same
order, so that drift in clock speed or load hits all of them alike; each
figure is the median over the rounds (after one untimed round, which also
leaves Python's bytecode cache as an installed package has it). Output goes
to a pipe, as in a script or CI. It prints, and writes as Markdown:

- the CLI: `archcalc table resnet152` (and `--format json`), `table vgg16`,
  `compare alexnet googlenet`, `list` and `check` of every bundled spec, as
  multiples of the floor: the import of archcalc's runtime dependencies, as
  pyproject.toml declares them (`python -c "import rich, yaml, typer"`), so
  that the ratio is archcalc's own work;
- `import torch`, and a torchinfo summary of the same ResNet-152 (when torch
  and torchinfo are installed: `pip install "archcalc[bench]"`), with
  archcalc / torchinfo;
- the engine's scaling: `archcalc table` on generated plain stacks of 500 to
  5,000 convolutions, and resnet1202: time, peak memory (max RSS), and µs and
  bytes per layer above the same command on a one-layer stack.

Runs from a checkout (the floor is read from its pyproject.toml); torch,
torchvision and torchinfo are optional and their rows say so when missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from archcalc import __version__, catalog

STACKS = (500, 1_000, 2_500, 5_000)
FLOOR_TARGET = 1.5  # `table resnet152` within 1.5× the floor: archcalc's own work at most half its dependencies' import
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
IMPORT_NAMES = {"pyyaml": "yaml"}  # a distribution imported under another name
TORCHINFO_TARGET = 1 / 25  # …and at least 25 times faster than torchinfo's summary
PER_LAYER_US = 40  # engine: under 40 µs a layer…
FLAT = 1.5  # …within 1.5× from 500 to 5,000 layers

PLAIN_RESNET152 = """
from torch import nn
class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        out = 4 * mid
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = (nn.Identity() if stride == 1 and cin == out else
                         nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out)))
        self.relu = nn.ReLU(inplace=True)
    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))
def resnet152():
    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                   nn.MaxPool2d(3, 2, 1)], 64
    for n, mid, stride in ((3, 64, 1), (8, 128, 2), (36, 256, 2), (3, 512, 2)):
        for i in range(n):
            layers.append(Bottleneck(cin, mid, stride if i == 0 else 1))
            cin = 4 * mid
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000))
"""


@dataclass(frozen=True)
class Case:
    """One process to time: a label for the tables, its command line, and the layers of its network."""

    label: str
    argv: tuple[str, ...]
    layers: int = 0


@dataclass(frozen=True)
class Timing:
    seconds: float  # median wall time
    peak_bytes: int  # peak resident memory of one more run (0 where the system does not say)
    cpu_seconds: float = 0.0  # median CPU time (user + system): what other load on the machine changes least


def dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The modules of archcalc's runtime dependencies: `[project] dependencies` of pyproject.toml, as imported."""
    import tomllib

    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    names = [re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower() for requirement in declared]  # type: ignore[index]
    return [IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def archcalc_command() -> list[str]:
    """The console script beside this Python, as people run it; else `python -m archcalc`."""
    script = Path(sys.executable).with_name("archcalc.exe" if os.name == "nt" else "archcalc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "archcalc"]


def child_environment() -> dict[str, str]:
    """This environment, with Python's bytecode cache on (as an installed package has it) and no colour."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "NO_COLOR": "1"}


def children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far; 0 where the system does not say."""
    try:
        import resource
    except ImportError:
        return 0.0
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_once(argv: tuple[str, ...], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process, its output piped away; stops the benchmark if the process fails."""
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # `check` exits 1 with findings; anything else is a broken benchmark
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    return seconds, children_cpu() - cpu


# Runs a case's program inside this interpreter and reports its peak resident memory. The operating system's
# own figure for a child (getrusage) also counts the memory of the process it was forked from, before exec.
PEAK = r"""
import os, runpy, sys
def peak():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        size = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return size if sys.platform == "darwin" else size * 1024
how, what, *args = sys.argv[1:]
try:
    if how == "-c":
        sys.argv = ["-c", *args]
        exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
    elif how == "-m":
        sys.argv = [what, *args]
        runpy.run_module(what, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [what, *args]
        runpy.run_path(what, run_name="__main__")
except SystemExit:
    pass
finally:
    os.write(2, f"\npeak {peak()}\n".encode())
"""


# Where `archcalc table resnet152` spends its time, phase by phase, in one fresh interpreter: the import of the
# dependencies (the floor), then archcalc's CLI, the command's modules, the spec read, the analysis and the text.
PHASES = r"""
import io, sys, time
def clock(): return time.perf_counter()
marks = [clock()]
import {floor}
marks.append(clock())
import archcalc.cli
marks.append(clock())
import archcalc.cli.table
from archcalc import catalog, render
from archcalc.analysis import analyze
marks.append(clock())
network = catalog.load("resnet152")
marks.append(clock())
report = analyze(network, 1, "float32", input_shape=network.input)
marks.append(clock())
render.table_text(report, False, False, False)
marks.append(clock())
print(" ".join(str(b - a) for a, b in zip(marks, marks[1:])))
"""
PHASE_NAMES = ("the dependencies' import (the floor)", "archcalc's CLI (archcalc.cli, typer's app)",
               "the command's modules (cli/table.py and the engine it imports)", "reading resnet152's spec",
               "the analysis", "the table as text")


def phases(runs: int, env: dict[str, str]) -> list[float]:
    """Median seconds of each of PHASE_NAMES over `runs` fresh interpreters (after one untimed)."""
    code = PHASES.replace("{floor}", ", ".join(dependencies()))
    samples = []
    for round_ in range(runs + 1):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        if round_:
            samples.append([float(x) for x in done.stdout.split()])
    return [statistics.median(column) for column in zip(*samples)]


def phase_table(seconds: list[float]) -> list[str]:
    floor = seconds[0]
    lines = ["| phase | median | × floor |", "|---|---:|---:|"]
    lines += [f"| {name} | {_ms(s)} | {_times(s / floor)} |" for name, s in zip(PHASE_NAMES, seconds)]
    lines.append(f"| archcalc's own work (all but the first) | {_ms(sum(seconds[1:]))} | "
                 f"{_times(sum(seconds[1:]) / floor)} |")
    return lines


def peak_bytes(argv: tuple[str, ...], env: dict[str, str]) -> int:
    """The peak resident memory of the program `argv` runs (a Python script, `-c` or `-m`), in bytes."""
    how = argv[1:3] if argv[0] == sys.executable else ("script", argv[0])
    rest = argv[3:] if argv[0] == sys.executable else argv[1:]
    done = subprocess.run([sys.executable, "-c", PEAK, *how, *rest], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env)
    lines = done.stderr.decode(errors="replace").splitlines()
    return int(lines[-1].split()[1]) if lines and lines[-1].startswith("peak ") else 0


def interleaved(cases: list[Case], runs: int, env: dict[str, str]) -> dict[str, Timing]:
    """Medians over `runs` rounds, each round running every case once, after one untimed round; then each
    case's peak memory, measured apart (the measuring is not timed)."""
    samples: dict[str, list[tuple[float, float]]] = {case.label: [] for case in cases}
    for round_ in range(runs + 1):
        for case in cases:
            measured = run_once(case.argv, env)
            if round_:
                samples[case.label].append(measured)
        print(f"  round {round_}/{runs} done", file=sys.stderr)
    return {case.label: Timing(statistics.median(wall for wall, _ in samples[case.label]), peak_bytes(case.argv, env),
                               statistics.median(cpu for _, cpu in samples[case.label])) for case in cases}


def stack_spec(folder: Path, layers: int) -> Path:
    """A plain stack of `layers` 3×3 convolutions on a 16×32×32 input, written as one repeated item."""
    path = folder / f"stack{layers}.yaml"
    path.write_text(f"version: 1\nname: stack{layers}\ninput: [16, 32, 32]\nlayers:\n"
                    f"  - conv: {{out: 16, k: 3, p: 1, act: relu}}\n    repeat: {layers}\n", encoding="utf-8")
    return path


def cli_cases(archcalc: list[str]) -> list[Case]:
    python = sys.executable
    floor = f"import {', '.join(dependencies())}"
    cases = [
        Case("python -c pass (interpreter start)", (python, "-c", "pass")),
        Case(f"floor: python -c \"{floor}\" (the dependencies pyproject.toml declares)", (python, "-c", floor)),
        Case("archcalc table resnet152", (*archcalc, "table", "resnet152")),
        Case("archcalc table resnet152 --format json", (*archcalc, "table", "resnet152", "--format", "json")),
        Case("archcalc table vgg16", (*archcalc, "table", "vgg16")),
        Case("archcalc compare alexnet googlenet", (*archcalc, "compare", "alexnet", "googlenet")),
        Case("archcalc list", (*archcalc, "list")),
        Case(f"archcalc check specs/ ({len(catalog.bundled())} bundled specs)",
             (*archcalc, "check", str(catalog.specs_dir()))),
    ]
    return cases


def torch_cases() -> tuple[list[Case], str]:
    """`import torch` and torchinfo's summary of ResNet-152, where installed; and what the model is."""
    if not installed("torch"):
        return [], "torch is not installed: no torch rows"
    cases = [Case("python -c \"import torch\"", (sys.executable, "-c", "import torch"))]
    if not installed("torchinfo"):
        return cases, "torchinfo is not installed (pip install \"archcalc[bench]\"): no torchinfo row"
    if installed("torchvision"):
        build, model = "from torchvision.models import resnet152\n", "torchvision.models.resnet152() (weights initialised, none downloaded)"
    else:
        build, model = PLAIN_RESNET152, "ResNet-152 written in plain torch.nn (in benchmarks/run.py; 60,192,808 parameters)"
    code = build + "import torchinfo\ntorchinfo.summary(resnet152(), input_size=(1, 3, 224, 224))\n"
    cases.append(Case("torchinfo summary of ResNet-152", (sys.executable, "-c", code)))
    return cases, f"torchinfo's model: {model}, summary at input 1×3×224×224"


def engine_cases(archcalc: list[str], folder: Path) -> list[Case]:
    """The one-layer stack (the fixed cost) first, then the stacks and resnet1202, with their layer counts."""
    specs = [(f"stack of {n:,}", str(stack_spec(folder, n))) for n in (1, *STACKS)] + [("resnet1202", "resnet1202")]
    return [Case(label, (*archcalc, "table", spec), len(catalog.load(spec).layers)) for label, spec in specs]


def machine() -> list[str]:
    """What ran the benchmark: CPU, cores, memory, system, Python and the packages that matter."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB memory"
    load = f"; load average at start {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    versions = ", ".join(f"{name} {_version(name)}" for name in
                         ("PyYAML", "rich", "typer", "click", "torch", "torchvision", "torchinfo"))
    import yaml

    return [f"{cpu}, {os.cpu_count()} logical CPUs{memory}{load}",
            f"{platform.platform()}; Python {platform.python_version()} ({platform.python_implementation()})",
            f"archcalc {__version__}; {versions}; libyaml {'yes' if yaml.__with_libyaml__ else 'no'}"]


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _times(value: float) -> str:
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3f}×"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size else "—"


def cli_table(cases: list[Case], timings: dict[str, Timing]) -> tuple[list[str], Timing]:
    """Rows of each command: median wall and CPU time, each × the floor's, peak memory; and the floor."""
    floor = next(timings[c.label] for c in cases if c.label.startswith("floor"))
    start = timings[cases[0].label].seconds
    lines = ["| command | median | × floor | CPU | CPU × floor | peak memory |", "|---|---:|---:|---:|---:|---:|"]
    for case in cases:
        t = timings[case.label]
        cpu = _times(t.cpu_seconds / floor.cpu_seconds) if floor.cpu_seconds else "—"
        lines.append(f"| `{case.label}` | {_ms(t.seconds)} | {_times(t.seconds / floor.seconds)} | "
                     f"{_ms(t.cpu_seconds)} | {cpu} | {_mib(t.peak_bytes)} |")
    lines.append(f"\nInterpreter start alone: {_ms(start)}.")
    return lines, floor


def torch_table(cases: list[Case], timings: dict[str, Timing], archcalc_s: float) -> list[str]:
    if not cases:
        return []
    lines = ["| process | median | archcalc table resnet152 / this | peak memory |", "|---|---:|---:|---:|"]
    for case in cases:
        t = timings[case.label]
        lines.append(f"| `{case.label}` | {_ms(t.seconds)} | {_times(archcalc_s / t.seconds)} "
                     f"({t.seconds / archcalc_s:.1f} times faster) | {_mib(t.peak_bytes)} |")
    return lines


def engine_table(cases: list[Case], timings: dict[str, Timing]) -> tuple[list[str], list[float], list[float]]:
    """Rows of each spec: median, peak memory, µs and bytes a layer above the one-layer stack (cases[0])."""
    base = timings[cases[0].label]
    lines = ["| spec | layers | median | peak memory | µs / layer | bytes / layer |", "|---|---:|---:|---:|---:|---:|",
             f"| {cases[0].label} (the fixed cost) | 1 | {_ms(base.seconds)} | {_mib(base.peak_bytes)} | — | — |"]
    micros, sizes = [], []
    for case in cases[1:]:
        t = timings[case.label]
        us = (t.seconds - base.seconds) / (case.layers - 1) * 1e6
        per = (t.peak_bytes - base.peak_bytes) / (case.layers - 1)
        if case.label.startswith("stack"):
            micros.append(us)
            sizes.append(per)
        lines.append(f"| {case.label} | {case.layers:,} | {_ms(t.seconds)} | {_mib(t.peak_bytes)} | {us:,.1f} | "
                     f"{per:,.0f} |")
    return lines, micros, sizes


def verdicts(floor: Timing, timings: dict[str, Timing], torch_rows: list[Case], micros: list[float],
             sizes: list[float]) -> list[str]:
    """Each target of the speed issue, met or missed, with the figure."""
    table = timings["archcalc table resnet152"].seconds
    out = []
    ratio = table / floor.seconds
    cpu = timings["archcalc table resnet152"].cpu_seconds
    cpu_ratio = f" (CPU time: {_times(cpu / floor.cpu_seconds)})" if floor.cpu_seconds else ""
    out.append(f"- `table resnet152` within {FLOOR_TARGET}× the floor: {_times(ratio)}{cpu_ratio} — "
               f"{'met' if ratio <= FLOOR_TARGET else 'missed'}")
    info = next((timings[c.label].seconds for c in torch_rows if c.label.startswith("torchinfo")), None)
    if info:
        out.append(f"- at least 25 times faster than torchinfo's summary: {info / table:.1f} times — "
                   f"{'met' if table / info <= TORCHINFO_TARGET else 'missed'}")
    spread = max(micros) / min(micros)
    out.append(f"- engine cost per layer under {PER_LAYER_US} µs: {max(micros):.1f} µs at most — "
               f"{'met' if max(micros) < PER_LAYER_US else 'missed'}")
    out.append(f"- flat within {FLAT}× from {STACKS[0]:,} to {STACKS[-1]:,} layers: {spread:.2f}× — "
               f"{'met' if spread <= FLAT else 'missed'}")
    if min(sizes) > 0:
        out.append(f"- peak memory linear in layers: {min(sizes):,.0f} to {max(sizes):,.0f} bytes a layer "
                   f"({max(sizes) / min(sizes):.2f}×)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")), help="the Markdown report")
    options = parser.parse_args()
    archcalc = archcalc_command()
    env = child_environment()
    about = machine()
    with tempfile.TemporaryDirectory() as folder:
        cli, (torch_rows, torch_note), engine = cli_cases(archcalc), torch_cases(), engine_cases(archcalc, Path(folder))
        print(f"{len(cli) + len(torch_rows) + len(engine)} processes × {options.runs} rounds…", file=sys.stderr)
        timings = interleaved(cli + torch_rows + engine, options.runs, env)
        spent = phases(options.runs, env)
    cli_lines, floor = cli_table(cli, timings)
    torch_lines = torch_table(torch_rows, timings, timings["archcalc table resnet152"].seconds)
    engine_lines, micros, sizes = engine_table(engine, timings)
    report = [
        "# archcalc speed", "",
        f"Written by `python benchmarks/run.py --runs {options.runs}` on {time.strftime('%Y-%m-%d')}: whole processes, "
        f"interleaved, medians of {options.runs} rounds, output piped. archcalc ran as `{' '.join(Path(a).name for a in archcalc)}`.",
        "", "## Machine", "", *(f"- {line}" for line in about),
        "", "## Targets", "", *verdicts(floor, timings, torch_rows, micros, sizes),
        "", "## The command line against the import of its dependencies", "", *cli_lines,
        "", "## Where `table resnet152` spends its time", "",
        "Phase by phase in one fresh interpreter (medians of the same number of rounds, timed inside the process, "
        "so without the interpreter's start and exit).", "", *phase_table(spent),
        "", "## Against torch and torchinfo", "", torch_note, "", *torch_lines,
        "", "## The engine's scaling (`archcalc table SPEC`, piped)", "",
        "Plain stacks of 3×3 convolutions (16 channels, 32×32) written as one repeated item; µs and bytes per layer "
        "are above the one-layer stack, whose fixed cost (start, imports, a spec read) every row pays.", "",
        *engine_lines, "",
    ]
    text = "\n".join(report)
    Path(options.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
