"""The library API: docs/api.md's examples run as written, a real notebook runs, the package is typed."""

from __future__ import annotations

import doctest
import os
import re

import pytest

import archcalc
from archcalc.errors import SpecError
from conftest import REPO, module_or_fail

DOC = REPO / "docs" / "api.md"


def test_the_examples_of_docs_api_md_run_as_written():
    for module in ("matplotlib", "pandas"):
        module_or_fail(module)
    blocks = re.findall(r"```pycon\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "api.md", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    runner.run(test, out=failures.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(failures)
    assert len(test.examples) >= 20


def test_a_real_notebook_runs_and_shows_the_report_as_html(monkeypatch):
    for module in ("nbclient", "nbformat", "ipykernel", "matplotlib", "pandas"):
        module_or_fail(module)
    import nbclient
    import nbformat

    notebook = nbformat.read(REPO / "docs" / "api.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "committed clean"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))  # this archcalc
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO)}}).execute()
    outputs = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]
    report_html = outputs[0][0]["data"]["text/html"]
    assert report_html.startswith('<div class="archcalc">') and ">138,357,544<" in report_html
    assert outputs[1][0]["text"] == "138,357,544 parameters, 15,470,264,320 MACs per image\n"
    frame = outputs[2][0]["data"]["text/html"]
    assert frame.index("fc6") < frame.index("fc7") < frame.index("fc8")  # the three largest, in order
    svg = outputs[3][0]["data"]["image/svg+xml"]
    assert "Parameters per layer — total 138,357,544" in svg
    tiny = archcalc.analyze({"name": "tiny", "input": [3, 32, 32],
                             "layers": [{"conv": {"out": 16, "k": 3, "p": 1}}, {"fc": 10}]})
    assert f">{tiny.totals.params:,}<" in outputs[4][0]["data"]["text/html"]


def test_load_takes_a_name_a_path_yaml_text_a_mapping_or_a_network(write_spec):
    text = "input: [3, 32, 32]\nlayers:\n  - conv: {out: 8, k: 3}\n  - fc: 10\n"
    path = write_spec(text, "small.yaml")
    by_path, by_text = archcalc.load(path), archcalc.load(text, name="small")
    by_mapping = archcalc.load({"input": [3, 32, 32], "layers": [{"conv": {"out": 8, "k": 3}}, {"fc": 10}]})
    figures = {archcalc.analyze(n).totals.params for n in (by_path, by_text, by_mapping)}
    assert figures == {3 * 3 * 3 * 8 + 8 + 8 * 30 * 30 * 10 + 10}
    assert (by_path.name, by_text.name, by_mapping.name) == ("small", "small", "spec")
    assert archcalc.load("vgg16").name == "vgg16" and archcalc.load(archcalc.load("vgg16")).name == "vgg16"
    with pytest.raises(SpecError, match="unknown layer kind 'convv'"):
        archcalc.load({"input": [3, 8, 8], "layers": [{"convv": 3}]})
    with pytest.raises(archcalc.ArchcalcError, match="received int$"):
        archcalc.load(42)  # type: ignore[arg-type]


def test_the_report_is_typed_and_the_package_says_so():
    assert (REPO / "archcalc" / "py.typed").is_file()
    report = archcalc.analyze("lenet5", batch=2)
    assert isinstance(report, archcalc.Report) and isinstance(report.rows[0], archcalc.Row)
    assert isinstance(report.totals, archcalc.Totals)
    assert archcalc.analyze.__annotations__["return"] in ("Report", archcalc.Report)


def test_to_pandas_has_one_row_per_layer():
    module_or_fail("pandas")
    report = archcalc.analyze("resnet18")
    frame = report.to_pandas()
    assert list(frame.index) == [row.name for row in report.rows]
    assert int(frame["params"].sum()) == report.totals.params
    assert int(frame["activation_bytes"].sum()) == report.totals.activation_bytes


