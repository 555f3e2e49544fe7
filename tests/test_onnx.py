"""ONNX files analysed directly: files written here by torch.onnx.export, their figures held to torch's
(parameters, MACs by FlopCounterMode, the output shape) and to the bundled specs'; and hostile files,
each refused in one line."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

import archcalc
from archcalc import sizes
from archcalc.errors import ArchcalcError
from archcalc.onnxfile import MAX_DIM, MAX_NODES, load
from archcalc.symbolic import Expr
from tests.conftest import module_or_fail, torch_or_fail


@pytest.fixture(scope="module")
def onnx():
    return module_or_fail("onnx")


@pytest.fixture(scope="module")
def torch(onnx):
    return torch_or_fail()


def export(module, example, path, dynamic: dict | None = None, opset: int | None = None) -> str:
    """Write `module` (in eval mode) as ONNX with the TorchScript exporter (torch's default, the dynamo
    one, needs onnxscript), batch norm kept apart from the convolutions, and return the path."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, do_constant_folding=False,
                          input_names=["x"], output_names=["y"], dynamic_axes=dynamic, opset_version=opset)
    return str(path)


def torch_figures(module, example) -> tuple[int, int, tuple[int, ...]]:
    """Parameters, MACs (FlopCounterMode's FLOPs / 2) and the output shape after the batch, from torch."""
    import torch

    from archcalc.backends.measure import flop_counter

    counter = flop_counter()
    with torch.no_grad(), counter:
        out = module.eval()(example)
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


def assert_as_torch(path: str, module, example) -> archcalc.Report:
    report = archcalc.analyze(load(path))
    params, macs, shape = torch_figures(module, example)
    assert (report.totals.params, report.totals.macs, report.rows[-1].output) == (params, macs, shape)
    return report


def small_cnn(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
            self.left = nn.Conv2d(16, 8, 1)
            self.right = nn.Sequential(nn.Conv2d(16, 8, 3, padding=2, dilation=2, groups=8), nn.Hardswish())
            self.pool = nn.MaxPool2d(2)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 16, 1), nn.Hardsigmoid())
            self.deconv = nn.ConvTranspose2d(16, 4, 2, stride=2)
            self.head = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * 8 * 8, 10),
                                      nn.ReLU6(), nn.Linear(10, 5), nn.Tanh(), nn.Softmax(dim=1))

        def forward(self, x):
            x = self.stem(x)
            x = torch.cat([self.left(x), self.right(x)], 1)
            x = self.up(self.pool(x)) + x
            x = x * self.gate(x)
            a, b = torch.split(x, 8, dim=1)
            x = torch.cat([torch.sigmoid(a), torch.relu(b)], 1)
            x = torch.cat([x.chunk(2, dim=1)[1], x[:, :8]], 1)
            return self.head(self.deconv(x))

    return Net()


def test_a_small_cnn_has_torchs_figures(torch, tmp_path):
    module, example = small_cnn(torch), torch.randn(1, 3, 32, 32)
    report = assert_as_torch(export(module, example, tmp_path / "cnn.onnx"), module, example)
    kinds = {row.kind for row in report.rows}
    assert {"conv", "bn", "silu", "concat", "hardswish", "maxpool", "upsample", "add", "avgpool", "hardsigmoid",
            "mul", "split", "getitem", "sigmoid", "relu", "convtranspose", "flatten", "fc", "relu6", "tanh", "softmax"} <= kinds
    assert "stem.0" in {row.name for row in report.rows}


def test_resnet18_equals_torchvision_and_the_bundled_spec(torch, tmp_path):
    torchvision = module_or_fail("torchvision")
    module, example = torchvision.models.resnet18(), torch.randn(1, 3, 224, 224)
    report = assert_as_torch(export(module, example, tmp_path / "resnet18.onnx"), module, example)
    bundled = archcalc.analyze("resnet18")
    assert (report.totals.params, report.totals.macs) == (bundled.totals.params, bundled.totals.macs)
    assert report.totals.depth == bundled.totals.depth
    assert report.rows[0].name == "conv1" and "layer1.0.conv1" in {row.name for row in report.rows}


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x0_5", "densenet121", "convnext_tiny"])
def test_torchvision_models_have_torchs_figures(torch, tmp_path, name):
    # squeeze-and-excitation (a Mul by a gate), hardswish; a channel shuffle (Reshape, Transpose) and a mean
    # over H and W (ReduceMean); concatenations of one and of many tensors; LayerNorm between two
    # Transposes and a layer scale (a Mul by a weight [C, 1, 1])
    torchvision = module_or_fail("torchvision")
    module, example = torchvision.models.get_model(name), torch.randn(1, 3, 64, 64)
    assert_as_torch(export(module, example, tmp_path / f"{name}.onnx"), module, example)


