"""Specs and command lines from strangers: bounded cost, clean output, no leaks, no traceback (issue 9).

`archcalc check` runs on the specs of pull requests. One section per class
of what a hostile contributor tried (the corpus of refused files is
tests/hostile/, held by test_hostile.py; the torch backend's gate is
test_torch_capacity.py): work counted where it multiplies, spec text that
never acts on a terminal or a CI log, symbolic links that leak nothing,
names that mean one network, numbers that are bounded usage errors, output
errors with a clear status, numbers nobody meant. Nothing here times
anything: costs are counted, or refused by a limit.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archcalc import ArchcalcError, analyze, expand, expr, load, sizes, symbolic
from archcalc.catalog import bundled
from archcalc.check import check_paths
from archcalc.source import load_text
from conftest import REPO, module_or_fail, tool_or_fail

HOSTILE = REPO / "tests" / "hostile"


def network(text: str, name: str = "net.yaml"):
    return expand.build(load_text(text, name), name, "net")


def process(*args: str, cwd: Path, env: dict[str, str] | None = None, **options) -> subprocess.CompletedProcess:
    """`archcalc ARGS…` as a separate process (python -m archcalc, this checkout first on the path)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "archcalc", *args], cwd=cwd, env=environment, timeout=120,
                          **{"capture_output": True, **options})


# ── 1. cost bounded by what the file can ask for ─────────────────────────────────────────


def test_late_arguments_are_evaluated_once_each(monkeypatch):
    """24 blocks each pass two arguments made of both of theirs: 2²⁴ evaluations if each use evaluates
    again what it uses. Counted, not timed: more than a thousand evaluations fails at once."""
    calls = []
    evaluate = expr.evaluate

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1_000:
            raise AssertionError("late arguments evaluated again and again")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(expr, "evaluate", counted)
    report = analyze(load(str(HOSTILE / "late-argument-chain.yaml")))
    assert report.rows[0].output == (3 * 2**23, 8, 8)  # x = y = 3 (in_channels), doubled by each of 23 blocks
    assert len(calls) <= 2 * 24 + 10


def test_connections_are_counted_where_from_lists_multiply():
    names = ", ".join(["a"] * 1000)
    within = f"input: [1, 1, 1]\nlayers:\n  - relu: {{name: a}}\n  - concat: {{from: [{names}]}}\n    repeat: 1\n"
    assert len(network(within).layers[-1].inputs) == 1000
    repeated = ("input: [1, 1, 1]\nblocks:\n  fan:\n    layers:\n      - concat: {from: [" + names + "]}\n"
                "layers:\n  - relu: {name: a}\n  - fan:\n    repeat: 100\n")
    with pytest.raises(ArchcalcError, match=f"more than {expand.MAX_EDGES:,} connections"):
        network(repeated)


def test_the_largest_network_the_limits_allow_is_answered_with_bounded_output(cli):
    """5,000 layers, 20,000 connections and names of nearly 200 characters: every figure of its JSON
    is there, and the text stays some megabytes (about two kilobytes a layer, and a name per connection)."""
    spec = str(HOSTILE / "at-every-limit.yaml")
    net = load(spec)
    assert len(net.layers) == expand.MAX_LAYERS
    assert sum(len(layer.inputs) for layer in net.layers) == expand.MAX_EDGES
    assert max(len(layer.name) for layer in net.layers) == 190 <= expand.MAX_NAME
    ran = cli("table", spec, "--format", "json", "--memory")
    assert ran.code == 0, ran.err
    assert len(json.loads(ran.out)["layers"]) == expand.MAX_LAYERS
    assert len(ran.out.encode()) < 2048 * expand.MAX_LAYERS + (expand.MAX_NAME + 8) * expand.MAX_EDGES