@pytest.mark.parametrize("options, message", [
    ({"input_shape": (1, 10**5000, 32)}, "input_shape: expected dimensions from 1 to 1,048,576; received an integer of 16,610 bits"),
    ({"input_shape": (1, 0, 32)}, "input_shape: expected dimensions from 1 to 1,048,576; received 0"),
    ({"input_shape": (1, -3, 32)}, "input_shape: expected dimensions from 1 to 1,048,576; received -3"),
    ({"input_shape": (True, 32, 32)}, "input_shape: expected dimensions from 1 to 1,048,576; received bool True"),
    ({"input_shape": "1x32x32"}, "input_shape: expected a tuple of 1 to 4 dimensions"),
    ({"batch": 2.5}, "batch: expected an integer from 1 to 1,000,000,000, or B; received float 2.5"),
    ({"batch": True}, "batch: expected an integer from 1 to 1,000,000,000, or B; received bool True"),
    ({"batch": 0}, "batch: expected an integer from 1 to 1,000,000,000, or B; received 0"),
])
def test_what_the_api_refuses_is_an_archcalc_error(options, message):
    from archcalc.errors import ArchcalcError

    with pytest.raises(ArchcalcError) as refused:
        archcalc.analyze("lenet5", **options)
    assert str(refused.value).startswith(message)


def test_a_report_s_repr_is_one_short_line_of_its_headline_figures():
    report = archcalc.analyze("resnet50")
    shown = repr(report)
    assert "\n" not in shown and len(shown) < 200 and " object at 0x" not in shown
    assert shown == (f"<Report resnet50: input 3×224×224, batch 1, float32; {len(report.rows):,} rows, "
                     f"{report.totals.params:,} parameters, {report.totals.macs:,} MACs>")
    assert " object at 0x" not in repr(report.rows[0]) and "'params': '" in repr(report.rows[0].formulas)
    planned = archcalc.analyze("resnet50", precision="amp-bf16")
    assert "precision amp-bf16" in repr(planned)


def test_the_notebook_view_is_styled_within_itself_and_gives_no_command_line_advice():
    from archcalc.html import FRAGMENT_STYLE

    report = archcalc.analyze("resnet50")  # 5 divisions that are not whole: the ⚠ line the CLI adds advice to
    shown = report._repr_html_()
    style = re.search(r"<style>(.*?)</style>", shown, re.S)[1]
    assert style == FRAGMENT_STYLE and "text-align: right" in style
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", style) for s in rule.split(",")]
    assert selectors and all(s.startswith(".archcalc ") for s in selectors)  # the notebook's own page is untouched
    assert "divisions are not whole" in shown
    for advice in ("--strict", "--formulas", "archcalc explain", "--depth"):
        assert advice not in shown


_CHECKPOINT = "checkpoint: expected none, every-block or a number of segments from 1 to 5,000; received "
_DEVICES = "devices: expected an integer from 1 to 1,000,000; received "


@pytest.mark.parametrize("call, message", [
    (lambda: archcalc.analyze("lenet5", checkpoint="sometimes"), _CHECKPOINT + "text 'sometimes'"),
    (lambda: archcalc.analyze("lenet5", checkpoint=2.5), _CHECKPOINT + "number 2.5"),
    (lambda: archcalc.analyze("lenet5", checkpoint=-3), _CHECKPOINT + "integer -3"),
    (lambda: archcalc.analyze("lenet5", checkpoint=10**5000), _CHECKPOINT + f"an integer of {(10**5000).bit_length():,} bits"),
    (lambda: archcalc.analyze("lenet5").train_parts(-1), _DEVICES + "integer -1"),
    (lambda: archcalc.analyze("lenet5").train_parts("2"), _DEVICES + "text '2'"),
    (lambda: archcalc.analyze("lenet5").train_parts(2, "zero3"),
     "unknown sharding 'zero3' (known: none, optimizer, gradients, parameters)"),
    (lambda: archcalc.Builder(input=(3, 8, 8), name=5), "expected text for 'name'; received integer 5"),
    (lambda: archcalc.load(None), "expected a network name, a path, YAML text, a mapping or a Network; received NoneType"),
    (lambda: archcalc.load("x\x1b[2J" * 50),  # the first 59 of its 250 characters, escaped: 11 of 5, and 4
     "unknown network '" + "x\\x1b[2J" * 11 + "x\\x1b[2…' (see `archcalc list`, or give a path to a .yaml spec)"),
], ids=["checkpoint-text", "checkpoint-float", "checkpoint-negative", "checkpoint-5000-digits", "devices-negative",
        "devices-text", "shard", "builder-name", "load-none", "long-name-with-escapes"])
def test_the_api_refuses_hostile_values_with_an_archcalc_error(call, message):
    """What Python would have raised itself (TypeError, AttributeError, its int-to-text ValueError), or taken
    in silence (a negative count), is an ArchcalcError with the message the command line would give."""
    with pytest.raises(archcalc.ArchcalcError) as refused:
        call()
    assert str(refused.value) == message