@pytest.mark.parametrize("optimize", [False, True])
def test_torchs_default_exporter(torch, tmp_path, optimize):
    # torch.export-based (needs onnxscript), its weights in a file beside the model (external data, never
    # read). Unoptimised, the file is torch's model. Optimised (the default), each batch norm is folded into
    # its convolution, and the bias that makes is dropped where it is all zeros (a freshly built model's):
    # the file counts neither the norms' scale and shift nor a bias
    module_or_fail("onnxscript")
    torchvision = module_or_fail("torchvision")
    module, example = torchvision.models.resnet18().eval(), torch.randn(1, 3, 224, 224)
    path = str(tmp_path / "resnet18.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), path, optimize=optimize)
    report = archcalc.analyze(load(path))
    params, macs, shape = torch_figures(module, example)
    folded = 2 * sum(m.num_features for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)) if optimize else 0
    assert (report.totals.params, report.totals.macs, report.rows[-1].output) == (params - folded, macs, shape)
    assert {"layer1.0.add", "layer1.0.relu_2", "fc"} <= {row.name for row in report.rows}


def test_a_transformer_mlp_of_token_ids(torch, tmp_path):
    nn = torch.nn

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 32)
            self.norm = nn.LayerNorm(32)
            self.up = nn.Linear(32, 64)
            self.act = nn.GELU()
            self.down = nn.Linear(64, 32, bias=False)
            self.gelu_tanh = nn.GELU(approximate="tanh")
            self.head = nn.Linear(32, 100)

        def forward(self, ids):
            x = self.embed(ids)
            x = x + self.down(self.act(self.up(self.norm(x))))
            return torch.softmax(self.head(self.gelu_tanh(x)).transpose(1, 2), dim=-1)

    module, example = Mlp(), torch.randint(0, 100, (1, 12))
    report = assert_as_torch(export(module, example, tmp_path / "mlp.onnx"), module, example)
    assert [row.kind for row in report.rows] == ["embedding", "layernorm", "linear", "gelu", "linear", "add",
                                                 "gelu_tanh", "linear", "permute", "softmax"]
    assert [row.args.get("bias") for row in report.rows if row.kind == "linear"] == [True, False, True]


def test_gelu_before_opset_20_is_found_in_its_five_nodes(torch, tmp_path):
    nn = torch.nn
    module, example = nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 48), nn.GELU(), nn.Linear(48, 16)), torch.randn(1, 7, 16)
    report = assert_as_torch(export(module, example, tmp_path / "mlp17.onnx", opset=17), module, example)
    assert [row.kind for row in report.rows] == ["layernorm", "linear", "gelu", "linear"]


def test_a_dynamic_file_gives_formulas_that_evaluate_to_the_concrete_figures(torch, tmp_path):
    torchvision = module_or_fail("torchvision")
    module = torchvision.models.resnet18()
    dynamic = export(module, torch.randn(1, 3, 64, 64), tmp_path / "dynamic.onnx",
                     dynamic={"x": {0: "batch", 2: "height", 3: "width"}, "y": {0: "batch"}})
    network = load(dynamic)
    assert network.input == (3, Expr.var("H"), Expr.var("W"))
    symbolic = archcalc.analyze(network)
    assert symbolic.totals.macs.variables() == {"H", "W"}
    for height, width in ((64, 96), (97, 33)):
        example = torch.randn(1, 3, height, width)
        concrete = archcalc.analyze(load(export(module, example, tmp_path / f"{height}x{width}.onnx")))
        at = sizes.at(symbolic, {"H": height, "W": width, "B": 1}, network)
        figures = (at.totals.params, at.totals.macs, at.totals.activations, at.rows[-1].output)
        assert figures == (concrete.totals.params, concrete.totals.macs, concrete.totals.activations,
                           concrete.rows[-1].output)
        assert (at.totals.params, at.totals.macs) == torch_figures(module, example)[:2]


