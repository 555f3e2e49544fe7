"""Write the generated parts of README.md and docs/*.md from the code, and every example's output.

    python docs/make_docs.py           # rewrite every page whose generated parts are stale
    python docs/make_docs.py --check   # name the stale pages and exit 1, writing nothing

Two kinds of generated text, in pages that are otherwise written by hand:

- a region between `<!-- begin generated NAME -->` and `<!-- end generated NAME -->`,
  made by REGIONS[NAME] from the code: the commands from their declarations
  (archcalc/cli/), the layer kinds from archcalc.rules.RULES, the bundled
  networks by archcalc.analyze, the MAC convention from archcalc/conventions.py;
- every ```console block: each `$ archcalc …` line in it is run (in this
  process, piped, from the repository's root; `| head -N` keeps N lines) and
  its output written below it, paths inside the repository relative to it. A block that must not run is written ```text,
  and the pages of NOT_RUN keep their console blocks as written.

The output is deterministic: the same archcalc writes the same bytes
(tests/test_docs.py regenerates every page in memory and compares).
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # the archcalc beside these docs, not another one installed

import archcalc  # noqa: E402
from archcalc import catalog, conventions, render  # noqa: E402
from archcalc.args import Arg  # noqa: E402
import click  # noqa: E402

from archcalc.cli import commands, run  # noqa: E402
from archcalc.cli.command import paragraphs  # noqa: E402
from archcalc.rules import RULES, Rule  # noqa: E402

REGION = re.compile(r"(<!-- begin generated ([\w-]+) -->\n)(.*?)(<!-- end generated \2 -->)", re.S)
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)
EXAMPLES = ("Examples:", "Example:")  # a docstring paragraph of commands, one per " · "
# Help texts that say something of this machine (bench --threads: at most its CPUs); the page says it in words.
NOT_RUN = {"ci.md"}  # its examples are of a project's own specs (specs/broken.yaml), not this repository's
MACHINE = {f"at most the {os.cpu_count() or 1} CPUs": "at most the machine's CPUs"}


def pages() -> list[Path]:
    """Every page that may hold generated text: README.md and docs/*.md."""
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def fresh(page: Path) -> str:
    """The page as the generator writes it: its regions and its examples made again."""
    text = page.read_text(encoding="utf-8")
    text = REGION.sub(lambda m: m[1] + _region(m[2], page) + m[4], text)
    if page.name in NOT_RUN:
        return text
    return CONSOLE.sub(lambda m: f"```console\n{examples(m[1])}```", text)


def stale() -> dict[Path, str]:
    """The pages whose generated text differs from what is committed, with their fresh text."""
    made = {page: fresh(page) for page in pages()}
    return {page: text for page, text in made.items() if text != page.read_text(encoding="utf-8")}


def _region(name: str, page: Path) -> str:
    if name not in REGIONS:
        raise SystemExit(f"{page.name}: no generator for the region '{name}' (known: {', '.join(REGIONS)})")
    text = REGIONS[name](page)
    return text if text.endswith("\n") else text + "\n"


# ── examples ──────────────────────────────────────────────────────────────────────────────────────────────


def examples(block: str) -> str:
    """A console block made again: each `$ archcalc …` line followed by what it prints."""
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    if not commands:
        raise SystemExit(f"a console block without a `$ archcalc …` line:\n{block}")
    return "".join(f"$ {line}\n{output(line)}" for line in commands)


def output(line: str) -> str:
    """What `archcalc …` prints to a pipe, run in this process from the repository's root."""
    words = shlex.split(line)
    keep = None
    if "|" in words:
        at = words.index("|")
        words, pipe = words[:at], words[at + 1:]
        if len(pipe) != 2 or pipe[0] != "head" or not re.fullmatch(r"-\d+", pipe[1]):
            raise SystemExit(f"{line}: an example pipes only into `head -N`")
        keep = int(pipe[1][1:])
    if words[0] != "archcalc":
        raise SystemExit(f"{line}: an example runs archcalc (write other shells' lines in a ```sh block)")
    out, err = io.StringIO(), io.StringIO()
    with _piped(), redirect_stdout(out), redirect_stderr(err):
        status = run(words[1:])
    if status > 1 or not out.getvalue():
        raise SystemExit(f"{line}: exit {status}: {err.getvalue().strip()}")
    text = out.getvalue().replace(f"{REPO}{os.sep}", "")  # a bundled spec's path, as from a checkout's root
    return "".join(text.splitlines(keepends=True)[:keep])


@contextmanager
def _piped() -> Iterator[None]:
    """The environment of a documented run: the repository's root, no colour, a fixed width."""
    saved = {key: os.environ.get(key) for key in ("NO_COLOR", "COLUMNS")}
    here = Path.cwd()
    os.environ.update(NO_COLOR="1", COLUMNS="100")
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(here)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ── Markdown ─────────────────────────────────────────────────────────────────────────────────────────────


def prose(text: str) -> str:
    """Plain text as Markdown: `code spans` kept, *, _ and < escaped elsewhere."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else re.sub(r"([*_\\])", r"\\\1", part).replace("<", "&lt;")
                   for part in parts)


def cell(text: str) -> str:
    """Markdown in a table's cell: a `|` would end it."""
    return text.replace("|", "\\|")


def code(text: str) -> str:
    return f"`{text}`" if text else ""


def table(headers: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> str:
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = [headers, rule, *rows]
    return "".join("| " + " | ".join(cell(c) if line is not rule else c for c in line) + " |\n" for line in lines)


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def link(page: Path, target: Path, fragment: str = "") -> str:
    """A relative link from `page` to `target` (a file of this repository), with its #fragment."""
    relative = Path(os.path.relpath(target, page.parent)).as_posix()
    if target == page:
        relative = ""
    return relative + (f"#{fragment}" if fragment else "")


# ── regions ───────────────────────────────────────────────────────────────────────────────────────────────


def _commands() -> list[click.Command]:
    return commands()


def _summary(cmd: click.Command) -> str:
    """The first sentence of the command's help."""
    return re.split(r"(?<=[a-z)])\. ", paragraphs(cmd.help or "")[0])[0].removesuffix(".") + "."


def command_index(page: Path) -> str:
    """Each command with its summary, linked to its reference in docs/cli.md."""
    cli = DOCS / "cli.md"
    rows = [[f"[{_heading(c)}]({link(page, cli, anchor(_heading(c)))})", prose(_summary(c))] for c in _commands()]
    return table(["command", "what it does"], rows)


def _heading(cmd: click.Command) -> str:
    return f"`archcalc {cmd.name}`"


def command_reference(page: Path) -> str:
    """Every command's help, as `archcalc COMMAND --help` shows it: usage, text, examples, parameters."""
    guide = DOCS / "guide.md"
    sections = {anchor(h) for h in headings(guide)}
    return "\n".join(_reference(c, page, guide, sections) for c in _commands())


def _reference(cmd: click.Command, page: Path, guide: Path, sections: set[str]) -> str:
    context = click.Context(cmd, info_name=f"archcalc {cmd.name}", help_option_names=["-h", "--help"])
    usage = " ".join([f"archcalc {cmd.name}", *cmd.collect_usage_pieces(context)])
    lines = [f"### {_heading(cmd)}", "", f"`{usage}`", ""]
    for paragraph in paragraphs(cmd.help or ""):
        lines += [*_paragraph(_machine(paragraph)), ""]
    arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
    options = [p for p in cmd.get_params(context) if isinstance(p, click.Option)]
    if arguments:
        lines += [table(["argument", "what it is"], [[code(p.metavar or p.name.upper()), _help(p)] for p in arguments])]
    lines += [table(["option", "value", "default", "what it does"],
                    [[", ".join(code(f) for f in [*sorted(p.opts, key=len, reverse=True)]),
                      "" if p.is_flag else code(p.metavar or ""), "required" if p.required else code(_default(p)),
                      _help(p)] for p in options])]
    guided = [s for s in sections if s.startswith(anchor(f"archcalc {cmd.name} ")) or s == anchor(_heading(cmd))]
    if guided:
        lines += ["", f"More, with examples: [the guide]({link(page, guide, sorted(guided)[0])})."]
    return "\n".join(lines) + "\n"


def _default(param: click.Option) -> str:
    """What help shows as an option's default ("" for none)."""
    if isinstance(param.show_default, str):
        return param.show_default
    if param.is_flag or param.default is None or param.show_default is False:
        return ""
    return str(param.default)


def _paragraph(text: str) -> list[str]:
    if not text.startswith(EXAMPLES):
        return [prose(text)]
    label, _, rest = text.partition(" ")
    return [f"{label}", "", "```sh", *(_example(e) for e in rest.split(" · ")), "```"]


def _example(text: str) -> str:
    """One example command; a note in brackets after it becomes a comment."""
    found = re.fullmatch(r"(archcalc [^(]*?)\s+\((.*)\)", text)
    return f"{found[1]}  # {found[2]}" if found else text


def _help(param: click.Parameter) -> str:
    return prose(_machine(getattr(param, "help", None) or ""))


def _machine(text: str) -> str:
    for said, meant in MACHINE.items():
        text = text.replace(said, meant)
    return text


TYPES = {  # how docs/spec.md names each argument type of archcalc/args.py
    "int": "integer ≥ 0",
    "pos": "integer ≥ 1",
    "pair": "integer ≥ 1, or [h, w]",
    "pair0": "integer ≥ 0, or [h, w]",
    "pad": "integer ≥ 0, [h, w], `same` or `valid`",
    "float": "number",
    "bool": "yes or no",
    "str": "word",
    "table": "list of lists of map indices",
    "ints": "list of integers ≥ 1",
    "ints0": "list of integers ≥ 0",
}


def kinds(page: Path) -> str:
    """Every layer kind of archcalc.rules.RULES: an index, then each kind's arguments (type, default, meaning)."""
    index = table(["kind", "what it is"], [[f"[`{r.kind}`](#{anchor(r.kind)})", prose(r.doc)] for r in RULES.values()])
    return index + "".join(_kind(rule) for rule in RULES.values())


def _kind(rule: Rule) -> str:
    lines = ["", f"### `{rule.kind}`", "", prose(rule.doc[:1].upper() + rule.doc[1:]) + "."]
    if rule.shorthand:
        lines[-1] += f" A bare value sets `{rule.shorthand}`: `{rule.kind}: VALUE`."
    if rule.args:
        lines += ["", table(["argument", "type", "default", "meaning"], [_argument(a) for a in rule.args])]
    else:
        lines += ["", "No arguments.", ""]
    return "\n".join(lines)


def _argument(arg: Arg) -> list[str]:
    kind = ", ".join(f"`{c}`" for c in arg.choices) if arg.choices else TYPES.get(arg.type, arg.type)
    said = "required" if arg.required else ("" if arg.default is None else _value(arg.default))
    return [f"`{arg.name}`", kind, said, prose(arg.doc)]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "`yes`" if value else "`no`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def networks(page: Path) -> str:
    """The bundled networks, each analysed at its own input (batch 1)."""
    rows = []
    for name, path in catalog.bundled().items():
        network = catalog.load(name)
        totals = archcalc.analyze(network).totals
        rows.append([f"[`{name}`]({link(page, path)})", prose(network.title),
                     render.params_count(totals.params, totals.active_params),
                     render.count(totals.macs), render.shape(network.input), prose(network.source),
                     code(network.reference)])
    return table(["network", "title", "parameters", "MACs", "input", "source", "reference"], rows, right=(2, 3))


def mac_convention(page: Path) -> str:
    """The MAC convention as every output says it (archcalc/conventions.py)."""
    return (f"> MACs are {conventions.MACS}; {conventions.ZERO_MACS}. {conventions.FLOPS}. "
            f"{conventions.FUSED}. {conventions.UNITS}.\n")


REGIONS: dict[str, Callable[[Path], str]] = {
    "command-index": command_index,
    "command-reference": command_reference,
    "kinds": kinds,
    "networks": networks,
    "mac-convention": mac_convention,
}


# ── what tests/test_docs.py checks of every page ───────────────────────────────────────────────────────────


def headings(page: Path) -> list[str]:
    """A page's headings, outside code blocks."""
    return [line.lstrip("#").strip() for line in _outside_code(page.read_text(encoding="utf-8"))
            if re.match(r"#{1,6} ", line)]


def anchors(page: Path) -> set[str]:
    """Every #fragment a link may name on the page: its headings' anchors (a repeat gets -1, -2 …) and ids."""
    found: set[str] = set()
    for heading in headings(page):
        name, n = anchor(heading), 1
        while name in found:
            name, n = f"{anchor(heading)}-{n}", n + 1
        found.add(name)
    return found | set(re.findall(r'<a id="([^"]+)"', page.read_text(encoding="utf-8")))


def links(page: Path) -> list[str]:
    """The relative links of a page (Markdown links and images outside code), as written."""
    targets = [t for line in _outside_code(page.read_text(encoding="utf-8"))
               for t in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line))]
    return [t for t in targets if not re.match(r"[a-z]+:", t)]


def broken(page: Path) -> list[str]:
    """The page's relative links that point at no file, or at no anchor of a Markdown file."""
    wrong = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            wrong.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            wrong.append(f"{target}: no such anchor in {file.name}")
    return wrong


def _outside_code(text: str) -> Iterator[str]:
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def main(check: bool) -> int:
    changed = stale()
    for page, text in changed.items():
        if check:
            name = str(page.relative_to(REPO))
            diff = difflib.unified_diff(page.read_text(encoding="utf-8").splitlines(), text.splitlines(),
                                        f"{name} (committed)", f"{name} (fresh)", lineterm="", n=1)
            print(f"{name} is stale: run python docs/make_docs.py", *list(diff)[:40], sep="\n", file=sys.stderr)
        else:
            page.write_text(text, encoding="utf-8")
            print(f"wrote {page.relative_to(REPO)}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    sys.exit(main(parser.parse_args().check))