def test_symbolic_analysis_is_bounded_by_its_work(monkeypatch):
    """Formulas in H and W grow with the network: past a budget of terms the analysis is refused."""
    chain = network("input: [3, 64, 64]\nlayers:\n  - avgpool: {k: 2, s: 1}\n    repeat: 4999\n")
    h, w = symbolic.Expr.var("H"), symbolic.Expr.var("W")
    monkeypatch.setattr(symbolic, "MAX_WORK", 20_000)
    with pytest.raises(symbolic.TooComplex, match="past 20,000 terms"):
        analyze(chain, input_shape=(3, h, w))
    monkeypatch.setattr(symbolic, "MAX_WORK", 300_000)
    assert analyze(load("resnet1202"), input_shape=(3, h, w)).rows[-1].output == (10,)  # the largest bundled fits


def test_a_formula_that_nests_every_earlier_size_is_refused_by_its_size(cli, tmp_path):
    """Upsampling against pooling makes each size a floor of all the earlier ones: written out, a formula
    doubles with every pair of layers, and so do hashing and walking it. Past MAX_SIZE nodes the analysis
    is refused in one line, in bounded time (it took minutes, inside the budget of terms)."""
    spec = tmp_path / "upsample-against-pool.yaml"
    spec.write_text("input: [1, 64, 64]\nlayers:\n" + "  - upsample: {scale: 3}\n  - avgpool: {k: 2, s: 2}\n" * 200)
    started = time.process_time()
    ran = cli("table", str(spec), "--input", "1xNxN")
    assert ran.code == 1 and ran.err.count("\n") == 1, ran.err
    assert f"grows past {symbolic.MAX_SIZE:,} nodes" in ran.err
    assert time.process_time() - started < 5
    n = symbolic.Expr.var("N")
    for name in ("unet", "densenet121", "googlenet-aux"):  # the bundled specs with the largest formulas
        analyze(load(name), input_shape=(load(name).input[0], n, n))


def test_sizes_does_not_read_a_period_too_long():
    """Forty stride-2 layers: exactness repeats every 2⁴⁰ sizes, which no search reads through: the rule
    says so, at once, rather than list residues."""
    n = symbolic.Expr.var("N")
    report = analyze(network("input: [3, 64, 64]\nlayers:\n  - avgpool: {k: 2, s: 2, ceil: true}\n    repeat: 40\n"),
                     input_shape=(3, n, n))
    found = sizes.sizes(report)
    assert (found.period, found.residues) == (None, ())
    assert f"beyond {sizes.MAX_PERIOD:,}" in found.rule()


def test_sizes_finds_a_large_smallest_size_by_search():
    n = symbolic.Expr.var("N")
    report = analyze(network("input: [3, 64, 64]\nlayers:\n  - conv: {out: 4, k: 60000}\n"), input_shape=(3, n, n))
    assert sizes.sizes(report, 1, 8).smallest == 60000


# ── 2. spec text never controls the reader's terminal or the CI log ──────────────────────

NASTY = """name: "::add-mask::secret"
title: "[link=https://evil.example]click[/link] ##[error]x |pipe| [/bold] :warning:"
source: "=HYPERLINK(\\"https://evil.example\\") | ##[add-mask]x"
input: [3, 8, 8]
layers:
  - conv: {out: 4, k: 3}
  - relu:
budget: {params: 10}
"""
ESCAPE_IN_FILE_NAME = "::net\x1b]8;;https:\\evil.example\x07x\x1b[2J\n::add-mask::y.yaml"


def assert_safe(text: str, annotations: bool = False) -> None:
    """No character that acts on a terminal, nothing a GitHub runner reads as a command, valid UTF-8."""
    text.encode("utf-8")
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)
        assert "##[" not in line, line
        if not (annotations and line.startswith("::error file=")):
            assert not line.lstrip().startswith(":"), line