def test_a_square_dynamic_input_is_n_and_the_command_line_evaluates_it(torch, tmp_path, cli):
    torchvision = module_or_fail("torchvision")
    path = export(torchvision.models.resnet18(), torch.randn(1, 3, 64, 64), tmp_path / "r18.onnx",
                  dynamic={"x": {0: "batch", 2: "side", 3: "side"}})
    assert load(path).input == (3, Expr.var("N"), Expr.var("N"))
    ran = cli("table", path, "--at", "N=224", "--format", "json")
    assert ran.code == 0, ran.err
    bundled = archcalc.analyze("resnet18").totals
    totals = json.loads(ran.out)["totals"]
    assert (totals["params"], totals["macs"]) == (bundled.params, bundled.macs)


def test_an_input_given_replaces_the_files_before_inference(torch, tmp_path):
    torchvision = module_or_fail("torchvision")
    module, example = torchvision.models.resnet18(), torch.randn(1, 3, 96, 128)
    path = export(module, torch.randn(1, 3, 64, 64), tmp_path / "resnet18.onnx")
    report = archcalc.analyze(load(path, input=(3, 96, 128)))
    assert (report.totals.params, report.totals.macs, report.rows[-1].output) == torch_figures(module, example)
    with pytest.raises(ArchcalcError, match="--input has 2 sizes; the model's input has 3 after the batch"):
        load(path, input=(3, 96))
    # a file exported at a fixed size may hold that size (a channel shuffle's Reshape to [2, 24, 8, 8]): said
    shuffled = export(torchvision.models.shufflenet_v2_x0_5(), torch.randn(1, 3, 64, 64), tmp_path / "shufflenet.onnx")
    with pytest.raises(ArchcalcError, match=r"reshape to \[2, 24, 8, 8\] needs 3,072 elements; 48×12×16 has 9,216"):
        archcalc.analyze(load(shuffled, input=(3, 96, 128)))


def test_the_command_line_reads_a_file(torch, tmp_path, cli):
    module, example = small_cnn(torch), torch.randn(1, 3, 32, 32)
    ran = cli("table", export(module, example, tmp_path / "cnn.onnx"))
    params = torch_figures(module, example)[0]
    assert ran.code == 0 and f"{params:,} parameters" in ran.out, ran.err


# ── what no kind expresses, and hostile files ───────────────────────────────


def graph_file(tmp_path, nodes, inputs, outputs, initializers=(), name="model.onnx", domains=()) -> str:
    """Write a graph made with onnx.helper (opset 17, and version 1 of `domains`); returns its path."""
    from onnx import helper

    model = helper.make_model(helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers)),
                              opset_imports=[helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domains)])
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return str(path)


def tensor(name, dims, elem=1):
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, dims)


def one_line_error(cli, path: str) -> str:
    ran = cli("table", path)
    assert ran.code == 1 and ran.out == "", (ran.code, ran.out, ran.err)
    assert ran.err.count("\n") == 1 and "Traceback" not in ran.err and "internal error" not in ran.err, ran.err
    return ran.err


def test_an_op_with_no_kind_names_the_node_and_its_op(onnx, tmp_path, cli):
    from onnx import helper

    path = graph_file(tmp_path, [helper.make_node("Erf", ["x"], ["e"], name="/block/Erf"),
                                 helper.make_node("Relu", ["e"], ["y"], name="/act/Relu")],
                      [tensor("x", [1, 8])], [tensor("y", [1, 8])])
    assert "1 node with no archcalc kind: '/block/Erf' (Erf)" in one_line_error(cli, path)
    custom = graph_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="fused", domain="com.example")],
                        [tensor("x", [1, 8])], [tensor("y", [1, 8])], name="custom.onnx", domains=["com.example"])
    assert "1 node with no archcalc kind: 'fused' (Relu)" in one_line_error(cli, custom)


