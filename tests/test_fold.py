"""archcalc.fold writes a flat network whose names are module paths as a spec of blocks, and `archcalc import`
writes it: the spec expands to the same names and loads back to the same figures."""

from __future__ import annotations

import pytest
import yaml

import archcalc
from archcalc import catalog
from archcalc.errors import SpecError
from archcalc.fold import fold
from archcalc.schema import spec_schema
from conftest import module_or_fail

SPECS = sorted(catalog.bundled())


def loaded(text: str, name: str) -> archcalc.ir.Network:
    """A spec's text loaded as a file, or as the data it holds past a file's limits (a flat ResNet-1202)."""
    try:
        return archcalc.load(text, name=name)
    except SpecError as err:
        assert "YAML nodes" in str(err) or "longer than" in str(err), err
        return archcalc.load(yaml.safe_load(text))


def flat(name: str) -> archcalc.ir.Network:
    """A bundled network dumped flat and read back: its names dotted paths, no block instances."""
    return loaded(archcalc.dump(archcalc.load(name)), name)


def figures(network: archcalc.ir.Network) -> dict:
    report = archcalc.analyze(network).to_dict()
    return {key: report[key] for key in ("layers", "totals", "train_memory")}


def layer_lines(text: str) -> int:
    return sum(line.lstrip().startswith("- ") for line in text.splitlines())


@pytest.mark.parametrize("name", SPECS)
def test_every_bundled_spec_flattened_folds_back_to_its_names_and_figures(name):
    network = flat(name)
    text = fold(network)
    again = loaded(text, name)
    assert [layer.name for layer in again.layers] == [layer.name for layer in network.layers]
    assert [layer.inputs for layer in again.layers] == [layer.inputs for layer in network.layers]
    assert figures(again) == figures(network)
    assert (again.reference, again.outputs) == (network.reference, network.outputs)
    assert layer_lines(text) <= len(network.layers)


def test_resnet50_flattened_folds_into_stages_of_one_bottleneck_block():
    network = flat("resnet50")
    text = fold(network)
    spec = yaml.safe_load(text)
    stages = [item for item in spec["layers"] if str(item.get("name", "")).startswith("conv") and "_x" in item["name"]]
    assert [item["name"] for item in stages][-3:] == ["conv3_x", "conv4_x", "conv5_x"]
    assert {next(iter(item)) for item in stages[-3:]} == {"conv3_x"}  # one block for the three stages alike
    assert {next(iter(item)) for item in stages[:-3]} == {"bottleneck"}  # the first's stride-1 bottlenecks, inline
    assert spec["blocks"]["conv3_x"]["layers"][-1]["bottleneck"] == ["out", 1]
    assert layer_lines(text) <= 60 < len(network.layers)
    assert "out * 4" in text  # the bottleneck's expansion, an expression of its width
    assert "from: in" in text  # the shortcut reads the block's input


def test_a_module_path_network_folds_into_numbered_blocks():
    builder = archcalc.Builder(input=(3, 32, 32), name="net")
    builder.add("conv", {"out": 16, "k": 3, "p": 1}, name="stem")
    for stage, width in enumerate((16, 32, 64), start=1):
        for index in range(3):
            prefix = f"layer{stage}.{index}"
            entry = builder.add("relu", name=f"{prefix}.relu")
            builder.add("conv", {"out": width, "k": 3, "p": 1, "s": 2 if index == 0 and stage > 1 else 1},
                        name=f"{prefix}.conv1")
            body = builder.add("bn", name=f"{prefix}.bn1")
            if index == 0 and stage > 1:
                entry = builder.add("conv", {"out": width, "k": 1, "s": 2}, inputs=entry, name=f"{prefix}.downsample.0")
            builder.add("add", inputs=[body, entry], name=f"{prefix}.add")
    builder.add("avgpool", "global", name="pool")
    builder.add("fc", 10, name="fc")
    network = builder.build()
    text = fold(network, reference="package.module:net")
    again = archcalc.load(text)
    assert [layer.name for layer in again.layers] == [layer.name for layer in network.layers]
    assert figures(again) == figures(network)
    assert again.reference == "package.module:net"
    spec = yaml.safe_load(text)
    assert len(spec["blocks"]) >= 2 and len(spec["layers"]) < len(network.layers) // 3
    repeated = [item for block in spec["blocks"].values() for item in block["layers"] if "repeat" in item]
    assert repeated and all(item["name"] == "1" for item in repeated)  # layerN.1, layerN.2: one item, numbered on


def test_a_network_with_nothing_repeated_is_written_flat():
    builder = archcalc.Builder(input=(8,), name="mlp")
    builder.add("fc", 16, name="encoder.fc")
    builder.add("fc", 4, name="head")
    text = fold(builder.build())
    assert "blocks:" not in text
    assert archcalc.load(text).layers[0].name == "encoder.fc"


