"""What a hostile spec can cost: the worst cases within archcalc's limits, and `check` of many specs.

    python benchmarks/hostile.py [--runs 3] [--out benchmarks/HOSTILE.md]

1. Worst cases. Specs a hostile contributor writes (the attacks of issue 9:
   a `from:` list in a block repeated 2,500 times, late arguments that use
   each other, sizes that run away; the YAML bombs of the corpus; and a
   spec at every limit at once), each through every analytic command as a
   whole process, output piped: the median time and the peak memory. The
   target: each refused or answered in under 2 s and 256 MiB. The symbolic
   analysis (formulas in H and W) is timed through the library, ResNet-1202
   beside the chain that exhausts its budget.
2. Many specs. `archcalc check` of directories of 250 to 2,000 specs of
   bundled size (the bundled specs, copied round robin): the time per spec
   stays flat, so the time is linear in the directory's size.
3. Round 3 (issue 19): what is new since, attacked as a stranger would, one
   table per class, each case with its time, peak memory and verdict:
   markup and label injection in the HTML report and the diagrams, rendered
   in real Chromium and Graphviz; symbolic inputs and ranges that could blow
   up; the notebook API on hostile values; `check` on odd trees (devices,
   FIFOs, unreadable files, a sparse 10 GiB file, names that are not UTF-8,
   a path past PATH_MAX, 10,000 files); and the environment (C locale, ASCII
   output, a dumb terminal, a home that is read-only, unset or a file, a
   read-only working directory, odd COLUMNS). `--only round3` runs this part
   alone and rewrites only its section of --out.

It reuses benchmarks/run.py's process helpers and writes Markdown.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import hostile_round3 as round3

from run import archcalc_command, child_environment, machine, peak_bytes

from archcalc import catalog

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "hostile"
TARGET_S, TARGET_BYTES = 2.0, 256 * 2**20
DIRECTORIES = (250, 500, 1_000, 2_000)
LINEAR = 1.5  # ms per spec within 1.5× from the smallest directory to the largest

SYMBOLIC = r"""
import sys, time
from archcalc import analyze, load
from archcalc.errors import ArchcalcError
from archcalc.symbolic import Expr
net = load(sys.argv[1])
started = time.perf_counter()
try:
    analyze(net, input_shape=(net.input[0], Expr.var("H"), Expr.var("W")))
    outcome = "answered"
except ArchcalcError as err:
    outcome = "refused: " + str(err)[:60]
print(f"{time.perf_counter() - started:.3f} {outcome}")
"""


def attack(folder: Path) -> Path:
    """The issue's attack at its own scale: a from: list of 2,000 names in a block repeated 2,500 times."""
    refs = ", ".join(f"a_{i + 1}" for i in range(2000))
    path = folder / "fan-in-attack.yaml"
    path.write_text(f"input: [1, 1, 1]\nblocks:\n  fan:\n    layers:\n      - concat: {{from: [{refs}]}}\n"
                    "layers:\n  - relu: {name: a}\n    repeat: 2000\n  - fan:\n    repeat: 2500\n", encoding="utf-8")
    return path


def symbolic_chain(folder: Path) -> Path:
    path = folder / "symbolic-chain.yaml"
    path.write_text("input: [3, 64, 64]\nlayers:\n  - avgpool: {k: 2, s: 1}\n    repeat: 4999\n", encoding="utf-8")
    return path


def worst_specs(folder: Path) -> list[Path]:
    corpus = ["at-every-limit.yaml", "late-argument-chain.yaml", "fan-in-in-repeated-block.yaml",
              "runaway-concat.yaml", "runaway-upsampling.yaml", "runaway-stride.yaml", "exponential-blocks.yaml",
              "too-many-layers.yaml", "alias-bomb.yaml", "too-many-nodes.yaml", "oversized-file.yaml",
              "astronomical-network.yaml"]
    return [attack(folder), *(CORPUS / name for name in corpus)]


def commands(spec: Path) -> list[tuple[str, ...]]:
    path = str(spec)
    return [("check", path), ("table", path), ("table", path, "--format", "json", "--memory", "--formulas"),
            ("table", path, "--format", "markdown", "--depth", "2"), ("compare", path, path),
            ("fit", path, "--memory", "16GiB", "--train"), ("explain", path, "input")]


