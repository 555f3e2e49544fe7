"""This working tree's speed against an earlier commit's, in one interleaved run.

    python benchmarks/against.py REF [--runs 9] [--out FILE.md]

The commit REF is checked out into a temporary folder (`git worktree`), and
each round runs `archcalc table resnet152`, its `--format json`, `table vgg16`
and `table resnet152 --input 3xNxN --at N=224` once from each tree, in the same
order, with `python -m archcalc` and the tree on PYTHONPATH. Each figure is the
median over the rounds, after one untimed round; the ratio is this tree / REF
(below 1 is faster).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from run import Case, child_environment, interleaved

COMMANDS = (("table", "resnet152"), ("table", "resnet152", "--format", "json"), ("table", "vgg16"),
            ("table", "resnet152", "--input", "3xNxN", "--at", "N=224"))
HERE = Path(__file__).resolve().parent.parent


def cases(tree: Path, label: str) -> list[Case]:
    # `-c` with the tree first on sys.path: neither an installed archcalc nor this script's folder is read
    start = f"import sys; sys.path.insert(0, {str(tree)!r}); from archcalc.cli import main; sys.argv[0] = 'archcalc'; main()"
    return [Case(f"{label}: archcalc {' '.join(argv)}", (sys.executable, "-c", start, *argv)) for argv in COMMANDS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ref")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        old = Path(folder) / "old"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-q", str(old), options.ref], check=True)
        try:
            before, after = cases(old, options.ref), cases(HERE, "this tree")
            timings = interleaved([case for pair in zip(before, after) for case in pair], options.runs, child_environment())
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(old)], check=True)
    lines = [f"This tree against {options.ref}: median of {options.runs} interleaved rounds, output piped.", "",
             f"| command | {options.ref} | this tree | this tree / {options.ref} |", "|---|---:|---:|---:|"]
    for old_case, new_case in zip(before, after):
        a, b = timings[old_case.label].seconds, timings[new_case.label].seconds
        lines.append(f"| `{old_case.label.split(': ', 1)[1]}` | {a * 1000:.0f} ms | {b * 1000:.0f} ms | {b / a:.2f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        options.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
