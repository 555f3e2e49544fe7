"""A report's graph as text for Graphviz (DOT) or Mermaid: nodes, edges, and blocks as clusters.

Each row is a node labelled with its name, kind, output shape and parameters.
Dotted names make the clusters (`3a.branch2.conv1` sits in `3a`, then in
`branch2`), so an inception module reads as parallel columns inside a box.
A merge (add, concat) is a small node; an identity shortcut is no node but a
dashed edge from its input to the sum, as in the ResNet paper's figures; a
projection shortcut stays a node, its edges dashed. What is drawn how is each
kind's `Picture` and role (archcalc.rules), not decided here. Fold the report
first (`report.fold`) to draw blocks as single nodes.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any, NamedTuple

from . import render
from .errors import ArchcalcError
from .ir import INPUT, producer
from .report import BLOCK, Report, Row
from .rules import RULES, Picture, Role

FORMATS = ("dot", "mermaid")
INSTALL = "apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS), or choco install graphviz"
PICTURES = {BLOCK: Picture("#eeeeee")}  # a folded row of several kinds: no rule's picture; the input is drawn apart


def _picture(kind: str) -> Picture:
    rule = RULES.get(kind)
    return rule.picture if rule is not None else PICTURES.get(kind, Picture())


def _is_merge(kind: str) -> bool:
    rule = RULES.get(kind)
    return rule is not None and rule.role is Role.MERGE


class Node(NamedTuple):
    id: str
    label: list[str]  # lines
    kind: str
    dashed: bool  # a shortcut: its edges are dashed


class Graph(NamedTuple):
    nodes: dict[str, Node]  # row name (or input) → node
    edges: list[tuple[str, str, bool, str]]  # (from id, to id, dashed, label)
    clusters: dict[str, list[str]]  # cluster path → the names directly inside it (nodes and sub-clusters)


def graph(report: Report) -> Graph:
    """Nodes, edges and clusters of a (folded or not) report."""
    nodes = {INPUT: Node("input", [f"input {render.shape(report.input)}"], INPUT, False)}
    through: dict[str, tuple[str, ...]] = {}  # identity shortcuts: a name that stands for its inputs
    for index, row in enumerate(report.rows):
        shortcut = _picture(row.kind).shortcut
        if shortcut and row.params == 0:
            through[row.name] = row.inputs
            continue
        nodes[row.name] = Node(f"n{index}", _label(row), row.kind, shortcut)
    edges = []
    for row in report.rows:
        if row.name in through:
            continue
        for source in row.inputs:
            identity = source in through
            for origin in _sources(source, through):
                edges.append((nodes[origin].id, nodes[row.name].id, identity or nodes[row.name].dashed
                              or nodes[origin].dashed, "identity" if identity else ""))
    clusters: dict[str, list[str]] = {"": []}
    for name in nodes:
        if name == INPUT:
            clusters[""].append(name)
            continue
        parts = name.split(".")
        for depth in range(len(parts)):
            parent, child = ".".join(parts[:depth]), ".".join(parts[:depth + 1])
            members = clusters.setdefault(parent, [])
            if child not in members:
                members.append(child)
    return Graph(nodes, edges, clusters)


def walk(g: Graph, path: str = "") -> Iterator[tuple[str, str]]:
    """The clusters depth first, as events: ("open", cluster), ("node", row name), ("close", cluster)."""
    for member in g.clusters.get(path, []):
        if member in g.nodes and member not in g.clusters:
            yield "node", member
            continue
        yield "open", member
        if member in g.nodes:
            yield "node", member
        yield from walk(g, member)
        yield "close", member


def _sources(name: str, through: dict[str, tuple[str, ...]]) -> list[str]:
    if name not in through:
        return [producer(name)]  # `split1:0` is drawn from split1
    return [origin for source in through[name] for origin in _sources(source, through)]


def _label(row: Row) -> list[str]:
    short = row.name.rsplit(".", 1)[-1]
    picture = _picture(row.kind)
    if _is_merge(row.kind):
        return [picture.symbol or f"{row.kind} {render.shape(row.output)}"]
    kind = row.kind if row.layers == 1 else f"{BLOCK} of {row.layers} layers"
    window = _axes(row.args.get("k")) if picture.window and row.layers == 1 else None
    if window:  # a kernel or window: one integer, or one per axis; a global or adaptive pool has none
        stride = _axes(row.args.get("s"))
        kind += f" {render.field(window)}" + (f"/{render.field(stride)}" if stride and set(stride) != {1} else "")
    lines = [short, f"{kind} · {render.shape(row.output)}"]
    if row.params:
        lines.append(f"{render.count(row.params)} params")
    return lines


def _axes(value: Any) -> tuple[int, ...]:
    """A per-axis argument as a tuple (an integer stands for every axis); () for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    return value if isinstance(value, tuple) else ()


def _indented(g: Graph) -> Iterator[tuple[str, tuple[int, str], str]]:
    """`walk`'s events with each cluster's number and the indent of the line that writes it."""
    depth, opened = 1, iter(range(len(g.clusters)))
    numbers: dict[str, int] = {}
    for event, member in walk(g):
        if event == "close":
            depth -= 1
        if event == "open":
            numbers[member] = next(opened)
        yield event, (numbers.get(member, 0), member), "  " * depth
        if event == "open":
            depth += 1