def test_import_writes_a_folded_spec_that_checks_clean(cli, tmp_path):
    out = tmp_path / "r.yaml"
    ran = cli("import", "resnet50", "-o", str(out))
    assert (ran.code, ran.out) == (0, "") and f"wrote {out}" in ran.err
    assert out.read_text(encoding="utf-8") == fold(archcalc.load("resnet50"))
    checked = cli("check", str(out))
    assert checked.code == 0, checked.out
    assert "0 findings" in checked.out + checked.err
    assert cli("table", str(out), "--format", "json").out == cli("table", "resnet50", "--format", "json").out


def test_import_prints_to_stdout_and_takes_an_input(cli):
    ran = cli("import", "resnet18", "--input", "3x160x160", "-o", "-")
    assert ran.code == 0 and ran.out == cli("import", "resnet18", "--input", "3x160x160").out
    assert yaml.safe_load(ran.out)["input"] == [3, 160, 160]


@pytest.mark.parametrize("args, code, message", [
    (("import", "nosuch"), 1, "error: unknown network 'nosuch'"),
    (("import", "resnet18", "-o", "missing-dir/r.yaml"), 1, "error: cannot write missing-dir/r.yaml"),
    (("import", "resnet18", "-o", "r.txt"), 2, "error: --output/-o: expected a file name ending in .yaml or .yml"),
    (("import", "vgg16", "--input", "3x16x16", "-o", "r.yaml"), 1, "error: specs/vgg16.yaml:26:5: layers[9].maxpool "
                                                                  "'pool5': output size 0"),
])
def test_import_errors_are_one_line(cli, args, code, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = cli(*args)
    assert (ran.code, ran.out) == (code, "") and not list(tmp_path.iterdir())
    assert ran.err.startswith(message) and ran.err.count("\n") == 1


def test_import_of_a_torchvision_model_reads_as_its_stages_and_keeps_its_figures(cli, tmp_path):
    module_or_fail("torchvision", "pip install 'archcalc[torch]'")
    out = tmp_path / "r50.yaml"
    assert cli("import", "torchvision:resnet50", "-o", str(out)).code == 0
    assert cli("check", str(out)).code == 0
    text = out.read_text(encoding="utf-8")
    spec, again, imported = yaml.safe_load(text), archcalc.load(str(out)), catalog.load("torchvision:resnet50")
    assert [layer.name for layer in again.layers] == [layer.name for layer in imported.layers]
    assert figures(again) == figures(imported)
    assert spec["reference"] == "torchvision:resnet50"
    verified = cli("verify", str(out), "--against", "spec")  # the spec built in torch, and the model it names
    assert verified.code == 0 and "torchvision:resnet50" in verified.out, verified.out + verified.err
    stages = [item for item in spec["layers"] if "layer" in item]  # one block for the four stages
    assert [item["layer"][-1] + 1 for item in stages] == [3, 4, 6, 3]  # the bottlenecks after each stage's first
    assert layer_lines(text) <= 60 < len(imported.layers)
    module_or_fail("jsonschema").validate(spec, spec_schema())  # what an editor's language server reads


def test_in_names_a_blocks_input_and_a_number_named_repeat_counts_on(write_spec):
    network = archcalc.load(write_spec("""
        input: [4, 8, 8]
        blocks:
          residual: {args: [width], layers: [{conv: {out: width, k: 1}}, {add: {from: [conv1, in]}}]}
        layers:
          - {residual: [4], name: '1', repeat: 2}
          - {residual: [4], name: stage.5, repeat: 2}
          - {conv: {out: 4, k: 1}, name: conv, repeat: 2}
          - {conv: {out: 4, k: 1}, name: h_0, repeat: 2}
    """))
    assert [(layer.name, layer.inputs) for layer in network.layers] == [
        ("1.conv1", ("input",)), ("1.add1", ("1.conv1", "input")),
        ("2.conv1", ("1.add1",)), ("2.add1", ("2.conv1", "1.add1")),
        ("stage.5.conv1", ("2.add1",)), ("stage.5.add1", ("stage.5.conv1", "2.add1")),
        ("stage.6.conv1", ("stage.5.add1",)), ("stage.6.add1", ("stage.6.conv1", "stage.5.add1")),
        ("conv_1", ("stage.6.add1",)), ("conv_2", ("conv_1",)),  # other names numbered as the papers do
        ("h_0", ("conv_2",)), ("h_1", ("h_0",)),
    ]


def test_in_outside_a_block_is_no_layer(write_spec):
    with pytest.raises(SpecError, match="'from' names 'in', which is not an earlier layer"):
        archcalc.load(write_spec("input: [4, 8, 8]\nlayers:\n  - {conv: {out: 4, k: 1}}\n  - {add: {from: [conv1, in]}}\n"))