def timed(argv: tuple[str, ...], runs: int, env: dict[str, str]) -> tuple[float, int, int]:
    """Median wall seconds over `runs`, peak memory, and the exit status (0 answered, 1 refused)."""
    import subprocess

    seconds, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        status = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), peak_bytes(argv, env), status


def symbolic_rows(folder: Path, env: dict[str, str]) -> list[str]:
    import subprocess

    rows = []
    for spec in (catalog.locate("resnet1202"), symbolic_chain(folder), catalog.locate("densenet121")):
        done = subprocess.run([sys.executable, "-c", SYMBOLIC, str(spec)], capture_output=True, text=True, env=env)
        seconds, _, outcome = done.stdout.strip().partition(" ")
        rows.append(f"| `{spec.name}` | {float(seconds) * 1000:,.0f} ms | {outcome} |")
    return rows


def directory(folder: Path, count: int) -> Path:
    """`count` specs of bundled size: the bundled specs, copied round robin."""
    bundled = list(catalog.bundled().values())
    target = folder / f"specs{count}"
    target.mkdir()
    for index in range(count):
        shutil.copyfile(bundled[index % len(bundled)], target / f"{index:05d}-{bundled[index % len(bundled)].name}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "HOSTILE.md"))
    parser.add_argument("--only", choices=("round3",), help="run this part alone; the rest of --out is kept")
    args = parser.parse_args()
    env, archcalc = child_environment(), archcalc_command()
    if args.only:
        round3.rewrite(Path(args.out), round3.section(env, archcalc))
        return
    lines = ["# What a hostile spec can cost", "",
             f"Written by `python benchmarks/hostile.py --runs {args.runs}` on {time.strftime('%Y-%m-%d')}: whole "
             f"processes, output piped, medians of {args.runs} runs; peak memory measured apart.", "",
             "## Machine", "", *(f"- {line}" for line in machine()), "",
             "## Worst cases, every command", "",
             f"Target: each refused or answered in under {TARGET_S:g} s and {TARGET_BYTES // 2**20} MiB.", "",
             "| spec | command | median | peak memory | outcome |", "|---|---|---:|---:|---|"]
    worst_s = worst_bytes = 0.0
    with tempfile.TemporaryDirectory() as place:
        folder = Path(place)
        for spec in worst_specs(folder):
            for command in commands(spec):
                seconds, peak, status = timed((*archcalc, *command), args.runs, env)
                worst_s, worst_bytes = max(worst_s, seconds), max(worst_bytes, peak)
                shown = " ".join(a if a != str(spec) else "SPEC" for a in command)
                outcome = {0: "answered", 1: "refused"}.get(status, f"exit {status}")
                lines.append(f"| `{spec.name}` | `{shown}` | {seconds * 1000:,.0f} ms | {peak / 2**20:,.1f} MiB | {outcome} |")
                print(lines[-1], file=sys.stderr)
        verdict = "met" if worst_s < TARGET_S and worst_bytes < TARGET_BYTES else "missed"
        lines += ["", f"Worst: {worst_s * 1000:,.0f} ms and {worst_bytes / 2**20:,.1f} MiB — {verdict}.", "",
                  "## Symbolic analysis (formulas in H and W), through the library", "",
                  "| spec | time | outcome |", "|---|---:|---|", *symbolic_rows(folder, env), "",
                  "## `check` of many specs of bundled size", "",
                  "| specs | median | per spec |", "|---:|---:|---:|"]
        per_spec = []
        for count in DIRECTORIES:
            target = directory(folder, count)
            seconds, _, _ = timed((*archcalc, "check", str(target)), args.runs, env)
            per_spec.append(seconds / count)
            lines.append(f"| {count:,} | {seconds:,.2f} s | {seconds / count * 1000:.1f} ms |")
            print(lines[-1], file=sys.stderr)
        spread = max(per_spec) / min(per_spec)
        lines += ["", f"Time per spec from {DIRECTORIES[0]:,} to {DIRECTORIES[-1]:,} specs: within {spread:.2f}× "
                      f"(linear: within {LINEAR}×) — {'met' if spread <= LINEAR else 'missed'}.", ""]
    lines += round3.section(env, archcalc)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
