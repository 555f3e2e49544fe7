"""Networks built from Python: the Builder and archcalc.load of a mapping share the spec reader's checks,
within limits sized for programs (expand.PROGRAM_LIMITS), never those of a file."""

from __future__ import annotations

import re
import time

import pytest

import archcalc
from archcalc import expand, source
from archcalc.errors import SpecError


def flat_builder(layers: int, channels: int = 8) -> archcalc.Builder:
    builder = archcalc.Builder(input=(channels, 8, 8), name="flat")
    for _ in range(layers):
        builder.add("conv", {"out": channels, "k": 3, "p": 1})
    return builder


def test_a_builder_network_has_the_figures_of_the_same_spec():
    builder = archcalc.Builder(input=(3, 32, 32), name="tiny", title="a tiny net")
    assert builder.add("conv", {"out": 16, "k": 3, "p": 1}) == "conv1"
    assert builder.add("relu", name="act") == "act"
    assert builder.add("conv", {"out": 16, "k": 3, "p": 1}, inputs="conv1") == "conv2"
    assert builder.add("add", inputs=["act", "conv2"]) == "add1"
    assert builder.add("maxpool", 2) == "maxpool1"  # a shorthand value, as `maxpool: 2`
    assert builder.add("fc", 10) == "fc1"
    built = builder.build()
    text = archcalc.load("""
        name: tiny
        input: [3, 32, 32]
        layers:
          - conv: {out: 16, k: 3, p: 1}
          - relu: {name: act}
          - conv: {out: 16, k: 3, p: 1, from: conv1}
          - add: {from: [act, conv2]}
          - maxpool: 2
          - fc: 10
        """.replace("\n        ", "\n"))
    assert (built.name, built.title) == ("tiny", "a tiny net")
    assert [layer.inputs for layer in built.layers] == [layer.inputs for layer in text.layers]
    assert archcalc.analyze(built).to_dict()["totals"] == archcalc.analyze(text).to_dict()["totals"]
    assert archcalc.analyze(built).totals.params == (3 * 3 * 3 * 16 + 16) + (3 * 3 * 16 * 16 + 16) + 16 * 16 * 16 * 10 + 10


@pytest.mark.parametrize(("call", "message"), [
    (lambda b: b.add("conv", {"out": 16, "kk": 3}), "layers[0].conv: unknown argument of conv 'kk'; did you mean 'k'?"),
    (lambda b: b.add("conv", {"out": 0, "k": 3}), "layers[0].conv: expected an integer ≥ 1 for 'out'; received out=0"),
    (lambda b: b.add("convv", 3), "layers[0].convv: unknown layer kind 'convv'"),
    (lambda b: b.add("relu", inputs="nowhere"), "layers[0].relu: 'from' names 'nowhere', which is not an earlier layer"),
    (lambda b: b.add("relu", name="a b"), "layers[0].relu: a name is letters, digits"),
    (lambda b: b.add("conv", {"out": 16, "k": (3, 0)}), "layers[0].conv: expected an integer ≥ 1 for 'k'"),
    (lambda b: b.add("conv", {"out": object()}), "a spec holds mappings, lists, text, numbers"),
])
def test_a_builder_mistake_is_the_spec_readers_message_at_the_layers_path(call, message):
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        call(archcalc.Builder(input=(3, 32, 32)))
    assert caught.value.mark is None  # Python data has no lines


def test_a_mapping_and_its_yaml_text_say_the_same_but_where():
    mapping = {"input": [3, 32, 32], "layers": [{"relu": None}, {"conv": {"out": 8, "k": 5, "s": 0}}]}
    with pytest.raises(SpecError) as from_mapping:
        archcalc.load(mapping)
    with pytest.raises(SpecError) as from_text:
        archcalc.load("input: [3, 32, 32]\nlayers:\n  - relu:\n  - conv: {out: 8, k: 5, s: 0}\n")
    assert from_mapping.value.message == from_text.value.message
    assert from_mapping.value.path == from_text.value.path == "layers[1].conv"
    assert from_mapping.value.mark is None and from_text.value.mark.line == 4
    with pytest.raises(SpecError, match="keys must be printable text"):
        archcalc.load({"input": [3, 8, 8], "layers": [{3: 1}]})
    with pytest.raises(SpecError, match="is beyond"):
        archcalc.load({"input": [3, 8, 8], "layers": [{"fc": 10**400}]})


def test_a_flat_builder_network_of_5000_layers_is_built_and_analysed_in_seconds():
    start = time.perf_counter()
    network = flat_builder(5000).build()
    report = archcalc.analyze(network)
    elapsed = time.perf_counter() - start
    assert len(report.rows) == 5000 > expand.MAX_LAYERS - 1  # a file's limit, which a program passes
    assert report.totals.params == 5000 * (3 * 3 * 8 * 8 + 8)
    assert elapsed < 5, f"{elapsed:.1f} s"


def test_a_mapping_of_2000_layers_loads_though_a_file_of_it_would_pass_the_yaml_node_limit():
    layers = [{"conv": {"out": 8, "k": 3, "p": 1}, "name": f"c{i}"} for i in range(2000)]
    network = archcalc.load({"input": [8, 8, 8], "layers": layers})
    assert len(network.layers) == 2000 and network.layers[-1].inputs == ("c1998",)
    assert archcalc.analyze(network).totals.macs == 2000 * 3 * 3 * 8 * 8 * 8 * 8
    import yaml

    with pytest.raises(SpecError, match=f"more than {source.MAX_NODES:,} YAML nodes"):
        archcalc.load(yaml.safe_dump({"input": [8, 8, 8], "layers": layers}))


def test_programs_have_limits_too():
    builder = archcalc.Builder(input=(1, 1, 1))
    builder.add("relu")
    with pytest.raises(SpecError, match=f"more than {expand.PROGRAM_LIMITS.edges:,} connections"):
        for _ in range(expand.PROGRAM_LIMITS.edges // 1000 + 1):
            builder.add("concat", inputs=["relu1"] * 1000)
    with pytest.raises(SpecError, match="no layers"):
        archcalc.Builder(input=(1, 1, 1)).build()
    with pytest.raises(SpecError, match="expected input"):
        archcalc.Builder(input=(3, 0, 8))


def test_the_builders_example_runs_as_written():
    import doctest

    from archcalc import builder

    result = doctest.testmod(builder)
    assert result.attempted >= 5 and result.failed == 0
