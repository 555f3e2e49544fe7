"""reshape, view and getitem: the shapes torch's x.reshape, x.view and x[...] give (batch excluded),
no parameters, no MACs, a view's memory; their modules checked against the torch ops themselves."""

from __future__ import annotations

import pytest

import archcalc
from archcalc.errors import ShapeError, SpecError
from conftest import torch_or_fail


def rows(input_shape, *layers):
    builder = archcalc.Builder(input=input_shape)
    for kind, args in layers:
        builder.add(kind, args)
    return archcalc.analyze(builder.build()).rows


def test_a_reshape_fills_its_one_minus_one_and_costs_nothing():
    view, reshaped = rows((8, 4, 6), ("view", [-1]), ("reshape", [2, -1, 3]))
    assert view.output == (8 * 4 * 6,) and reshaped.output == (2, 8 * 4 * 6 // (2 * 3), 3)
    assert (view.params, view.macs, view.activations) == (0, 0, 0)  # a view: nothing in the activation sum
    assert rows((8, 4, 6), ("reshape", {"shape": [8, 24]}))[0].output == (8, 4 * 6)


def test_getitem_drops_an_indexed_dimension_and_keeps_a_sliced_one():
    first, last, sliced = rows((5, 7, 3), ("getitem", 0), ("getitem", {"dim": 1, "index": -1}),
                               ("getitem", {"dim": 0, "start": 1, "stop": -1}))
    assert first.output == (7, 3) and last.output == (7,) and sliced.output == (7 - 2,)
    assert rows((5, 7, 3), ("getitem", {"dim": 2, "start": -2}))[0].output == (5, 7, 2)


def test_the_receptive_field_goes_through_unchanged():
    conv, view = rows((3, 9, 9), ("conv", {"out": 4, "k": 3}), ("view", [4, -1]))
    assert view.receptive_field == conv.receptive_field == (3, 3)


@pytest.mark.parametrize(("kind", "args", "message"), [
    ("reshape", [5, -1], "8×4×6 = 192 elements is not a multiple of 5"),
    ("view", [7], "needs 7 elements; 8×4×6 has 192"),
    ("getitem", {"dim": 3, "index": 0}, "dim 3 of a 3-D input"),
    ("getitem", 8, "index 8 of 8 is out of range"),
    ("getitem", {"start": 1, "index": 0}, "not both or neither"),
    ("getitem", {"start": 5, "stop": 2}, "is empty"),
])
def test_impossible_shapes_say_why(kind, args, message):
    with pytest.raises(ShapeError, match=message):
        rows((8, 4, 6), (kind, args))


def test_the_sizes_are_checked_as_written():
    with pytest.raises(SpecError, match="only one size may be -1"):
        rows((8, 4, 6), ("reshape", [-1, -1]))
    with pytest.raises(SpecError, match="expected an integer ≥ 1 for 'shape'"):
        rows((8, 4, 6), ("view", [0, -1]))


def test_a_symbolic_input_reshapes_to_a_formula():
    report = archcalc.analyze({"input": [3, "H", "W"], "layers": [{"view": [3, -1]}, {"getitem": {"dim": 1, "start": 2}}]})
    assert [str(d) for d in report.rows[1].output] == ["3", "H·W − 2"]
    with pytest.raises(ShapeError, match="write -1"):
        archcalc.analyze({"input": [3, "H", "W"], "layers": [{"view": [3, 64]}]})


@pytest.mark.parametrize(("input_shape", "kind", "args", "op"), [
    ((8, 4, 6), "view", [-1], lambda x: x.view(x.shape[0], -1)),
    ((8, 4, 6), "reshape", [8, -1], lambda x: x.reshape(x.shape[0], 8, 4 * 6)),
    ((8, 4, 6), "view", [2, 4, -1], lambda x: x.view(x.shape[0], 2, 4, -1)),
    ((5, 7), "getitem", 0, lambda x: x[:, 0]),
    ((5, 7, 3), "getitem", {"dim": 1, "index": -1}, lambda x: x[:, :, -1]),
    ((5, 7, 3), "getitem", {"dim": 2, "start": 1}, lambda x: x[:, :, :, 1:]),
    ((8, 4, 6), "flatten", None, lambda x: x.flatten(1)),
])
def test_each_module_is_the_torch_op(input_shape, kind, args, op):
    torch = torch_or_fail()
    builder = archcalc.Builder(input=input_shape)
    builder.add(kind, args)
    network = builder.build()
    module = archcalc.build_torch(network)
    x = torch.randn(3, *input_shape)
    got, expected = module(x), op(x)
    assert torch.equal(got, expected)
    assert tuple(got.shape[1:]) == archcalc.analyze(network).rows[0].output
    assert got.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()  # a view, as the report counts it
