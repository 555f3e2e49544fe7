"""Round 3 of the hostile attacks (issue 19), run by benchmarks/hostile.py: one table per class.

Each case is one whole `archcalc` process (or, for the API, one call in a
child interpreter): its wall time, its peak resident memory (the child's, as
the kernel counts it at exit), and a verdict: `ok` when it answered, or
refused in one line with exit 1 or 2, with no traceback and no "internal
error"; anything else is a failure and is named. The markup class also opens
each page and picture in real Chromium (`--dump-dom`: the document after its
scripts ran) and parses each SVG as strict XML: no script of the spec's runs,
no element or attribute of the spec's is made, and its text shows as written.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

np = TensorProto = helper = numpy_helper = None  # onnx's, imported in the child that writes the ONNX files only

MARK = "## Round 3"
TARGET_S = 2.0
DEFAULT_USER = "1000"  # uid and gid that own nothing, for what root cannot test (a file it may not read)

# Spec text a stranger writes to make a page run script, inject an element or break a label (YAML-quoted).
PAYLOADS = {
    "script": "<script>document.title='PWNED'</script>",
    "style": "</style><img src=x onerror=\"document.title='PWNED'\">",
    "javascript-url": "<a href=\"javascript:document.title='PWNED'\">x</a> javascript:alert(1)",
    "entities": "&lt;b&gt; &amp; &nbsp; &foo; &#60;script&#62; &#x3c;",
    "svg-cdata": "<svg onload=\"document.title='PWNED'\"></svg>]]><![CDATA[<x>",
    "comment": "--><script>document.title='PWNED'</script><!--",
    "dot-label": "\" ] ; n0 [label=\"PWN\\\\N\\G\\l {a|b} <p> | \\\\ \"",
    "mermaid": "]] --> click n0 call alert(1) %%{init: {'theme':'dark'}}%% `**md**` A[\"x\"]",
}


class Ran(NamedTuple):
    seconds: float
    peak: int  # bytes
    code: int | str
    out: str
    err: str


def launch(argv: list[str], env: dict[str, str], cwd: str | None = None, timeout: float = 120) -> Ran:
    """One process, its output in files: wall seconds, and its peak memory as the kernel reports it when the
    process is reaped (ru_maxrss of it and of what it waited for: dot, a browser)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        killed: list[bool] = []
        timer = threading.Timer(timeout, lambda: (killed.append(True), child.kill()))
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        code: int | str = "timeout" if killed else child.returncode
        return Ran(seconds, usage.ru_maxrss * 1024, code, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"))


def verdict(ran: Ran, lines: int = 1) -> str:
    """ok: answered (0), or refused (1, 2) in at most `lines` lines of stderr, no traceback, no internal error."""
    if ran.code == "timeout":
        return "FAIL: ran past its time limit"
    if "Traceback" in ran.err or "internal error" in ran.err:
        return "FAIL: " + (ran.err.strip().splitlines() or [""])[-1][:80]
    if ran.code not in (0, 1, 2):
        return f"FAIL: exit {ran.code}"
    if len(ran.err.strip().splitlines()) > lines:
        return f"FAIL: {len(ran.err.strip().splitlines())} lines on stderr"
    return "ok" if ran.code == 0 else f"ok (refused, exit {ran.code})"


def row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def timing(ran: Ran) -> tuple[str, str]:
    return f"{ran.seconds * 1000:,.0f} ms", f"{ran.peak / 2**20:,.1f} MiB" if ran.peak else "—"


class Table:
    """A class's rows, and its worst time and memory."""

    def __init__(self, title: str, intro: str, header: tuple[str, ...]):
        self.title = title
        self.lines = [f"### {title}", "", intro, "", row(*header), "|" + "---|" * len(header)]
        self.worst_s, self.worst_bytes, self.failures, self.slow, self.cases = 0.0, 0, 0, 0, 0

    def add(self, ran: Ran, *cells: str) -> None:
        self.worst_s, self.worst_bytes = max(self.worst_s, ran.seconds), max(self.worst_bytes, ran.peak)
        self.failures += any(cell.startswith("FAIL") for cell in cells)
        self.slow += any(f"past {TARGET_S:g} s" in cell for cell in cells)
        self.cases += 1
        self.lines.append(row(*cells))
        print(self.lines[-1], file=sys.stderr)

    def close(self) -> list[str]:
        return [*self.lines, "", f"Worst: {self.worst_s * 1000:,.0f} ms and {self.worst_bytes / 2**20:,.1f} MiB; "
                                 f"{self.failures} failures.", ""]

    def summary(self) -> str:
        return row(self.title.split(". ", 1)[1], f"{self.cases:,}", f"{self.worst_s * 1000:,.0f} ms",
                   f"{self.worst_bytes / 2**20:,.1f} MiB", str(self.failures), str(self.slow))


# ── 1. markup and label injection, in Chromium and Graphviz ─────────────────────────────


class _Dom(HTMLParser):
    """Tags, attributes that run script, and the text, of a document as Chromium left it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.scripting: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.scripting += [f"{tag} {k}" for k, v in attrs
                           if k.startswith("on") or (v or "").strip().lower().startswith("javascript:")]

    def handle_data(self, data):
        self.text.append(data)


def chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
                None)


def rendered(browser: str, page: Path, own_scripts: int, title: str | None) -> str:
    """What Chromium made of `page`: `ok`, or what ran or was injected (and, given `title`, whether its text
    shows it as written; a plot draws its text as paths)."""
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=60)
    dom = _Dom()
    dom.feed(done.stdout)
    problems = []
    if dom.tags.count("script") != own_scripts:
        problems.append(f"{dom.tags.count('script')} scripts")
    problems += [f"injected {tag}" for tag in ("img", "a", "iframe", "object", "embed") if tag in dom.tags]
    problems += dom.scripting
    if "PWNED" in "".join(dom.text).replace(title or "PWNED", ""):
        problems.append("a script ran")
    if title is not None and title not in "\n".join(dom.text):
        problems.append("the title is not shown as written")
    return "FAIL: " + ", ".join(problems) if problems else "ok"


def well_formed(svg: Path, title: str | None) -> str:
    try:
        tree = ElementTree.parse(svg)
    except ElementTree.ParseError as err:
        return f"FAIL: not XML ({err})"
    texts = "\n".join(t.text or "" for t in tree.iter() if t.tag.endswith("}text") or t.tag.endswith("}title"))
    return "ok" if title is None or title in texts else "FAIL: the title is not drawn as written"


def markup(folder: Path, env: dict[str, str], archcalc: list[str]) -> Table:
    browser = chromium()
    table = Table("1. The HTML report and diagrams: markup and label injection",
                  "Each payload is a spec's `name` (its first 100 characters), `title`, `source` and `reference`. "
                  "The page and the pictures are opened in Chromium "
                  + (f"({Path(browser).name} --headless --dump-dom)" if browser else "(**not installed here: not rendered**)")
                  + "; each SVG is parsed as strict XML and its text compared with the title; DOT and Mermaid are "
                    "checked for a closed quote.",
                  ("payload", "output", "time", "peak memory", "archcalc", "rendered"))
    for key, text in PAYLOADS.items():
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        spec = folder / f"{key}.yaml"
        spec.write_text(f'name: "{quoted[:100]}"\ntitle: "{quoted}"\nsource: "{quoted}"\nreference: "{quoted[:100]}"\n'
                        "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n  - add: {from: [conv1, conv1]}\n"
                        "  - fc: {out: 2}\n", encoding="utf-8")
        outputs = [("report", folder / f"{key}.html", 1), ("diagram", folder / f"{key}.svg", 0),
                   ("plot", folder / f"{key}.plot.svg", 0)]
        for command, out, scripts in outputs:
            ran = launch([*archcalc, command, str(spec), "-o", str(out)], env)
            seen = verdict(ran)
            if seen == "ok" and out.suffix == ".svg":
                seen = well_formed(out, None if command == "plot" else text)
            drawn = None if command == "plot" else text
            shown = rendered(browser, out, scripts, drawn) if browser and out.exists() else "not rendered"
            table.add(ran, key, f"`{command} -o {out.name}`", *timing(ran), seen, shown)
        for fmt in ("dot", "mermaid"):
            ran = launch([*archcalc, "diagram", str(spec), "--format", fmt], env)
            balanced = all(line.replace('\\"', "").count('"') % 2 == 0 for line in ran.out.splitlines())
            table.add(ran, key, f"`diagram --format {fmt}`", *timing(ran), verdict(ran),
                      "quotes balanced" if balanced else "FAIL: a label's quote is open")
    return table


# ── 2. the symbolic engine: forms and ranges that could blow up ──────────────────────────


def _symbolic_specs(folder: Path) -> dict[str, Path]:
    """Floor divisions nested in many strides, strides of every prime (a long period), upsampling against
    pooling (formulas that grow), a runaway upsampling in a symbol, a flatten into fc after thirty strides."""
    strides = [(3, 2, 1), (5, 3, 2), (2, 2, 0), (7, 5, 3), (3, 7, 1), (4, 11, 0), (3, 13, 2), (5, 2, 1)] * 3
    texts = {
        "mixed-strides": "".join(f"  - conv: {{out: 4, k: {k}, s: {s}, p: {p}}}\n" for k, s, p in strides),
        "prime-periods": "".join(f"  - avgpool: {{k: {s}, s: {s}}}\n" for s in (2, 3, 5, 7, 11, 13, 17, 19, 23)),
        "upsample-against-pool": "  - upsample: {scale: 3}\n  - avgpool: {k: 2, s: 2}\n" * 200,
        "runaway-upsample": "  - upsample: {scale: 1000}\n    repeat: 6\n  - conv: {out: 2, k: 3}\n",
        "thirty-strides-then-fc": "  - conv: {out: 7, k: 3, s: 2, p: 1}\n" * 30 + "  - flatten:\n  - fc: 10\n",
    }
    paths = {}
    for name, layers in texts.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(f"input: [3, N, N]\nlayers:\n{layers}", encoding="utf-8")
    return paths


def symbolic_cases(folder: Path) -> list[list[str]]:
    specs = {name: str(path) for name, path in _symbolic_specs(folder).items()}
    many = ["--batch", "B", "--formulas", "--memory", "--format", "json"]
    cases = [
        ["table", "resnet50", "--input", "3xNxN", "--at", "N=1048576"],
        ["table", "resnet50", "--input", "3xHxW", "--at", "H=1048576,W=1"],
        ["table", "resnet50", "--input", "3xNxN", "--at", "N=224,N=32"],
        ["table", "resnet50", "--input", "3xNxN", "--at", "N=99999999999999999999999"],
        ["table", "resnet50", "--input", "3x" + "9" * 5000 + "xN"],
        ["table", "resnet50", "--input", "NxNxN"], ["table", "resnet50", "--input", "3xN+1xN"],
        ["table", "r3d-18", "--input", "3xTxHxW", *many],
        ["table", "r3d-18", "--input", "3xTxHxW", "--at", "T=1048576,H=1048576,W=1048576", "--memory"],
        ["table", "densenet121", "--input", "3xHxW", *many],
        ["table", "unet", "--input", "1xHxW", *many],
        ["table", "gpt2", "--input", "S", *many], ["table", "gpt2", "--input", "S", "--at", "S=1048576"],
        ["explain", "densenet121", "denseblock4", "--input", "3xHxW", "--format", "json"],
        ["sizes", "unet", "--range", "1..100000", "--format", "json"],
        ["sizes", "googlenet", "1048576", "1", "999999"], ["sizes", "resnet50", "--range", "1..1048576"],
        ["fit", "googlenet", "--memory", str(2**60), "--solve", "input", "--batch", "1000000000"],
        ["fit", "gpt2", "--memory", str(2**60), "--solve", "seq"],
        ["fit", "lenet5", "--memory", "1GiB", "--solve", "input"],
    ]
    for name, spec in specs.items():
        cases += [["table", spec, *many], ["sizes", spec, "--range", "1..100000"]]
    return cases


def symbolic(folder: Path, env: dict[str, str], archcalc: list[str]) -> Table:
    table = Table("2. The symbolic engine: input forms, sizes and ranges",
                  f"Target: each answered or refused in one line within {TARGET_S:g} s. The specs are written "
                  "here: floor divisions nested through 24 strides of 2 to 13, strides of nine primes (a period of "
                  "223,092,870), upsampling against pooling 200 times (formulas that grow to the work budget), "
                  "a runaway upsampling in N, thirty strides then flatten and fc.",
                  ("command", "time", "peak memory", "verdict"))
    for case in symbolic_cases(folder):
        ran = launch([*archcalc, *case], env)
        judged = verdict(ran)
        if judged == "ok" or judged.startswith("ok"):
            judged += "" if ran.seconds < TARGET_S else f" (past {TARGET_S:g} s)"
        shown = " ".join(a if len(a) < 60 else a[:20] + "…" for a in case).replace(str(folder) + "/", "")
        table.add(ran, f"`{shown}`", *timing(ran), judged)
    return table


# ── 3. the notebook API on hostile values ────────────────────────────────────────────────

API = r"""
import math, sys, time
import archcalc
from archcalc import ArchcalcError, Builder
from pathlib import Path
cases = {
    "load(42)": lambda: archcalc.load(42),
    "load(None)": lambda: archcalc.load(None),
    "load(b'yaml')": lambda: archcalc.load(b"input: [3, 8, 8]\nlayers: [relu: ]"),
    "load('x' * 10000)": lambda: archcalc.load("x" * 10000),
    "load(YAML of 100,000 lines)": lambda: archcalc.load("input: [3, 8, 8]\nlayers:\n" + "  - relu:\n" * 100000),
    "load(text with NUL)": lambda: archcalc.load("input: [3, 8, 8]\nlayers: [relu: ]\x00"),
    "load(a lone surrogate)": lambda: archcalc.load("input: [3, 8, 8]\nlayers: [relu: ]\ntitle: '\ud800'"),
    "load(Path('/dev/zero'))": lambda: archcalc.load(Path("/dev/zero")),
    "load(a mapping that holds itself)": lambda: (lambda d: (d["layers"].append(d), archcalc.load(d)))(
        {"input": [3, 8, 8], "layers": []}),
    "load(5,000 nested mappings)": lambda: archcalc.load(__import__("functools").reduce(lambda a, _: {"x": a},
                                                                                         range(5000), {})),
    "load(out=10**5000)": lambda: archcalc.load({"input": [3, 8, 8], "layers": [{"conv": {"out": 10**5000, "k": 3}}]}),
    "load(alpha=nan)": lambda: archcalc.load({"input": [3, 8, 8], "layers": [{"lrn": {"alpha": math.nan}}]}),
    "load(an object)": lambda: archcalc.load({"input": [3, 8, 8], "layers": [{"conv": {"out": object()}}]}),
    "analyze(batch=10**5000)": lambda: archcalc.analyze("lenet5", batch=10**5000),
    "analyze(batch=2.0)": lambda: archcalc.analyze("lenet5", batch=2.0),
    "analyze(dtype=4)": lambda: archcalc.analyze("lenet5", dtype=4),
    "analyze(checkpoint='sometimes')": lambda: archcalc.analyze("lenet5", checkpoint="sometimes"),
    "analyze(checkpoint=2.5)": lambda: archcalc.analyze("lenet5", checkpoint=2.5),
    "analyze(checkpoint=-3)": lambda: archcalc.analyze("lenet5", checkpoint=-3),
    "analyze(checkpoint=10**5000)": lambda: archcalc.analyze("lenet5", checkpoint=10**5000),
    "analyze(input_shape=(1, 10**5000, 32))": lambda: archcalc.analyze("lenet5", input_shape=(1, 10**5000, 32)),
    "analyze(input_shape='1x32x32')": lambda: archcalc.analyze("lenet5", input_shape="1x32x32"),
    "Builder(input='3x8x8')": lambda: Builder(input="3x8x8"),
    "Builder(name=5)": lambda: Builder(input=(3, 8, 8), name=5),
    "Builder(title=ESC)": lambda: Builder(input=(3, 8, 8), title="\x1b]0;x\x07"),
    "Builder().add('<script>')": lambda: Builder(input=(3, 8, 8)).add("<script>"),
    "Builder().add(relu, name='<script>')": lambda: Builder(input=(3, 8, 8)).add("relu", name="<script>"),
    "Builder().add(conv, object())": lambda: Builder(input=(3, 8, 8)).add("conv", object()),
    "Builder().add(relu, repeat=10**9)": lambda: Builder(input=(3, 8, 8)).add("relu", repeat=10**9),
    "Builder().block(5, …)": lambda: Builder(input=(3, 8, 8)).block(5, {"layers": [{"relu": None}]}),
    "report.train_parts(-1)": lambda: archcalc.analyze("lenet5").train_parts(-1),
    "report.train_parts(2, 'zero3')": lambda: archcalc.analyze("lenet5").train_parts(2, "zero3"),
    "report._repr_html_() of '<script>'": lambda: (lambda html: "<script>" in html and 1 / 0)(
        archcalc.analyze({"input": [3, 8, 8], "layers": [{"relu": None}], "title": "<script>x</script>"})._repr_html_()),
}
for name, call in cases.items():
    started = time.perf_counter()
    try:
        call()
        outcome = "answered"
    except ArchcalcError as err:
        outcome = "ArchcalcError: " + str(err)[:90]
    except BaseException as err:
        outcome = f"FAIL: {type(err).__name__}: {str(err)[:80]}"
    print(f"{time.perf_counter() - started:.4f}\t{name}\t{outcome}".replace("\n", " "))
"""


def api(env: dict[str, str]) -> Table:
    ran = launch([sys.executable, "-c", API], env, timeout=600)
    table = Table("3. The notebook API on hostile values",
                  "Every call in one child interpreter; the peak memory is that interpreter's, for all of them. "
                  f"Its wall time: {ran.seconds * 1000:,.0f} ms; exit {ran.code}.",
                  ("call", "time", "outcome"))
    for line in ran.out.splitlines():
        seconds, name, outcome = line.split("\t", 2)
        table.add(Ran(float(seconds), ran.peak, 0, "", ""), f"`{name}`", f"{float(seconds) * 1000:,.1f} ms",
                  outcome.replace("`", "'"))
    if ran.code != 0:
        table.add(ran, "the interpreter", "—", "FAIL: " + (ran.err.strip().splitlines() or [""])[-1][:80])
    return table


# ── 4. check on odd trees ────────────────────────────────────────────────────────────────

SPEC = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n  - relu:\n"


def odd_tree(folder: Path) -> Path:
    tree = folder / "odd"
    (tree / "sub").mkdir(parents=True)
    (tree / "ok.yaml").write_text(SPEC, encoding="utf-8")
    for name, target in (("null.yaml", "/dev/null"), ("zero.yaml", "/dev/zero"), ("sub/random.yml", "/dev/urandom"),
                         ("devices", "/dev")):
        (tree / name).symlink_to(target)
    os.mkfifo(tree / "fifo.yaml")
    (tree / "unreadable.yaml").write_text(SPEC, encoding="utf-8")
    (tree / "unreadable.yaml").chmod(0)
    (tree / "unlistable").mkdir()
    (tree / "unlistable" / "in.yaml").write_text(SPEC, encoding="utf-8")
    (tree / "unlistable").chmod(0)
    with open(tree / "sparse.yaml", "wb") as sparse:
        sparse.truncate(10 * 2**30)
    with open(os.path.join(os.fsencode(tree), b"not-utf8-\xff\xfe\x1b[31m.yaml"), "w", encoding="utf-8") as odd:
        odd.write(SPEC)
    (tree / ("l" * 250 + ".yaml")).write_text(SPEC, encoding="utf-8")
    deep = os.open(tree, os.O_RDONLY)
    for _ in range(20):  # 20 × 251 characters: past PATH_MAX (4,096), so made relative to each parent
        os.mkdir("d" * 250, dir_fd=deep)
        inner = os.open("d" * 250, os.O_RDONLY, dir_fd=deep)
        os.close(deep)
        deep = inner
    os.close(deep)
    return tree


def many_files(folder: Path, count: int = 10_000) -> Path:
    tree = folder / f"files{count}"
    for index in range(count):
        place = tree / f"d{index % 100:02d}"
        place.mkdir(parents=True, exist_ok=True)
        (place / f"s{index:05d}.yaml").write_text(SPEC, encoding="utf-8")
    return tree


def as_nobody(argv: list[str]) -> list[str]:
    """Root reads a file of mode 000: run as an unprivileged user (a user namespace) where that is possible."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return argv
    return ["unshare", "--user", f"--map-user={DEFAULT_USER}", f"--map-group={DEFAULT_USER}", *argv]


def check_trees(folder: Path, env: dict[str, str], archcalc: list[str]) -> Table:
    tree, many = odd_tree(folder), many_files(folder)
    nobody = as_nobody(["true"]) != ["true"]
    table = Table("4. `check` on odd trees",
                  "The odd tree holds links to /dev/null, /dev/zero, /dev/urandom and /dev, a FIFO, a file and a "
                  "directory of mode 000, a sparse file of 10 GiB, a name that is not UTF-8 (with an escape "
                  "sequence), a name of 250 characters, and directories nested past PATH_MAX. "
                  + ("Root reads mode 000, so the tree is also checked as an unprivileged user (a user namespace)."
                     if nobody else "Run as a user that cannot read mode 000."),
                  ("tree", "command", "time", "peak memory", "verdict", "last line"))
    runs = [("odd", [*archcalc, "check", str(tree)]), ("odd", [*archcalc, "check", str(tree), "--format", "json"]),
            ("odd", [*archcalc, "check", str(tree), "--format", "github"]),
            ("odd, given", [*archcalc, "check", str(tree / "zero.yaml"), str(tree / "fifo.yaml"),
                            str(tree / "sparse.yaml")]),
            ("odd, given", [*archcalc, "table", str(tree / "fifo.yaml")]),
            ("10,000 files", [*archcalc, "check", str(many)])]
    if nobody:
        runs += [("odd, unprivileged", as_nobody([*archcalc, "check", str(tree)])),
                 ("odd, unprivileged", as_nobody([*archcalc, "check", str(tree / "unlistable" / "in.yaml")]))]
    for label, argv in runs:
        ran = launch(argv, env)
        last = (ran.out.strip().splitlines() or ran.err.strip().splitlines() or [""])[-1]
        shown = " ".join(argv[argv.index(archcalc[-1]) + 1:]).replace(str(folder) + "/", "")
        last = last.replace(str(folder) + "/", "")
        table.add(ran, label, f"`{shown[:70]}`", *timing(ran), verdict(ran), last[:90].replace("`", "'"))
    for path in (tree / "unlistable", tree / "unreadable.yaml"):
        path.chmod(0o700)
    return table


# ── 5. the environment ───────────────────────────────────────────────────────────────────

ENVIRONMENTS = {
    "LC_ALL=C, no UTF-8 coercion": {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
    "PYTHONIOENCODING=ascii": {"PYTHONIOENCODING": "ascii"},
    "PYTHONIOENCODING=latin-1": {"PYTHONIOENCODING": "latin-1"},
    "TERM=dumb": {"TERM": "dumb"},
    "NO_COLOR and FORCE_COLOR": {"NO_COLOR": "1", "FORCE_COLOR": "1"},
    "HOME a file": {"HOME": "{folder}/home-file", "MPLCONFIGDIR": "", "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": ""},
    "HOME unset": {"HOME": None},
    "HOME read-only": {"HOME": "{folder}/read-only", "MPLCONFIGDIR": "", "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": ""},
    "TMPDIR missing": {"TMPDIR": "/nonexistent"},
    "COLUMNS=3": {"COLUMNS": "3"}, "COLUMNS=10²⁰": {"COLUMNS": "1" + "0" * 20}, "COLUMNS=-1": {"COLUMNS": "-1"},
    "COLUMNS=١٢٠ (Arabic digits)": {"COLUMNS": "١٢٠"},
}
COMMANDS = [["table", "resnet50"], ["table", "resnet50", "--format", "markdown"], ["compare", "lenet5", "alexnet"],
            ["explain", "lenet5", "C1"], ["check", "{specs}"], ["diagram", "lenet5", "--format", "mermaid"],
            ["sizes", "lenet5"], ["fit", "lenet5", "--memory", "4GiB"], ["--help"], ["table", "{nasty}"],
            ["plot", "lenet5", "-o", "p.svg"], ["report", "lenet5", "-o", "r.html"], ["diagram", "lenet5", "-o", "d.svg"]]


def environment(folder: Path, env: dict[str, str], archcalc: list[str]) -> Table:
    (folder / "home-file").write_text("", encoding="utf-8")
    (folder / "read-only").mkdir()
    (folder / "read-only").chmod(0o555)
    work, locked = folder / "work", folder / "locked"
    work.mkdir()
    locked.mkdir()
    locked.chmod(0o555)
    nasty = folder / "nasty.yaml"
    nasty.write_text('title: "\\u00e9\\u00d7\\u2014 \\u202e [bold]x"\n' + SPEC, encoding="utf-8")
    specs = str(Path(__file__).resolve().parent.parent / "specs")
    table = Table("5. The environment",
                  f"{len(COMMANDS)} commands in each environment, in a writable working directory; then the "
                  "pictures in a read-only one (as an unprivileged user where root would write anyway). ok: exit "
                  "0, 1 or 2 and one line on stderr at most (the pictures: their `wrote` line).",
                  ("environment", "commands", "worst time", "peak memory", "verdict"))
    for label, changes in ENVIRONMENTS.items():
        child = {**env, **{k: v.format(folder=folder) for k, v in changes.items() if v is not None}}
        for key in (k for k, v in changes.items() if v is None):
            child.pop(key, None)
        failures, worst = [], Ran(0.0, 0, 0, "", "")
        for command in COMMANDS:
            argv = [*archcalc, *(a.format(specs=specs, nasty=nasty) for a in command)]
            ran = launch(as_nobody(argv) if label == "HOME read-only" else argv, child, cwd=str(work))
            worst = max(worst, ran, key=lambda r: r.seconds)
            worst = worst._replace(peak=max(worst.peak, ran.peak))
            judged = verdict(ran)
            if judged != "ok" and not judged.startswith("ok (refused"):
                failures.append(f"{command[0]}: {judged}")
        table.add(worst, label, str(len(COMMANDS)), *timing(worst), "; ".join(failures) or "ok")
    failures, worst = [], Ran(0.0, 0, 0, "", "")
    for command in COMMANDS[-3:]:
        ran = launch(as_nobody([*archcalc, *command]), env, cwd=str(locked))
        worst = max(worst, ran, key=lambda r: r.seconds)
        judged = verdict(ran)
        if ran.code != 1 or "cannot write" not in ran.err:
            failures.append(f"{command[0]}: {judged}, {ran.err.strip()[:60]}")
    table.add(worst, "working directory read-only", "3 (`-o` into it)", *timing(worst), "; ".join(failures) or
              "ok (refused, exit 1: cannot write …: Permission denied)")
    return table


# ── 6. ONNX files (untrusted like a spec) ───────────────────────────────────────────────
# Built with onnx's own helper: truncated and garbage protobufs, dimensions past every limit, 100,000 nodes and
# one more, external data that leaves the folder, nested control flow, an opset and IR version from the future.

def _small(dims=(1, 3, 32, 32), name="x"):
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    fcw = numpy_helper.from_array(np.zeros((10, 8 * 30 * 30), np.float32), "fcw")
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    nodes = [helper.make_node("Conv", [name, "w"], ["c"], kernel_shape=[3, 3], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fcw"], ["y"], transB=1, name="fc")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, fcw, shape])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

def _chain(n):
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i+1}"], name=f"r{i}") for i in range(n)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

def _external(location):
    m = _small()
    t = m.graph.initializer[0]
    t.ClearField("raw_data"); t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(8 * 27 * 4))):
        e = t.external_data.add(); e.key, e.value = k, v
    return m

def _nested_if(depth):
    body = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "b", [],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    leaf = body
    for _ in range(depth):  # the else branch a leaf: the file grows with the depth, not twice per level
        node = helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=leaf)
        body = helper.make_graph([node], "b", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    g = helper.make_graph(body.node, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
                                            helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

def _huge_weight(dims):
    m = _small()
    t = m.graph.initializer[1]
    t.ClearField("raw_data"); t.ClearField("float_data")
    del t.dims[:]; t.dims.extend(dims)
    return m

def onnx_files(folder: Path) -> dict[str, Path]:
    """The hostile files, and two at the limits: 100,000 nodes, 512 MiB of weights."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    def put(name, data):
        files[name] = folder / f"{name}.onnx"
        files[name].write_bytes(data if isinstance(data, bytes) else data.SerializeToString())
    good = _small().SerializeToString()
    put("valid", good)
    put("truncated-half", good[: len(good) // 2])
    put("truncated-1-byte", good[:-1])
    put("garbage-1MiB", os.urandom(2**20))
    put("zeros-16MiB", bytes(16 * 2**20))
    put("empty", b"")
    put("spec-yaml-as-onnx", b"input: [3, 8, 8]\nlayers: [relu: ]\n")
    put("dims-1e12", _small((1, 3, 10**12, 10**12)))
    put("dims-2pow62", _small((1, 3, 2**62, 1)))
    put("dims-negative", _small((1, 3, -5, 32)))
    put("dims-zero", _small((1, 3, 0, 32)))
    put("dims-rank-100", _small((1,) * 100))
    put("dim-param-markup", _small((1, 3, "<script>\x1b[31m", "N")))
    put("input-name-escape", _small(name="x\x1b]0;pwned\x07"))
    put("weight-dims-1e9x1e9", _huge_weight([10**9, 10**9]))
    put("weight-dims-rank-64", _huge_weight([2] * 64))
    put("chain-5000", _chain(5000))
    put("chain-100000", _chain(100_000))
    put("chain-100001", _chain(100_001))
    put("external-parent", _external("../../../../etc/passwd"))
    put("external-absolute", _external("/etc/passwd"))
    put("external-dev-zero", _external("/dev/zero"))
    put("external-beside", _external("weights.bin"))
    (folder / "weights.bin").write_bytes(bytes(8 * 27 * 4))
    put("nested-if-30", _nested_if(30))
    m = _small(); m.opset_import[0].version = 10**6
    put("opset-1e6", m)
    m = _small(); m.ir_version = 2**40
    put("ir-version-2pow40", m)
    heavy = _small()
    heavy.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.zeros((4, 2**25), np.float32), "fcw"))
    put("weights-512MiB", heavy)
    return files



def onnx_class(folder: Path, env: dict[str, str], archcalc: list[str]) -> Table | None:
    if importlib.util.find_spec("onnx") is None:
        return None
    # Written by a child: this process stays small, since each child's peak counts its parent's when it starts.
    written = subprocess.run([sys.executable, __file__, "--onnx-files", str(folder / "onnx")], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
    files = {name: folder / "onnx" / f"{name}.onnx" for name in written}
    table = Table("6. ONNX files",
                  "Each file through `table FILE` and `table FILE --format json --memory`. ok as above; the limits "
                  "of the threat model are 2 s and 256 MiB.", ("file", "bytes", "command", "time", "peak memory",
                                                               "verdict"))
    for name, path in files.items():
        for extra in ([], ["--format", "json", "--memory"]):
            ran = launch([*archcalc, "table", str(path), *extra], env, timeout=300)
            judged = verdict(ran)
            over = [f"past {TARGET_S:g} s"] * (ran.seconds > TARGET_S) + ["past 256 MiB"] * (ran.peak > 256 * 2**20)
            table.add(ran, name, f"{path.stat().st_size:,}", "`table FILE" + (" --format json --memory`" if extra else "`"),
                      *timing(ran), judged + (f" ({', '.join(over)})" if over else ""))
        print(name, file=sys.stderr)
    return table


# What the round found: each fixed at its root with a test that failed before (named), or, where it is another
# part's, said to it. Words, not figures: the figures are the tables'.
FINDINGS = [
    "Graphviz read a title's entities (`&lt;b&gt;` drawn as `<b>`) and kept an unknown one (`&nbsp;`, `&foo;`) in "
    "its SVG, which then was not XML: `&` is escaped for DOT (diagram.py; "
    "test_graphviz_shows_a_title_of_entities_and_escapes_as_written).",
    "`--at N=224,N=32`: the last size won, in silence; refused (sizes.py; test_symbolic_usage_errors).",
    "The API leaked Python's own errors: `load(42)` (TypeError), `checkpoint='sometimes'` or `2.5` (TypeError), "
    "`Builder(name=5)` (AttributeError), `train_parts(2, 'zero3')` (ValueError), a 5,000-digit integer in a message "
    "(Python's int-to-text ValueError); and took `checkpoint=-3` and `train_parts(-1)` in silence. Each is an "
    "ArchcalcError with the command line's message; an unknown name is clipped and escaped (api.py, segments.py, "
    "states.py, builder.py, safe.py, catalog.py; test_the_api_refuses_hostile_values_with_an_archcalc_error).",
    "`check` of a spec whose file name is longer than 100 characters reported its `name` (the default, from the "
    "file); a given path that cannot be looked at (Permission denied, Not a directory) was 'no such file' "
    "(expand.py, check.py; test_devices_sparse_files_and_long_names_in_a_tree, "
    "test_a_given_path_that_cannot_be_looked_at_says_why).",
    "`plot` and `report` under a read-only, unset or file home wrote matplotlib's two log lines about its config "
    "directory to stderr (plot.py; test_pictures_in_a_home_where_nothing_can_be_made_write_one_line).",
    "Not fixed here, another part's: a symbolic analysis reaches its work budget only after seconds when its "
    "formulas nest (upsampling against pooling: the message of each inexact division is formatted eagerly, and "
    "the text of nested floors is formatted again at every level); the symbolic speed work owns symbolic.py.",
    "Not fixed here, ONNX's: 100,000 nodes (the limit) take seconds and hundreds of MiB; a file within the 2 GiB "
    "limit is held twice in memory; an opset or IR version from the future is read in silence; a Gemm weight whose "
    "declared shape disagrees with its input is priced from the input.",
]


# ── the section ──────────────────────────────────────────────────────────────────────────


def section(env: dict[str, str], archcalc: list[str]) -> list[str]:
    lines = [f"{MARK} (issue 19): what is new since, attacked", "",
             f"Written by `python benchmarks/hostile.py` on {time.strftime('%Y-%m-%d')}, load average at start "
             f"{os.getloadavg()[0]:.2f} (2 CPUs shared: times are upper bounds). Each case is one run: wall time "
             "and the peak resident memory of the process, which the kernel counts from the benchmark's own "
             f"({resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.1f} MiB here) when it starts.", ""]
    tables = []
    with tempfile.TemporaryDirectory() as place:
        folder = Path(place)
        for part in (lambda: markup(folder, env, archcalc), lambda: symbolic(folder, env, archcalc),
                     lambda: api(env), lambda: check_trees(folder, env, archcalc),
                     lambda: environment(folder, env, archcalc), lambda: onnx_class(folder, env, archcalc)):
            table = part()
            if table is not None:  # the ONNX class needs onnx installed
                tables.append(table)
                lines += table.close()
    return [*lines, "### What this round found", "", *(f"- {finding}" for finding in FINDINGS), "",
            "### Round 3 in one table", "",
            row("class", "cases", "worst time", "worst memory", "failures", f"past {TARGET_S:g} s"),
            "|---|---:|---:|---:|---:|---:|", *(table.summary() for table in tables), ""]


def rewrite(out: Path, lines: list[str]) -> None:
    """`out` with its round-3 section (from MARK to the end) replaced by `lines`."""
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    kept = text[: text.index(MARK)] if MARK in text else text.rstrip("\n") + "\n\n"
    out.write_text(kept + "\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__" and sys.argv[1:2] == ["--onnx-files"]:
    import numpy as np  # noqa: F811 (the module's names, made real in this child)
    from onnx import TensorProto, helper, numpy_helper  # noqa: F811
    print("\n".join(onnx_files(Path(sys.argv[2]))))