@pytest.mark.parametrize("args", [
    ["table", "{spec}"], ["table", "{spec}", "--format", "json"], ["table", "{spec}", "--format", "csv"],
    ["table", "{spec}", "--format", "markdown", "--memory"], ["table", "{spec}", "--formulas"],
    ["compare", "{spec}", "{spec}"], ["compare", "{spec}", "lenet5", "--format", "markdown"],
    ["compare", "{spec}", "lenet5", "--format", "csv"], ["compare", "{spec}", "lenet5", "--format", "json"],
    ["explain", "{spec}", "conv1"], ["fit", "{spec}", "--memory", "1GiB"],
    ["check", "{spec}"], ["check", "{spec}", "--format", "github"], ["check", "{spec}", "--format", "json"],
    ["table", "{odd}"], ["check", "{odd}", "--format", "github"], ["check", "{odd}", "--format", "json"],
    ["explain", "{odd}", "nothing\x1b[31m"], ["table", "::add-mask::x\x1b[31m"],
    ["table", "{spec}", "--input", "3xNxN"], ["table", "{spec}", "--input", "3xHxW", "--format", "json"],
    ["table", "{spec}", "--input", "3xNxN", "--at", "N=16", "--format", "markdown"],
    ["explain", "{spec}", "conv1", "--input", "3xNxN"], ["sizes", "{spec}"], ["sizes", "{spec}", "--format", "json"],
    ["fit", "{spec}", "--memory", "2GiB", "--train", "--precision", "amp-bf16", "--format", "json"],
    ["fit", "{spec}", "--memory", "2GiB", "--batch", "2", "--solve", "input"],
    ["compare", "{spec}", "{spec}", "--precision", "fp32,amp-bf16"],
    ["compare", "{spec}", "{spec}", "--precision", "fp32,bf16", "--format", "markdown"],
    ["diagram", "{spec}"], ["diagram", "{spec}", "--format", "mermaid"], ["diagram", "{odd}"],
])
def test_every_format_escapes_spec_text(cli, tmp_path, args):
    spec = tmp_path / "nasty.yaml"
    spec.write_text(NASTY, encoding="utf-8")
    odd = tmp_path / ESCAPE_IN_FILE_NAME
    odd.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n  - fc: 0\n", encoding="utf-8")
    ran = cli(*(a.format(spec=spec, odd=odd) for a in args))
    assert ran.code in (0, 1), ran.err
    assert_safe(ran.out, annotations="github" in args)
    assert_safe(ran.err)
    assert "internal error" not in ran.err
    if "json" in args:
        json.loads(ran.out)
    if "markdown" in args:  # `|` in a name never ends a cell: every row has the header's cells
        rows = [line for line in ran.out.splitlines() if line.startswith("|")]
        assert len({line.replace("\\|", "").count("|") for line in rows}) == 1


MARKUP = r"""title: '$\frac{1}{0}$ <script>alert(1)</script> [bold]x[/bold] & "q" #35;'
input: [3, 8, 8]
layers:
  - conv: {out: 4, k: 3}
  - fc: {out: 2}
"""


def test_diagrams_quote_spec_text_as_text(cli, tmp_path):
    """DOT and Mermaid labels: a title cannot close its quotes, start HTML or a Mermaid entity."""
    spec = tmp_path / "markup.yaml"
    spec.write_text(MARKUP, encoding="utf-8")
    dot = cli("diagram", str(spec)).out
    assert r'label="$\\frac{1}{0}$ <script>alert(1)</script> [bold]x[/bold] &amp; \"q\" #35;: ' in dot
    mermaid = cli("diagram", str(spec), "--format", "mermaid").out
    assert "<script" not in mermaid and "[bold]" not in mermaid.replace("#91;", "[")  # nothing that renders
    assert dot.count("{") == dot.count("}") and all(line.count('"') % 2 == 0 for line in dot.splitlines())


ENTITIES = r"&lt;b&gt; &amp; &nbsp; &foo; &#60;x&#62; \N \G \l {a|b} <p>"


