"""archcalc.dump writes a network back as a flat spec that loads to the same figures and names."""

from __future__ import annotations

import pytest
import yaml

import archcalc
from archcalc import catalog, source
from archcalc.errors import SpecError

SPECS = sorted(catalog.bundled())


def reloaded(network: archcalc.ir.Network) -> tuple[str, archcalc.ir.Network]:
    """The dump's text and what it loads back to: as YAML text where a file's limits allow it, else as
    the data it holds (a flat ResNet-1202 passes a file's 10,000 YAML nodes)."""
    text = archcalc.dump(network)
    try:
        return text, archcalc.load(text, name=network.name)
    except SpecError as err:
        assert "YAML nodes" in str(err) or "longer than" in str(err), err
        return text, archcalc.load(yaml.safe_load(text))


def test_densenet121_dumped_loads_back_to_the_same_figures_and_names():
    network = archcalc.load("densenet121")
    text = archcalc.dump(network)
    again = archcalc.load(text)
    assert archcalc.analyze(again).to_dict()["totals"] == archcalc.analyze(network).to_dict()["totals"]
    assert [(layer.name, layer.kind, layer.inputs) for layer in again.layers] == \
        [(layer.name, layer.kind, layer.inputs) for layer in network.layers]
    assert (again.name, again.title, again.source, again.reference) == \
        (network.name, network.title, network.source, network.reference)
    assert "name: denseblock1.denselayer1.branch2.conv1" in text
    assert "bias: false" in text and "act: null" not in text  # defaults left out
    assert text.count("from:") < len(network.layers) // 4  # only where the input is not the layer before


@pytest.mark.parametrize("name", SPECS)
def test_every_bundled_spec_dumped_loads_back_to_the_same_totals(name):
    network = archcalc.load(name)
    _, again = reloaded(network)
    assert archcalc.analyze(again).to_dict()["totals"] == archcalc.analyze(network).to_dict()["totals"]
    assert [layer.name for layer in again.layers] == [layer.name for layer in network.layers]
    assert archcalc.dump(again) == archcalc.dump(network)  # a fixed point: dumping the dump changes nothing


def test_a_dump_past_a_files_limits_is_refused_as_a_file_and_read_as_data():
    text, again = reloaded(archcalc.load("resnet1202"))
    with pytest.raises(SpecError, match=f"more than {source.MAX_NODES:,} YAML nodes|longer than"):
        archcalc.load(text)
    assert len(again.layers) == len(archcalc.load("resnet1202").layers)


def test_a_builder_network_dumps_to_its_spec():
    builder = archcalc.Builder(input=(3, 32, 32), name="tiny")
    builder.add("conv", {"out": 16, "k": 3, "p": 1, "act": "relu"})
    builder.add("avgpool", "global")
    builder.add("view", [-1], name="flat")
    builder.add("fc", 10)
    assert archcalc.dump(builder.build()) == (
        "version: 1\nname: tiny\ninput: [3, 32, 32]\nlayers:\n"
        "  - {conv: {out: 16, k: 3, p: 1, act: relu}}\n  - {avgpool: global}\n  - {view: [-1], name: flat}\n"
        "  - {fc: 10}\n")
