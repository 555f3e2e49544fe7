"""archcalc's modules import one another without a circle, and only the way its layers go.

Every module under archcalc/ is parsed (nothing is imported): its imports at
module level and inside functions (the lazy ones), relative imports resolved.
`from . import x` names the module x where there is one. The layers: the
rules and the IR know nothing of the CLI or of any renderer; the report is
data and imports no renderer; the command line is imported only by itself
and by `python -m archcalc`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archcalc"
RENDERERS = ("archcalc.render", "archcalc.html", "archcalc.plot", "archcalc.diagram", "archcalc.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package (a package by its __init__), by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The archcalc modules `name` imports anywhere in its file (a name from a package: the module, if one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `archcalc.x.y` where only `archcalc.x` is a module
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("archcalc"):
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    edges = {name: imports(name, path, known) for name, path in found.items()}
    for name in edges:  # importing a package's module imports the package; that edge tells nothing
        edges[name] = {t for t in edges[name] if not name.startswith(t + ".")}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph, as the modules along it (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = walk(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = walk(start)
            if found:
                return found
    return None


EDGES = graph()


def test_the_graph_is_read():
    """The parser finds the imports it must: a lazy one, a relative one, one of a subpackage."""
    assert "archcalc.report" in EDGES["archcalc.analysis"]
    assert "archcalc.cli.registry" in EDGES["archcalc.cli"]
    assert "archcalc.rules" in EDGES["archcalc.analysis"]
    assert any(name.startswith("archcalc.backends") for name in EDGES["archcalc.cli.torch"])  # imported in functions


def test_a_circle_is_found():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circle():
    found = cycle(EDGES)
    assert found is None, "import circle: " + " → ".join(found or ())


def reaches(start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in EDGES.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


LOWER = sorted(name for name in EDGES if _under(name, ("archcalc.rules", "archcalc.ir", "archcalc.report",
                                                        "archcalc.states", "archcalc.symbolic")))


@pytest.mark.parametrize("name", LOWER)
def test_the_engine_reaches_no_renderer(name):
    """The rules, the IR and the report (pure data) import no renderer and nothing of the CLI, even lazily."""
    assert not [target for target in reaches(name) if _under(target, RENDERERS)], sorted(reaches(name))


@pytest.mark.parametrize(("name", "forbidden"), [
    ("archcalc.args", "archcalc.source"),  # a layer's arguments are checked without the YAML reader
    ("archcalc.backends.capacity", "archcalc.fit"),
    ("archcalc.backends.reference", "archcalc.backends.verify"),  # what they share lives apart (backends.checks)
    ("archcalc.report", "archcalc.analysis"),  # the report is the analysis's result, not its caller
    ("archcalc.report", "archcalc.sizes"),  # …read by sizes; what it reads of its own conditions is in sides
    ("archcalc.rules", "archcalc.report"),  # a rule computes one layer's figures, knowing nothing of a report
    ("archcalc.rules", "archcalc.analysis"),
    ("archcalc.ir", "archcalc.rules"),  # the IR is the expanded spec: data the rules are applied to
    ("archcalc.symbolic", "archcalc.report"),
])
def test_wrong_way_edges(name, forbidden):
    assert forbidden not in reaches(name)


def test_only_the_command_line_imports_the_command_line():
    outside = {name: sorted(t for t in targets if _under(t, ("archcalc.cli",)))
               for name, targets in EDGES.items() if not _under(name, ("archcalc.cli", "archcalc.__main__"))}
    assert not {name: targets for name, targets in outside.items() if targets}


def test_no_module_of_the_package_reaches_into_anothers_private_names():
    """`from .x import _name` across modules: what two modules share is public in the module they share."""
    known = set(modules())
    private = []
    for name, path in modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                private += [f"{name}: {alias.name}" for alias in node.names
                            if alias.name.startswith("_") and alias.name != "__version__"
                            and f"{package}.{alias.name}" not in known]
    assert not private
