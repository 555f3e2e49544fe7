"""A layer with several outputs (a split into all its parts), each read as `name:i`, in YAML and in the builder."""

from __future__ import annotations

import pytest

import archcalc
from archcalc.errors import ShapeError, SpecError
from conftest import torch_or_fail

SPLIT = """
input: [8, 4, 4]
layers:
  - conv: {out: 8, k: 1}
  - split: {parts: 2, name: halves}
  - conv: {out: 4, k: 3, p: 1, from: 'halves:1'}
  - concat: {from: ['halves:0', conv2]}
"""


def test_a_split_without_part_has_every_part_as_an_output():
    report = archcalc.analyze(SPLIT)
    conv1, halves, conv2, concat = report.rows
    assert halves.output == (8 // 2, 4, 4) and halves.outputs == ((8 // 2, 4, 4),) * 2
    assert conv2.inputs == ("halves:1",) and concat.inputs == ("halves:0", "conv2")
    assert concat.output == (8 // 2 + 4, 4, 4)
    assert report.totals.params == (8 * 8 + 8) + (3 * 3 * 4 * 4 + 4)
    assert report.totals.depth == 2
    assert conv2.receptive_field == concat.receptive_field == (3, 3)
    assert archcalc.analyze(SPLIT).to_dict()["layers"][1]["outputs"] == [[4, 4, 4], [4, 4, 4]]
    assert "outputs" not in report.to_dict()["layers"][0]  # a layer of one output: the contract unchanged


def test_the_outputs_are_views_of_the_input():
    report = archcalc.analyze(SPLIT)
    conv1, halves, conv2, concat = report.rows
    assert halves.activations == 0 and halves.saved_bytes == 0
    assert halves.alive_bytes == conv1.alive_bytes  # no new memory: the conv's output, still alive
    # conv2 keeps its input for backward: a view keeps its whole storage, conv1's output
    assert conv2.saved_bytes == 8 * 4 * 4 * 4
    # concat runs with conv1's output (read through halves:0), conv2's and its own alive
    assert concat.peak_bytes == (8 * 4 * 4 + 4 * 4 * 4 + 8 * 4 * 4) * 4


def test_the_builder_reads_outputs_the_same_way():
    builder = archcalc.Builder(input=(8, 4, 4))
    builder.add("conv", {"out": 8, "k": 1})
    split = builder.add("split", {"parts": 2}, name="halves")
    builder.add("conv", {"out": 4, "k": 3, "p": 1}, inputs=f"{split}:1")
    builder.add("concat", inputs=[f"{split}:0", "conv2"])
    assert archcalc.analyze(builder.build()).to_dict()["totals"] == archcalc.analyze(SPLIT).to_dict()["totals"]
    assert "from: ['halves:0', conv2]" in archcalc.dump(builder.build())
    again = archcalc.load(archcalc.dump(builder.build()))
    assert archcalc.analyze(again).to_dict()["totals"] == archcalc.analyze(SPLIT).to_dict()["totals"]


@pytest.mark.parametrize(("reads", "error", "message"), [
    ("halves", ShapeError, "'halves' has 2 outputs: read one as halves:0 … halves:1"),
    ("'halves:2'", ShapeError, "'halves' has 2 outputs: read one as halves:0 … halves:1"),
    ("'conv1:0'", ShapeError, "'conv1' has one output: read it as 'conv1'"),
    ("'halves:x'", SpecError, "after ':' comes the number of an output"),
    ("'nowhere:0'", SpecError, "'from' names 'nowhere', which is not an earlier layer"),
])
def test_an_output_read_wrongly_is_one_clear_error(reads, error, message):
    spec = f"input: [8, 4, 4]\nlayers:\n  - conv: {{out: 8, k: 1}}\n  - split: {{name: halves}}\n  - relu: {{from: {reads}}}\n"
    with pytest.raises(error, match=message):
        archcalc.analyze(spec)


def test_the_next_layer_of_a_split_into_parts_names_the_part_it_reads():
    with pytest.raises(ShapeError, match="'split1' has 2 outputs"):
        archcalc.analyze("input: [8, 4, 4]\nlayers:\n  - split:\n  - relu:\n")


def test_one_part_is_one_output_as_before():
    row = archcalc.analyze("input: [8, 4, 4]\nlayers:\n  - split: {parts: 4, part: 3}\n").rows[0]
    assert row.output == (8 // 4, 4, 4) and row.outputs == ()


def test_the_torch_module_reads_each_output_as_torch_chunk_gives_it():
    torch = torch_or_fail()
    network = archcalc.load(SPLIT)
    module = archcalc.build_torch(network)
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    got = module(x)
    conv1, conv2 = module.node("conv1"), module.node("conv2")
    first, second = conv1(x).chunk(2, 1)
    assert torch.allclose(got, torch.cat([first, conv2(second)], 1))
    assert tuple(got.shape[1:]) == archcalc.analyze(network).rows[-1].output
    got.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    checkpointed = archcalc.build_torch(network)
    checkpointed.load_state_dict(module.state_dict())
    assert torch.allclose(checkpointed.checkpoint((range(1, 3),))(x), got)


def test_explain_and_the_diagram_read_an_output_by_its_name(cli, write_spec):
    path = str(write_spec(SPLIT, "split.yaml"))
    explained = cli("explain", path, "concat1")
    assert explained.code == 0, explained.err
    assert "4×4×4 from halves:0, 4×4×4 from conv2" in explained.out
    drawn = cli("diagram", path)
    assert drawn.code == 0, drawn.err
    assert drawn.out.count("->") == 4 + 1  # input→conv1→halves, halves→conv2 and →concat1, conv2→concat1


def test_the_table_shows_how_many_outputs(cli, write_spec):
    ran = cli("table", str(write_spec(SPLIT, "split.yaml")))
    assert ran.code == 0, ran.err
    assert "2 × 4×4×4" in next(line for line in ran.out.splitlines() if line.startswith("halves"))