def test_allow_opaque_keeps_an_op_of_no_kind(onnx, tmp_path):
    from onnx import helper, numpy_helper
    import numpy

    path = graph_file(tmp_path, [helper.make_node("Erf", ["x"], ["e"], name="/block/Erf"),
                                 helper.make_node("Relu", ["e"], ["y"], name="/act/Relu")],
                      [tensor("x", [1, 8])], [tensor("y", [1, 8])])
    with pytest.raises(ArchcalcError, match=r"1 node with no archcalc kind: '/block/Erf' \(Erf\)"):
        load(path)
    weight = numpy_helper.from_array(numpy.zeros((8, 4), numpy.float32), "w")
    path = graph_file(tmp_path, [helper.make_node("Erf", ["x"], ["e"], name="/block/Erf"),
                                 helper.make_node("Einsum", ["e", "w"], ["y"], name="/mix/Einsum", equation="bi,ij->bj")],
                      [tensor("x", [1, 8])], [tensor("y", [1, 4])], [weight], name="opaque.onnx")
    report = archcalc.analyze(load(path, allow_opaque=True))
    assert [(row.kind, row.output, row.params) for row in report.rows] == [("opaque", (8,), 0), ("opaque", (4,), 8 * 4)]


def test_an_attribute_no_kind_expresses_is_refused(onnx, tmp_path, cli):
    from onnx import helper, numpy_helper
    import numpy

    weight = numpy_helper.from_array(numpy.zeros((4, 3, 3, 3), numpy.float32), "w")
    path = graph_file(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="/conv/Conv", pads=[0, 0, 1, 1])],
                      [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 4, 7, 7])], [weight])
    assert "node '/conv/Conv' (Conv) pads its sides unequally" in one_line_error(cli, path)