def test_graphviz_shows_a_title_of_entities_and_escapes_as_written(cli, tmp_path):
    """Graphviz reads entities in a label (`&lt;` drawn as `<`) and keeps an unknown one, which breaks
    its SVG as XML: the drawn SVG is well-formed, and its text is the title, character for character."""
    from xml.etree import ElementTree

    tool_or_fail("dot", "apt-get install graphviz")
    spec = tmp_path / "entities.yaml"
    spec.write_text(f"title: '{ENTITIES}'\ninput: [3, 8, 8]\nlayers:\n  - conv: {{out: 4, k: 3}}\n", encoding="utf-8")
    ran = cli("diagram", str(spec), "-o", str(tmp_path / "d.svg"))
    assert ran.code == 0, ran.err
    texts = [t.text for t in ElementTree.parse(tmp_path / "d.svg").iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == f"{ENTITIES}: 112 parameters, 3,888 MACs"


def test_pictures_and_the_html_report_show_spec_text_as_text(cli, tmp_path):
    """The HTML report escapes every spec text; a plot's title is text, never mathtext (`$…$`) or markup."""
    module_or_fail("matplotlib", "pip install -e '.[plot]'")
    spec = tmp_path / "markup.yaml"
    spec.write_text(MARKUP, encoding="utf-8")
    ran = cli("report", str(spec), "-o", str(tmp_path / "r.html"))
    assert ran.code == 0, ran.err
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    ran = cli("plot", str(spec), "-o", str(tmp_path / "p.svg"))
    assert ran.code == 0, ran.err
    svg = (tmp_path / "p.svg").read_text(encoding="utf-8")
    assert "<script>" not in svg and r"$\frac{1}{0}$ &lt;script&gt;" in svg  # written as it is, not typeset


@pytest.mark.parametrize("args, message", [
    (["plot", "{sym}", "-o", "{tmp}/p.svg"], "error: plot needs a concrete input; "),
    (["report", "{sym}", "-o", "{tmp}/r.html"], "error: report needs a concrete input; "),
    (["report", "lenet5", "-o", "{tmp}/no/such/dir/r.html"], "error: cannot write {tmp}/no/such/dir/r.html: "),
    (["diagram", "lenet5", "-o", "{tmp}/no/such/dir/d.dot"], "error: cannot write {tmp}/no/such/dir/d.dot: "),
])
def test_pictures_refuse_in_one_line(cli, tmp_path, args, message):
    sym = tmp_path / "sym.yaml"
    sym.write_text("input: [3, H, W]\nlayers:\n  - conv: {out: 4, k: 3}\n", encoding="utf-8")
    ran = cli(*(a.format(sym=sym, tmp=tmp_path) for a in args))
    assert ran.code == 1 and ran.err.startswith(message.format(tmp=tmp_path)) and ran.err.count("\n") == 1, ran.err


def test_a_csv_cell_is_never_a_spreadsheet_formula(cli, tmp_path):
    spec = tmp_path / "formula.yaml"
    spec.write_text('name: "=cmd|\' /C calc\'!A0"\ninput: [3, 8, 8]\nlayers:\n  - relu:\n', encoding="utf-8")
    header = cli("compare", str(spec), "lenet5", "--format", "csv").out.splitlines()[0]
    assert header.split(",")[1].startswith("'=")


def test_a_file_name_that_is_not_utf8_is_escaped_and_json_stays_utf8(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"bad\xff\x1b[31m.yaml"), "w", encoding="utf-8") as spec:
        spec.write("input: [3, 8, 8]\nlayers:\n  - fc: 0\n")
    for fmt in ("text", "github", "json"):
        ran = process("check", "specs", "--format", fmt, cwd=tmp_path)
        assert ran.returncode == 1, ran.stderr
        out = ran.stdout.decode("utf-8")  # strict: valid UTF-8
        assert_safe(out, annotations=fmt == "github")
        if fmt == "json":
            assert json.loads(out)[0]["file"] == "specs/bad\\xff\\x1b[31m.yaml"
        else:
            assert "specs/bad\\xff\\x1b[31m.yaml:3:5: " in out or "file=specs/bad\\xff\\x1b[31m.yaml,line=3" in out