# ── DOT ──────────────────────────────────────────────────────────────────────


def _dot_text(text: str) -> str:
    """Text as a quoted DOT string that Graphviz shows as written: `&` first, as Graphviz reads entities
    (`&lt;`, `&nbsp;`) in labels and keeps an unknown one (`&foo;`), which no XML reader of its SVG takes."""
    text = text.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + text + '"'


def dot(report: Report) -> str:
    """The graph in Graphviz's DOT language."""
    g = graph(report)
    title = (f"{report.title or report.name}: {render.count(report.totals.params)} parameters, "
             f"{render.count(report.totals.macs)} MACs")
    lines = [f"digraph {_dot_text(report.name)} {{",
             "  graph [rankdir=TB, ordering=out, fontname=\"DejaVu Sans\", fontsize=11, nodesep=0.25, ranksep=0.3, "
             f"label={_dot_text(title)}, labelloc=t];",
             "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"DejaVu Sans\", "
             "fontsize=10, margin=\"0.12,0.04\"];",
             "  edge [color=\"#555555\", arrowsize=0.6];"]
    for event, (index, member), indent in _indented(g):
        if event == "node":
            lines.append(indent + _dot_node(g.nodes[member]))
        elif event == "open":
            lines.append(f"{indent}subgraph cluster_{index} {{")
            lines.append(f"{indent}  label={_dot_text(member.rsplit('.', 1)[-1])}; style=\"rounded,dashed\"; "
                         "color=\"#8899aa\"; fontcolor=\"#445566\";")
        else:
            lines.append(f"{indent}}}")
    for source, target, dashed, label in g.edges:
        style = [*(["style=dashed"] if dashed else []), *([f"label={_dot_text(label)}", "fontsize=8"] if label else [])]
        lines.append(f"  {source} -> {target}" + (f" [{', '.join(style)}]" if style else "") + ";")
    return "\n".join(lines + ["}"]) + "\n"


def _dot_node(node: Node) -> str:
    if _is_merge(node.kind):
        shape = "circle, width=0.3, fixedsize=true" if _picture(node.kind).symbol else "box, style=\"rounded,filled\""
        return f"{node.id} [label={_dot_text(node.label[0])}, shape={shape}, fillcolor=\"#f4f4f4\", fontsize=9];"
    if node.kind == INPUT:
        return f"{node.id} [label={_dot_text(node.label[0])}, shape=oval, fillcolor=\"#f4f4f4\"];"
    fill = _picture(node.kind).fill or "#ffffff"
    style = ", style=\"rounded,filled,dashed\"" if node.dashed else ""
    return f"{node.id} [label={_dot_text(chr(10).join(node.label))}, fillcolor=\"{fill}\"{style}];"


LAYOUT_SECONDS = 20.0  # dot's layout of a dense graph of thousands of nodes can run for minutes


def draw(dot_text: str, fmt: str = "svg") -> bytes:
    """DOT text drawn by Graphviz's `dot` as SVG or PNG; a one-line error that says how to install it when missing."""
    program = shutil.which("dot")
    if program is None:
        raise ArchcalcError(f"drawing a diagram needs Graphviz's `dot`, which is not installed: {INSTALL}; "
                            "or write --format dot or mermaid as text")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=LAYOUT_SECONDS)
    except subprocess.TimeoutExpired:  # run() has killed dot
        raise ArchcalcError(f"Graphviz's dot did not lay this graph out within {LAYOUT_SECONDS:g} s; fold it with "
                            "--depth, or write --format dot or mermaid as text") from None
    if done.returncode != 0:
        raise ArchcalcError(f"Graphviz's dot failed: {done.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return done.stdout


# ── Mermaid ──────────────────────────────────────────────────────────────────


def _mermaid_text(*lines: str) -> str:
    """Lines as a quoted Mermaid label: entity codes for what would end or break it, <br/> between lines."""
    def escaped(text: str) -> str:
        text = text.replace("#", "#35;")  # first: the codes below start with #
        for char, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
            text = text.replace(char, code)
        return text

    return '"' + "<br/>".join(map(escaped, lines)) + '"'


def mermaid(report: Report) -> str:
    """The graph as a Mermaid flowchart (GitHub renders it inside a ```mermaid block)."""
    g = graph(report)
    lines = ["flowchart TB"]
    for event, (index, member), indent in _indented(g):
        if event == "node":
            lines.append(indent + _mermaid_node(g.nodes[member]))
        elif event == "open":
            lines.append(f"{indent}subgraph c{index} [{_mermaid_text(member.rsplit('.', 1)[-1])}]")
            lines.append(f"{indent}  direction TB")
        else:
            lines.append(f"{indent}end")
    for source, target, dashed, label in g.edges:
        arrow = (f"-. {label} .->" if label else "-.->") if dashed else "-->"
        lines.append(f"  {source} {arrow} {target}")
    return "\n".join(lines) + "\n"


def _mermaid_node(node: Node) -> str:
    text = _mermaid_text(*node.label)
    if _is_merge(node.kind):
        return f"{node.id}(({_mermaid_text(node.label[0])}))"
    if node.kind == INPUT:
        return f"{node.id}([{text}])"
    return f"{node.id}[{text}]"
