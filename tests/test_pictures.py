"""`plot` and `diagram`: the files they write, read back for what they show."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from archcalc import catalog, diagram, plot
from archcalc.analysis import analyze
from archcalc.report import fold
from archcalc.units import format_bytes, format_count
from conftest import module_or_fail, tool_or_fail

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _matplotlib():
    module_or_fail("matplotlib", "pip install 'archcalc[plot]'")


def svg_texts(path) -> list[str]:
    """Every text the SVG draws (matplotlib writes text as <text>, fonttype none)."""
    root = ET.parse(path).getroot()
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_one_network_names_its_layers_and_marks_the_peak(cli, tmp_path):
    out = tmp_path / "vgg16.svg"
    ran = cli("plot", "vgg16", "-o", str(out))
    assert ran.code == 0, ran.err
    texts = svg_texts(out)
    report = analyze(catalog.load("vgg16"))
    assert [row.name for row in report.rows] == [t for t in texts if t in {row.name for row in report.rows}]
    assert "Activation memory per layer — sum 57.6 MiB" in texts
    assert "Parameters per layer — total 138,357,544" in texts
    peak = max(report.rows, key=lambda row: row.peak_bytes)
    assert f"peak 24.5 MiB at {peak.name}" in texts and peak.name == "conv1_2"
    assert "bytes (log)" in texts and "parameters (log)" in texts


def test_plot_png_has_the_size_of_its_figure(cli, tmp_path):
    out = tmp_path / "resnet50.png"
    assert cli("plot", "resnet50", "--depth", "2", "--kind", "timeline", "-o", str(out)).code == 0
    width, height = png_size(out)
    rows = fold(analyze(catalog.load("resnet50")), 2).rows
    names = max(len(row.name) for row in rows) * plot.LABEL_CHAR  # the rotated names below (every one shown)
    # 100 dpi; one panel: 1 + 2.1 inches, and the names' height
    assert (width, height) == (round(100 * max(6.0, 0.16 * len(rows) + 3)), round(100 * (1 + 2.1 + names)))
    both = tmp_path / "both.png"
    assert cli("plot", "resnet50", "--depth", "2", "-o", str(both)).code == 0
    assert png_size(both) == (width, round(100 * (1 + 3 * 2.1 + names)))  # three panels


def test_the_layer_plot_has_room_for_its_rotated_names():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = plot.layers_figure(analyze(catalog.load("resnet50")), "timeline")  # names of 36 characters
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    axes = figure.axes[-1]
    labels = [label for label in axes.get_xticklabels() if label.get_text()]
    assert labels and all(label.get_window_extent(renderer).y0 >= 0 for label in labels)  # none cut off
    assert axes.get_window_extent(renderer).height / figure.dpi >= 1.5  # and the panel is not squeezed flat


def test_a_scatter_s_ticks_are_all_counts_in_one_format(cli, tmp_path):
    out = tmp_path / "nets.svg"
    assert cli("plot", "resnet18", "resnet50", "-o", str(out)).code == 0  # within a decade: minor ticks labelled
    texts = svg_texts(out)
    assert {format_count(20_000_000), format_count(2_000_000_000), format_count(10_000_000)} <= set(texts)
    assert not any("×" in text or "10^" in text for text in texts)  # matplotlib's own 2×10⁷ nowhere


def test_plot_several_networks_as_labelled_points(cli, tmp_path):
    out = tmp_path / "nets.svg"
    assert cli("plot", "alexnet", "vgg16", "googlenet", "resnet50", "-o", str(out)).code == 0
    texts = svg_texts(out)
    for name in ("alexnet", "vgg16", "googlenet", "resnet50"):
        report = analyze(catalog.load(name))
        at = texts.index(name)  # the label: the name, its memory on the next line
        assert texts[at + 1] == format_bytes(report.totals.activation_bytes)
    assert any(t.startswith("MACs per sample") for t in texts)
    root = ET.parse(out).getroot()
    assert len([p for p in root.iter(f"{SVG}g") if (p.get("id") or "").startswith("PathCollection")]) == 4


def test_plot_refuses_other_formats(cli, tmp_path):
    ran = cli("plot", "vgg16", "-o", str(tmp_path / "x.pdf"))
    assert ran.code == 2 and "expected a file name ending in .png or .svg" in ran.err


def test_without_matplotlib_plot_says_what_to_install(tmp_path):
    child = ("import sys; sys.modules['matplotlib'] = None\n"
             "from archcalc.cli import run; sys.exit(run(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", child, "plot", "vgg16", "-o", str(tmp_path / "x.svg")],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (
        1, "error: plotting needs matplotlib, which is not installed: pip install matplotlib\n")


# ── diagrams ──────────────────────────────────────────────────────────────────


def test_dot_nodes_show_kind_shape_and_parameters(cli):
    ran = cli("diagram", "alexnet")
    assert ran.code == 0 and ran.out.startswith('digraph "alexnet" {')
    assert 'label="conv1\\nconv 11/4 · 96×55×55\\n34,944 params"' in ran.out
    assert ran.out.count(" -> ") == len(analyze(catalog.load("alexnet")).rows)  # a chain: one edge per layer


def test_how_a_node_is_drawn_is_its_kinds_picture():
    """Fill and window come from the rule's Picture; the stride is the resolved one (a pool's defaults to its window)."""
    from archcalc.rules import RULES

    text = diagram.dot(analyze(catalog.load("vgg16")))
    assert 'label="pool1\\nmaxpool 2/2 · 64×112×112", fillcolor="%s"' % RULES["maxpool"].picture.fill in text
    assert 'label="conv1_1\\nconv 3 · 64×224×224\\n1,792 params", fillcolor="%s"' % RULES["conv"].picture.fill in text
    assert RULES["conv"].picture.fill != RULES["maxpool"].picture.fill


def test_googlenet_inception_branches_are_clusters(cli):
    text = cli("diagram", "googlenet").out
    report = analyze(catalog.load("googlenet"))
    clusters = re.findall(r'subgraph cluster_\d+ \{\n\s+label="([^"]+)"', text)
    assert clusters.count("branch1") == 9 and {"3a", "3b", "4a", "4e", "5b"} <= set(clusters)
    concat = next(row for row in report.rows if row.name == "3a.concat1")
    ids = dict(re.findall(r"(n\d+) \[label=\"([^\"]+)\"", text))
    into = [source for source, target in re.findall(r"(\w+) -> (\w+)", text) if ids.get(target) == "concat 256×28×28"]
    assert len(into) == len(concat.inputs) == 4  # four branches meet at the concat


def test_resnet_identity_shortcuts_are_dashed_edges(cli):
    text = cli("diagram", "resnet18").out
    identity = re.findall(r"(n\d+) -> (n\d+) \[style=dashed, label=\"identity\"", text)
    shortcuts = [row for row in analyze(catalog.load("resnet18")).rows if row.kind == "shortcut"]
    assert len(identity) == len([s for s in shortcuts if s.params == 0]) == 5
    assert "shortcut1" in text  # projections stay nodes: 1×1 convolutions with parameters
    assert text.count('style="rounded,filled,dashed"') == len([s for s in shortcuts if s.params]) == 3


def test_depth_folds_blocks_into_single_nodes(cli):
    text = cli("diagram", "googlenet", "--depth", "1").out
    assert "subgraph" not in text
    assert 'label="3a\\nblock of 8 layers · 256×28×28\\n163,696 params"' in text
    folded = fold(analyze(catalog.load("googlenet")), 1)
    assert text.count(" -> ") == sum(len(row.inputs) for row in folded.rows)


def test_mermaid_is_well_formed_and_escapes_labels(cli, write_spec):
    text = cli("diagram", "googlenet", "--format", "mermaid").out
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    assert sum(line.strip().startswith("subgraph ") for line in lines) == sum(line.strip() == "end" for line in lines)
    defined = set(re.findall(r"^\s*(\w+)[\[(]", text, re.M))
    for source, target in re.findall(r"^\s*(\w+) (?:-->|-\.->|-\. \w+ \.->) (\w+)$", text, re.M):
        assert source in defined and target in defined
    assert diagram._mermaid_text('a"b<c>#d&e', "x") == '"a#quot;b#lt;c#gt;#35;d#amp;e<br/>x"'
    spec = write_spec("""
        title: 'a"b\\c'
        input: [3, 8, 8]
        layers:
          - conv: {out: 4, k: 3}
    """)
    assert 'label="a\\"b\\\\c: 112 parameters, 3,888 MACs"' in cli("diagram", spec).out


def test_diagram_svg_through_graphviz(cli, tmp_path):
    tool_or_fail("dot", "apt-get install graphviz")
    out = tmp_path / "googlenet.svg"
    ran = cli("diagram", "googlenet", "-o", str(out))
    assert ran.code == 0, ran.err
    texts = svg_texts(out)
    assert "3a" in texts and "concat 256×28×28" in texts and "conv 1 · 64×28×28" in texts
    assert len(ET.parse(out).getroot().findall(f".//{SVG}g[@class='cluster']")) >= 9 * 5  # modules and branches


def test_diagram_without_graphviz_says_how_to_install_it(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    ran = cli("diagram", "lenet5", "-o", str(tmp_path / "x.svg"))
    assert ran.code == 1
    assert ran.err.startswith("error: drawing a diagram needs Graphviz's `dot`, which is not installed: "
                              "apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS)")
    assert ran.err.count("\n") == 1


def test_dot_text_for_a_folded_report_is_the_graph_of_its_rows():
    folded = fold(analyze(catalog.load("resnet50-tv")), 2)
    g = diagram.graph(folded)
    assert set(g.nodes) == {"input"} | {row.name for row in folded.rows}
    assert len(g.edges) == sum(len(row.inputs) for row in folded.rows)


def test_an_output_written_over_a_planted_link_replaces_the_link_not_its_target(cli, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious", encoding="utf-8")
    link = tmp_path / "work" / "lenet5.dot"
    link.parent.mkdir()
    link.symlink_to(outside)
    ran = cli("diagram", "lenet5", "-o", str(link))
    assert ran.code == 0, ran.err
    assert outside.read_text(encoding="utf-8") == "precious"
    assert not link.is_symlink() and link.read_text(encoding="utf-8").startswith("digraph")
    assert sorted(p.name for p in link.parent.iterdir()) == ["lenet5.dot"]  # no temporary left beside it


def test_an_output_that_cannot_be_written_is_one_line_and_leaves_nothing(cli, tmp_path):
    folder = tmp_path / "taken.dot"
    folder.mkdir()
    ran = cli("diagram", "lenet5", "-o", str(folder))
    assert ran.code == 1 and ran.err.startswith(f"error: cannot write {folder}:") and len(ran.err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [folder] and not list(folder.iterdir())


def test_plot_of_counts_past_a_c_long_is_drawn(cli, write_spec, tmp_path):
    spec = write_spec("input: [1000000, 1000, 1000]\nlayers:\n  - conv: {out: 1000000000, k: 1000}\n"
                      "  - fc: 1000000000\n")
    assert analyze(catalog.load(spec)).totals.params > 2**63  # past what matplotlib converts to a C long
    for args in (("--kind", "all"), ("--kind", "layers")):
        ran = cli("plot", spec, *args, "-o", str(tmp_path / "big.png"))
        assert (ran.code, ran.err) == (0, f"wrote {tmp_path / 'big.png'}\n"), ran.err
    ran = cli("plot", spec, "lenet5", "-o", str(tmp_path / "both.svg"))
    assert ran.code == 0, ran.err


def test_matplotlibs_own_warnings_stay_off_stderr(cli, write_spec, tmp_path):
    # no parameters (an empty log axis) and a glyph the font lacks: matplotlib warns about both
    spec = write_spec('input: [3, 8, 8]\nname: "net \\u4e2d"\nlayers: [relu: , maxpool: 2]\n')
    ran = cli("plot", spec, "-o", str(tmp_path / "net.png"))
    assert (ran.code, ran.err) == (0, f"wrote {tmp_path / 'net.png'}\n")


def test_a_layout_past_its_time_bound_is_one_line_and_the_report_keeps_the_dot_text(cli, monkeypatch, tmp_path):
    tool_or_fail("dot", "apt-get install graphviz")
    monkeypatch.setattr(diagram, "LAYOUT_SECONDS", 0.001)  # densenet121's 400 nodes take dot far longer
    ran = cli("diagram", "densenet121", "-o", str(tmp_path / "d.svg"))
    assert ran.code == 1 and ran.err.count("\n") == 1
    assert "Graphviz's dot did not lay this graph out within 0.001 s" in ran.err
    assert not (tmp_path / "d.svg").exists()
    ran = cli("report", "densenet121", "-o", str(tmp_path / "r.html"))
    assert ran.code == 0, ran.err
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "did not lay this graph out within" in page and "<pre>digraph" in page