def test_truncated_and_garbage_files(torch, tmp_path, cli):
    module, example = small_cnn(torch), torch.randn(1, 3, 32, 32)
    whole = (tmp_path / "cnn.onnx")
    export(module, example, whole)
    raw = whole.read_bytes()
    for i, data in enumerate((raw[: len(raw) // 2], raw[:40], os.urandom(4096), b"", b"\x0a\xff\xff\xff\xff\x0f")):
        path = tmp_path / f"bad{i}.onnx"
        path.write_bytes(data)
        assert "not an ONNX model" in one_line_error(cli, str(path))


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (short payloads: tag and length one byte each, or a varint)."""
    length, varint = len(payload), b""
    while True:
        varint += bytes([(length & 0x7F) | (0x80 if length > 0x7F else 0)])
        length >>= 7
        if not length:
            break
    return bytes([number << 3 | 2]) + varint + payload


def test_changed_bytes_give_a_report_or_one_line(torch, tmp_path, cli):
    # each of 40 copies of a real file with 8 bytes changed at random (seeded): a table, or one clean line
    import random

    module, example = small_cnn(torch), torch.randn(1, 3, 32, 32)
    export(module, example, tmp_path / "cnn.onnx")
    raw = (tmp_path / "cnn.onnx").read_bytes()
    rng = random.Random(18)
    for i in range(40):
        changed = bytearray(raw)
        for _ in range(8):
            changed[rng.randrange(len(changed))] = rng.randrange(256)
        path = tmp_path / f"changed{i}.onnx"
        path.write_bytes(bytes(changed))
        ran = cli("table", str(path))
        assert ran.code == 0 or (ran.code == 1 and ran.err.count("\n") == 1), ran.err
        assert "Traceback" not in ran.err and "internal error" not in ran.err, ran.err


def test_deep_nesting_is_a_clean_error(onnx, tmp_path, cli):
    # a graph in an attribute of a node of a graph …, 200 deep (protobuf's libraries refuse to build it:
    # written byte by byte): GraphProto.node 1, NodeProto.attribute 5, AttributeProto.g 6, ModelProto.graph 7
    graph = b""
    for _ in range(200):
        graph = field(1, field(5, field(6, graph)) + field(4, b"If"))
    path = tmp_path / "deep.onnx"
    path.write_bytes(b"\x08\x08" + field(7, graph) + field(8, b"\x10\x11"))  # ir_version 8, opset 17
    assert "not an ONNX model" in one_line_error(cli, str(path))


def test_a_subgraph_is_refused(onnx, tmp_path, cli):
    from onnx import helper

    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["r"])], "b", [], [tensor("r", [1, 8])])
    path = graph_file(tmp_path, [helper.make_node("If", ["x"], ["y"], name="cond", then_branch=branch, else_branch=branch)],
                      [tensor("x", [1, 8])], [tensor("y", [1, 8])])
    assert "holds a subgraph" in one_line_error(cli, path)


def test_huge_declared_dims(onnx, tmp_path, cli):
    from onnx import TensorProto, helper

    relu = [helper.make_node("Relu", ["x"], ["y"])]
    huge = graph_file(tmp_path, relu, [tensor("x", [1, MAX_DIM + 1])], [tensor("y", [1, 8])], name="huge.onnx")
    assert "at most 8 dimensions, each from 0 to" in one_line_error(cli, huge)
    past_the_input = graph_file(tmp_path, relu, [tensor("x", [1, 10**9, 10**9])], [tensor("y", [1, 8])], name="big.onnx")
    assert "input" in one_line_error(cli, past_the_input)
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10**10, 3, 3, 3])
    conv = graph_file(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="/c/Conv")],
                      [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 4, 6, 6])], [weight], name="conv.onnx")
    assert "/c/Conv" in one_line_error(cli, conv)


def test_a_node_count_past_the_limit(onnx, tmp_path, cli):
    from onnx import helper

    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(MAX_NODES + 1)]
    path = graph_file(tmp_path, nodes, [tensor("t0", [1, 4])], [tensor(f"t{MAX_NODES + 1}", [1, 4])])
    assert f"{MAX_NODES + 1:,} nodes, more than {MAX_NODES:,}" in one_line_error(cli, path)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin", ""])
def test_external_data_outside_the_folder_is_refused(onnx, tmp_path, cli, location):
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 8], data_location=TensorProto.EXTERNAL)
    if location:
        weight.external_data.add(key="location", value=location)
    path = graph_file(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [tensor("x", [1, 4])], [tensor("y", [1, 8])], [weight])
    assert "outside the model's folder; refused" in one_line_error(cli, path)


def test_external_data_inside_the_folder_is_not_read(onnx, tmp_path):
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 8], data_location=TensorProto.EXTERNAL)
    weight.external_data.add(key="location", value="weights.bin")  # no such file: it is never opened
    path = graph_file(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [tensor("x", [1, 4])], [tensor("y", [1, 8])], [weight])
    assert archcalc.analyze(load(path)).totals.params == 4 * 8


def test_not_a_regular_file(onnx, tmp_path, cli):
    os.mkfifo(tmp_path / "fifo.onnx")  # never written to: a read that blocked would hang the test
    assert "not a regular file" in one_line_error(cli, str(tmp_path / "fifo.onnx"))
    (tmp_path / "dir.onnx").mkdir()
    assert "Is a directory" in one_line_error(cli, str(tmp_path / "dir.onnx"))
    assert "cannot read" in one_line_error(cli, str(tmp_path / "missing.onnx"))


def test_without_onnx_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # an import of onnx now fails, as where it is not installed
    with pytest.raises(ArchcalcError, match=r"needs the onnx package: pip install onnx"):
        load(str(tmp_path / "model.onnx"))


def test_the_docs_list_every_operator():
    from archcalc.onnxops import OPS

    text = (Path(__file__).resolve().parent.parent / "docs" / "onnx.md").read_text(encoding="utf-8")
    assert [op for op in OPS if f"`{op}`" not in text] == []


def test_a_weight_that_does_not_fit_its_input_is_refused(onnx, tmp_path, cli):
    """The engine prices a layer's weight from its input and its width: a weight declared for other features
    would be priced as the file does not hold it (7,200 inputs against a 10⁹-row weight), so it is refused."""
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10**9, 10])
    gemm = graph_file(tmp_path, [helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm")],
                      [tensor("x", [1, 7200])], [tensor("y", [1, 10])], [weight], name="gemm.onnx")
    assert "has a weight for 1,000,000,000 input features, but its input [1, 7200] has 7,200" in one_line_error(cli, gemm)
    kernel = TensorProto(name="k", data_type=TensorProto.FLOAT, dims=[4, 5, 3, 3])
    conv = graph_file(tmp_path, [helper.make_node("Conv", ["x", "k"], ["y"], name="/c/Conv")],
                      [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 4, 6, 6])], [kernel], name="conv.onnx")
    assert "has a weight for 5 input channels, but its input [1, 3, 8, 8] has 3" in one_line_error(cli, conv)


def test_a_named_size_past_three_spatial_axes_is_refused(onnx, tmp_path, cli):
    from onnx import helper

    path = graph_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")],
                      [tensor("x", [1, 3, 4, 5, 6, "h"])], [tensor("y", [1, 3, 4, 5, 6, "h"])])
    assert "the input has 4 spatial sizes, one of them named" in one_line_error(cli, path)


@pytest.mark.parametrize("op", ["Add", "Mul"])
def test_a_text_constant_is_never_computed_with(onnx, tmp_path, cli, op):
    # "ab" + 2⁴⁰ would be a TypeError, "ab" · 2⁴⁰ a string of a terabyte: a text is no value of the graph's
    from onnx import TensorProto, helper

    text = helper.make_tensor("s", TensorProto.STRING, [1], [b"ab"])
    count = helper.make_tensor("n", TensorProto.INT64, [1], [1 << 40])
    path = graph_file(tmp_path, [helper.make_node("Constant", [], ["s"], value=text),
                                 helper.make_node("Constant", [], ["n"], value=count),
                                 helper.make_node(op, ["s", "n"], ["m"]), helper.make_node("Relu", ["x"], ["y"])],
                      [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 3, 8, 8])])
    ran = cli("table", path)
    assert ran.code == 0 and "relu" in ran.out, ran.err


def test_fold_leaves_what_arithmetic_cannot_take_unknown():
    from archcalc.onnxfold import fold

    assert fold("Add", {}, [["ab"], [1]]) is None


def test_a_weight_read_by_two_nodes_is_counted_once_or_refused(onnx, tmp_path, cli):
    # a tied LM head (Gather on the table, MatMul by its Transpose) shares the table; two Conv nodes on one
    # weight would count it twice, and are refused
    from onnx import TensorProto, helper, numpy_helper
    import numpy

    vocab, dim, tokens = 1000, 64, 16
    table = numpy_helper.from_array(numpy.zeros((vocab, dim), numpy.float32), "wte")
    tied = graph_file(tmp_path, [helper.make_node("Gather", ["wte", "x"], ["e"], name="/wte/Gather"),
                                 helper.make_node("Transpose", ["wte"], ["wt"], perm=[1, 0], name="/lm_head/Transpose"),
                                 helper.make_node("MatMul", ["e", "wt"], ["y"], name="/lm_head/MatMul")],
                      [tensor("x", [1, tokens], TensorProto.INT64)], [tensor("y", None)], [table], name="tied.onnx")
    report = archcalc.analyze(load(tied))
    assert [(row.kind, row.params) for row in report.rows] == [("embedding", vocab * dim), ("linear", 0)]
    assert report.totals.params == vocab * dim
    kernel = numpy_helper.from_array(numpy.zeros((4, 4, 3, 3), numpy.float32), "w")
    shared = graph_file(tmp_path, [helper.make_node("Conv", ["x", "w"], ["a"], name="/c1/Conv", pads=[1, 1, 1, 1]),
                                   helper.make_node("Conv", ["a", "w"], ["y"], name="/c2/Conv", pads=[1, 1, 1, 1])],
                        [tensor("x", [1, 4, 8, 8])], [tensor("y", None)], [kernel], name="shared.onnx")
    assert "node '/c2/Conv' (Conv) reads the weight 'w' that layer 'c1' holds" in one_line_error(cli, shared)


def test_a_small_constant_in_external_data_is_not_read(onnx, tmp_path, cli, monkeypatch):
    # a Reshape's target kept in a file beside the model: never opened (onnx's reader would take it from the
    # working folder), so the target is unknown and the Reshape refused
    from onnx import TensorProto, helper
    import numpy

    target = TensorProto(name="t", data_type=TensorProto.INT64, dims=[3], data_location=TensorProto.EXTERNAL)
    target.external_data.add(key="location", value="target.bin")
    numpy.array([0, 3, 4], numpy.int64).tofile(tmp_path / "target.bin")
    path = graph_file(tmp_path, [helper.make_node("Reshape", ["x", "t"], ["y"], name="/r/Reshape")],
                      [tensor("x", [1, 12])], [tensor("y", None)], [target])
    monkeypatch.chdir(tmp_path)
    assert "node '/r/Reshape' (Reshape) reshapes to sizes computed in the graph" in one_line_error(cli, path)


def test_a_batch_norm_or_gemm_weight_of_the_wrong_shape_is_refused(onnx, tmp_path, cli):
    from onnx import TensorProto, helper

    stats = [TensorProto(name=n, data_type=TensorProto.FLOAT, dims=[9]) for n in ("g", "b", "m", "v")]
    bn = graph_file(tmp_path, [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="/bn/BN")],
                    [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 3, 8, 8])], stats, name="bn.onnx")
    assert "has a weight for 9 channels, but its input [1, 3, 8, 8] has 3" in one_line_error(cli, bn)
    flat = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8])
    gemm = graph_file(tmp_path, [helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm")],
                      [tensor("x", [1, 8])], [tensor("y", None)], [flat], name="gemm.onnx")
    assert "node '/fc/Gemm' (Gemm) multiplies by a weight of shape [8]" in one_line_error(cli, gemm)


def test_a_symbolic_input_given_replaces_the_files(onnx, tmp_path, cli):
    # the shapes are inferred at 3×H×W, not the file's 3×8×8: the Reshape's size follows H and W
    from onnx import helper, numpy_helper
    import numpy

    weights = [numpy_helper.from_array(numpy.zeros((4, 3, 3, 3), numpy.float32), "w"),
               numpy_helper.from_array(numpy.array([0, -1], numpy.int64), "t")]
    path = graph_file(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], name="/conv/Conv"),
                                 helper.make_node("Reshape", ["c", "t"], ["y"], name="/r/Reshape")],
                      [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], weights)
    ran = cli("table", path, "--input", "3xHxW", "--at", "H=10,W=12", "--format", "json")
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["totals"]["macs"] == 4 * 3 * 3 * 3 * (10 - 2) * (12 - 2)
    assert report["layers"][-1]["output"] == [4 * (10 - 2) * (12 - 2)]


def test_an_analysis_error_names_the_file(onnx, tmp_path, cli):
    from onnx import helper, numpy_helper
    import numpy

    index = numpy_helper.from_array(numpy.array(-7, numpy.int64), "i")
    path = graph_file(tmp_path, [helper.make_node("Gather", ["x", "i"], ["y"], name="/pick/Gather", axis=1)],
                      [tensor("x", [1, 3])], [tensor("y", None)], [index])
    assert one_line_error(cli, path).startswith(f"error: {path}: layers[0].getitem")


def test_a_command_that_needs_numbers_suggests_the_inputs_own_sizes(onnx, tmp_path, cli):
    from onnx import helper

    path = graph_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")],
                      [tensor("x", [1, 3, "height", "width"])], [tensor("y", [1, 3, "height", "width"])], name="hw.onnx")
    ran = cli("compare", path, path)
    assert ran.code == 1 and "hw's is symbolic (3×H×W)" in ran.err and "--at H=224,W=224`" in ran.err, ran.err


def test_check_says_it_reads_specs_given_an_onnx_file(onnx, tmp_path, cli):
    from onnx import helper

    path = graph_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")], [tensor("x", [1, 8])],
                      [tensor("y", [1, 8])])
    from archcalc.safe import clip

    ran = cli("check", path)
    assert ran.code == 2 and f"check reads specs (YAML); '{clip(path, 80)}' is a model" in ran.err, ran.err
    assert ran.err.count("\n") == 1 and "Traceback" not in ran.err


def test_an_empty_optional_input_keeps_its_place_when_folding(onnx):
    """Slice(data, starts, ends, "", steps): the empty `axes` is not dropped, which made the steps read as
    the axes and the slice's value wrong ([1, 3, 8, 8] for a stride of 2); the value is now unknown."""
    from onnx import helper, numpy_helper
    import numpy

    from archcalc.onnxgraph import _Walk

    consts = [numpy_helper.from_array(numpy.array([v], numpy.int64), name) for name, v in
              (("starts", 0), ("ends", 4), ("steps", 2))]
    shape = helper.make_node("Shape", ["x"], ["s"])
    sliced = helper.make_node("Slice", ["s", "starts", "ends", "", "steps"], ["sl"])
    graph = helper.make_graph([shape, sliced], "g", [tensor("x", [1, 3, 8, 8])], [tensor("sl", [2], 7)], consts)
    walk = _Walk(graph, "f.onnx", "f")
    walk._fold(shape)
    walk._fold(sliced)
    assert walk.folded["s"] == [1, 3, 8, 8] and "sl" not in walk.folded