def test_rich_markup_in_spec_text_is_never_interpreted(tmp_path):
    """In a terminal (a real pseudo-terminal) rich draws the table: the title is shown as written."""
    spec = tmp_path / "nasty.yaml"
    spec.write_text(NASTY, encoding="utf-8")
    for args in (["table", "nasty.yaml"], ["compare", "nasty.yaml", "nasty.yaml"], ["explain", "nasty.yaml", "conv1"]):
        shown = terminal_output(args, tmp_path)
        assert "\x1b]8;" not in shown and "evil.example" not in shown.replace("[link=https://evil.example]", "")
        if args[0] == "table":
            assert "[link=https://evil.example]click[/link]" in shown and "[/bold]" in shown


def terminal_output(args: list[str], cwd: Path) -> str:
    """What `archcalc ARGS…` writes to a terminal: its stdout is a pseudo-terminal."""
    main, child = pty.openpty()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   "COLUMNS": "200", "TERM": "xterm-256color"}
    environment.pop("NO_COLOR", None)
    running = subprocess.Popen([sys.executable, "-m", "archcalc", *args], cwd=cwd, env=environment, stdout=child,
                               stderr=subprocess.PIPE)
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    running.wait(60)
    os.close(main)
    assert running.returncode == 0, running.stderr.read()
    return b"".join(chunks).decode("utf-8")


# ── 3. nothing outside the checked spec leaks ────────────────────────────────────────────


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A checked folder of the links and files a pull request can hold; a secret outside the working directory."""
    secret = tmp_path / "secret.yaml"
    secret.write_text("input: [3, 8, 8]\nlayers: [relu: ]\ntoken: hunter2-do-not-print\n", encoding="utf-8")
    repository = tmp_path / "repository"
    specs = repository / "specs"
    (specs / "sub").mkdir(parents=True)
    (specs / "ok.yaml").write_text("input: [3, 8, 8]\nlayers: [relu: ]\n", encoding="utf-8")
    links = {"leaves.yaml": secret, "etc.yaml": Path("/etc"), "dangling.yaml": specs / "nowhere",
             "loop.yaml": specs / "loop.yaml", "inside.yaml": specs / "ok.yaml", "sub/up.yml": specs / "ok.yaml",
             "outside-dir": tmp_path}
    for name, target in links.items():
        (specs / name).symlink_to(target)
    os.mkfifo(specs / "fifo.yaml")
    monkeypatch.chdir(repository)
    return specs


def test_links_leaving_the_tree_dangling_looping_and_fifos_are_findings_never_read(tree, cli):
    ran = cli("check", "specs", "--format", "json")
    assert ran.code == 1
    assert "hunter2" not in ran.out and "root:" not in ran.out
    found = {Path(f["file"]).relative_to("specs").as_posix(): (f["kind"], f["message"]) for f in json.loads(ran.out)}
    assert found == {
        "leaves.yaml": ("file", "symbolic link to a file outside the checked directory; not followed"),
        "etc.yaml": ("file", "symbolic link to a directory outside the checked directory; not followed"),
        "outside-dir": ("file", "symbolic link to a directory outside the checked directory; not followed"),
        "dangling.yaml": ("file", "symbolic link that leads nowhere (dangling); not read"),
        "loop.yaml": ("file", "symbolic link that loops; not read"),
        "fifo.yaml": ("file", "not a regular file (a FIFO); not read"),
    }
    text = cli("check", "specs")
    assert text.out.splitlines()[-1] == "9 specs, 6 findings"  # ok, inside and sub/up are checked, and clean


def test_a_link_given_itself_is_held_to_the_working_directory(tree, cli):
    ran = cli("check", "specs/leaves.yaml", "specs/inside.yaml", "specs/dangling.yaml")
    assert ran.out.splitlines() == [
        "specs/leaves.yaml:1:1: symbolic link to a file outside the checked directory; not followed",
        "specs/dangling.yaml:1:1: symbolic link that leads nowhere (dangling); not read",
        "3 specs, 2 findings",
    ]


def test_a_checked_directory_that_is_a_link_out_of_the_working_directory_is_not_searched(tree, cli):
    (tree / "sub" / "all").symlink_to("/")
    ran = cli("check", "specs/sub/all")
    assert ran.out.splitlines() == ["specs/sub/all:1:1: symbolic link to a file outside the checked directory; "
                                    "not followed", "1 spec, 1 finding"]


def test_a_quoted_excerpt_is_short_and_from_the_spec(tmp_path, cli):
    spec = tmp_path / "long.yaml"
    spec.write_text("x" * 5000 + "\n", encoding="utf-8")
    ran = cli("check", str(spec))
    assert ran.code == 1 and len(ran.out.splitlines()[0]) < len(str(spec)) + 200


def test_table_never_blocks_on_a_fifo(tmp_path, cli):
    os.mkfifo(tmp_path / "fifo.yaml")
    ran = cli("table", str(tmp_path / "fifo.yaml"))
    assert (ran.code, ran.err) == (1, f"error: {tmp_path / 'fifo.yaml'}: not a regular file\n")


def test_devices_sparse_files_and_long_names_in_a_tree(tmp_path, monkeypatch, cli):
    """A link to /dev/zero is not followed, a sparse file of 1 GiB is refused by its size before a byte is read,
    and a spec whose file name is longer than a `name:` may be (250 characters) is checked as any other."""
    monkeypatch.chdir(tmp_path)
    tree = tmp_path / "specs"
    tree.mkdir()
    (tree / "zero.yaml").symlink_to("/dev/zero")
    with open(tree / "sparse.yaml", "wb") as sparse:
        sparse.truncate(2**30)
    long = "l" * 250 + ".yaml"
    (tree / long).write_text("input: [3, 8, 8]\nlayers:\n  - fc: 0\n", encoding="utf-8")
    ran = cli("check", "specs")
    assert ran.out.splitlines() == [
        f"specs/{long}:3:5: layers[0].fc: expected an integer ≥ 1 for 'out'; received out=0",
        "specs/sparse.yaml:1:1: file is larger than 131,072 bytes, the limit for a spec",
        "specs/zero.yaml:1:1: symbolic link to a file outside the checked directory; not followed",
        "3 specs, 3 findings",
    ]


def test_a_given_path_that_cannot_be_looked_at_says_why(tmp_path, cli):
    (tmp_path / "ok.yaml").write_text("input: [3, 8, 8]\nlayers: [relu: ]\n", encoding="utf-8")
    for given, why in (("ok.yaml/x", "cannot read: Not a directory"), ("nowhere.yaml", "no such file or directory")):
        ran = cli("check", str(tmp_path / given))
        assert (ran.code, ran.err) == (2, f"error: {tmp_path / given}: {why}\n")


def test_pictures_in_a_home_where_nothing_can_be_made_write_one_line(tmp_path):
    """HOME a file, so that matplotlib cannot make its config directory (not even as root): its notes about
    that, and about the temporary one it makes, do not reach stderr; the pictures are written."""
    module_or_fail("matplotlib", "pip install -e '.[plot]'")
    home = tmp_path / "home-is-a-file"
    home.write_text("", encoding="utf-8")
    env = {"HOME": str(home), "MPLCONFIGDIR": "", "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": ""}
    for args in (["plot", "lenet5", "-o", "p.svg"], ["report", "lenet5", "-o", "r.html"]):
        ran = process(*args, cwd=tmp_path, env=env)
        assert (ran.returncode, ran.stderr.decode()) == (0, f"wrote {args[-1]}\n")


@pytest.mark.parametrize("env", [{"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
                                 {"PYTHONIOENCODING": "ascii"}, {"TERM": "dumb", "COLUMNS": "3"}],
                         ids=["c-locale", "ascii", "dumb-terminal"])
def test_an_output_that_cannot_hold_the_text_still_gets_it(tmp_path, env):
    """×, — and a title's é where the output's encoding has none: written as escapes, never an encoding error."""
    spec = tmp_path / "accents.yaml"
    spec.write_text("title: 'réseau × 2 — ok'\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n", encoding="utf-8")
    for args in (["table", "accents.yaml"], ["check", "accents.yaml"], ["explain", "accents.yaml", "conv1"]):
        ran = process(*args, cwd=tmp_path, env=env)
        assert (ran.returncode, ran.stderr) == (0, b""), ran.stderr
    assert "r\\xe9seau \\xd7 2 \\u2014 ok" in process("table", "accents.yaml", cwd=tmp_path,
                                                          env={"PYTHONIOENCODING": "ascii"}).stdout.decode("ascii")


# ── 4. which network a name means ────────────────────────────────────────────────────────

IMPOSTOR = "name: impostor\ninput: [3, 8, 8]\nlayers: [relu: ]\n"


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_bundled_name_is_never_replaced_by_the_working_directory(tmp_path, monkeypatch, cli, kind):
    monkeypatch.chdir(tmp_path)
    if kind == "file":
        (tmp_path / "resnet50").write_text(IMPOSTOR, encoding="utf-8")
    else:
        (tmp_path / "resnet50").mkdir()
    ran = cli("compare", "resnet50", "lenet5", "--format", "json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["networks"][0]["totals"]["params"] == 25_557_032
    assert ran.err == ("note: 'resnet50' is the bundled network; ./resnet50 in this directory is not read "
                       "(write ./resnet50 for it)\n")
    if kind == "file":
        assert json.loads(cli("table", "./resnet50", "--format", "json").out)["name"] == "impostor"


def test_a_path_looks_like_one(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").write_text(IMPOSTOR, encoding="utf-8")
    ran = cli("table", "mine")
    assert (ran.code, ran.err) == (1, "error: unknown network 'mine' (see `archcalc list`, or give a path to a .yaml "
                                      "spec) (a file of this name is read as ./mine)\n")
    assert cli("table", "./mine").code == 0
    assert cli("table", "lenet5").err == ""  # nothing of that name here: nothing to say


# ── 5. every number a user types is bounded and a usage error ───────────────────────────

HUGE = "9" * 300


@pytest.mark.parametrize("args", [
    ["table", "lenet5", "--batch", HUGE], ["table", "lenet5", "--batch", "1e9"], ["table", "lenet5", "--batch", "-1"],
    ["table", "lenet5", "--batch", "1000000001"], ["table", "lenet5", "--batch", "١٢"],
    ["table", "lenet5", "--input", "3x" + "9" * 5000 + "x1"], ["table", "lenet5", "--input", "1x1x1x1x1"],
    ["table", "lenet5", "--depth", "10" * 50], ["table", "lenet5", "--depth", "0"],
    ["fit", "lenet5", "--memory", HUGE], ["fit", "lenet5", "--memory", "1e999"], ["fit", "lenet5", "--memory", "-5GiB"],
    ["fit", "lenet5", "--memory", "2EiB"], ["fit", "lenet5", "--memory", "1152921504606846977"],
    ["check", "specs", "--max-params", HUGE], ["check", "specs", "--max-train-memory", "1e400"],
    ["check", "specs", "--max-macs", "9" * 19 + "T"], ["check", "specs", "--batch", HUGE],
    ["bench", "lenet5", "--threads", "100000"], ["bench", "lenet5", "--runs", "1e9"],
    ["bench", "lenet5", "--runs", "1000000000"], ["bench", "lenet5", "--warmup", HUGE], ["bench", "lenet5", "--batch", "0"],
    ["verify", "lenet5", "--real-limit", HUGE], ["verify", "lenet5", "--batch", "0"],
    ["verify", "lenet5", *[f"--batch={b}" for b in range(1, 11)]],
])
def test_a_number_out_of_bounds_is_a_one_line_usage_error(cli, args):
    ran = cli(*args)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.startswith("error: ") and ran.err.count("\n") == 1, ran.err
    assert "internal error" not in ran.err and len(ran.err) < 400


@pytest.mark.parametrize("name", ["a" * 300, "a" * 300 + ".yaml", "dir/" + "a" * 5000])
def test_a_name_too_long_for_the_file_system_is_one_line(cli, name):
    ran = cli("table", name)
    assert ran.code == 1 and ran.err.count("\n") == 1 and "internal error" not in ran.err, ran.err


@pytest.mark.parametrize("text", ["16G", "16GiB", "17179869184", "16 GiB", "16gib"])
def test_sizes_take_the_same_forms_everywhere(cli, text):
    fit = cli("fit", "lenet5", "--memory", text)
    assert fit.code == 0 and "fits 16.0 GiB" in fit.out
    assert cli("check", str(REPO / "specs" / "lenet5.yaml"), "--max-inference-memory", text).code == 0


def test_fit_never_says_a_batch_past_its_limit_fits(cli):
    ran = cli("fit", "lenet5", "--memory", str(2**60))
    assert ran.code == 0
    assert "batch 1,000,000,000 fits" in ran.out and "1,000,000,001" not in ran.out


# ── 6. output errors ─────────────────────────────────────────────────────────────────────


def test_a_reader_that_has_gone_ends_it_quietly(tmp_path):
    """`archcalc … | head -1`: the reader has stopped (here, before the first write: a pipe whose read
    end is closed), so writing fails with EPIPE; exit 141, as a shell reports SIGPIPE, and no message."""
    for args, status in ((["table", "resnet50", "--format", "json"], 141), (["check", str(HOSTILE)], 141)):
        read, write = os.pipe()
        os.close(read)
        ran = process(*args, cwd=tmp_path, stdout=write, stderr=subprocess.PIPE, capture_output=False)
        os.close(write)
        assert (ran.returncode, ran.stderr) == (status, b"")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_is_one_line_and_status_74(tmp_path):
    with open("/dev/full", "w") as full:
        ran = process("table", "resnet50", "--format", "json", cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                      capture_output=False)
    assert ran.returncode == 74
    assert ran.stderr.decode() == "error: cannot write the output: No space left on device\n"


def test_a_closed_stdout_loses_no_error_message(tmp_path):
    closed = {"stdout": None, "stderr": subprocess.PIPE, "capture_output": False, "preexec_fn": lambda: os.close(1)}
    ran = process("table", "lenet5", cwd=tmp_path, **closed)
    assert (ran.returncode, ran.stderr.decode()) == (74, "error: cannot write the output: stdout is closed\n")
    ran = process("table", "nosuch.yaml", cwd=tmp_path, **closed)
    assert (ran.returncode, ran.stderr.decode()) == (1, "error: nosuch.yaml: no such spec file\n")


@pytest.mark.parametrize("columns", ["0", "10000000", "-5", "x"])
def test_any_columns_gives_a_sensible_width(tmp_path, columns):
    for args in (["--help"], ["table", "--help"], ["compare", "lenet5", "alexnet"]):
        ran = process(*args, cwd=tmp_path, env={"COLUMNS": columns})
        assert ran.returncode == 0, ran.stderr
        lines = ran.stdout.decode().splitlines()
        assert len(lines) > 5 and max(map(len, lines)) <= 1000


# ── 7. silent wrong numbers ──────────────────────────────────────────────────────────────


@pytest.mark.parametrize("value, out", [("64", 64), ("07", 7), ("0x40", 64), ("1_000", 1000), ("'064'", 64)])
def test_numbers_read_alike_in_yaml_1_1_and_1_2_are_taken(value, out):
    net = network(f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: {value}, k: 1}}\n")
    assert net.layers[0].args["out"] == out


@pytest.mark.parametrize("value", ["!!timestamp 2001-12-14", "2001-12-14 21:59:43.10-05:00"])
def test_a_date_is_never_an_expression(value):
    with pytest.raises(ArchcalcError, match="a date to YAML"):
        network(f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: {value}, k: 1}}\n")


def test_a_date_is_still_text_where_text_belongs():
    assert network("title: 2001-12-14\ninput: [3, 8, 8]\nlayers: [relu: ]\n").title == "2001-12-14"


def test_the_bundled_specs_still_load(cli):
    assert cli("check", str(REPO / "specs")).out == f"{len(bundled())} specs, 0 findings\n"
    assert check_paths([str(REPO / "specs")]).ok
