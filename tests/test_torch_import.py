"""Bring your own model: a module of the user's code, and torchvision's, analysed through the command line,
each figure against torch's (parameters, FlopCounterMode's MACs, the output shape) or the bundled spec's."""

from __future__ import annotations

import json
import textwrap

import pytest

from conftest import module_or_fail, torch_or_fail

torch = torch_or_fail()
module_or_fail("torchvision", "pip install torchvision")

from archcalc import catalog  # noqa: E402
from archcalc.backends.importer import import_module  # noqa: E402
from archcalc.backends.importer.roundtrip import measure  # noqa: E402

USER_MODULE = '''
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """Functional calls beside modules: F.relu, +, torch.cat, F.max_pool2d, x.flatten(1), x.mean."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.side = nn.Conv2d(3, 8, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 8 * 8, classes)
        self.gate = nn.Linear(16 * 8 * 8, classes, bias=False)

    def forward(self, x):
        a = F.relu(self.conv(x))
        y = torch.cat([a, a + self.side(x)], 1)
        y = F.max_pool2d(F.relu(self.bn(y)), 2)
        return self.fc(y.flatten(1)) * torch.sigmoid(self.gate(y.flatten(1)))


def make():
    return Net()


make.archcalc_input = (3, 16, 16)


class Rolled(Net):
    def forward(self, x):
        return torch.roll(self.conv(x), 1, 2).flatten(1)


class Branchy(Net):
    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return self.side(x)


class Exported(Net):
    """export refuses it; fx traces it."""

    def forward(self, x):
        if torch.compiler.is_exporting():
            raise RuntimeError("not under export")
        return super().forward(x)
'''


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    (tmp_path / "usernet.py").write_text(textwrap.dedent(USER_MODULE), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("usernet")


def totals(ran):
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def test_a_user_module_with_functional_calls_equals_torch(cli, user_code):
    got = totals(cli("table", "usernet:make", "--format", "json"))
    with torch.device("meta"):
        model = user_code.make()
    params, macs, output = measure(model, (3, 16, 16))
    assert (got["totals"]["params"], got["totals"]["macs"], tuple(got["layers"][-1]["output"])) == (params, macs, output)
    names = [layer["name"] for layer in got["layers"]]
    assert {"conv", "side", "bn", "fc", "add", "cat", "flatten"} <= set(names)
    assert "torch.export" in got["source"]


def test_input_is_given_to_the_trace_and_required_without_a_default(cli, user_code):
    wide = totals(cli("table", "usernet:Net", "--input", "3x16x16", "--format", "json"))
    assert wide["input"] == [3, 16, 16]
    refused = cli("table", "usernet:Net")
    assert refused.code == 1 and refused.err.count("\n") == 1
    assert "give --input" in refused.err and "Net.archcalc_input" in refused.err


def test_what_no_kind_expresses_is_listed_or_kept_opaque(cli, user_code):
    refused = cli("table", "usernet:Rolled", "--input", "3x16x16")
    assert refused.code == 1 and refused.err.count("\n") == 1
    assert "aten.roll" in refused.err and "--allow-opaque" in refused.err
    kept = cli("table", "usernet:Rolled", "--input", "3x16x16", "--allow-opaque")
    assert kept.code == 0, kept.err
    assert "MACs at least" in kept.out and "MACs unknown: opaque aten.roll" in kept.out
    data = totals(cli("table", "usernet:Rolled", "--input", "3x16x16", "--allow-opaque", "--format", "json"))
    opaque = [layer for layer in data["layers"] if layer["kind"] == "opaque"]
    assert [layer["output"] for layer in opaque] == [[8, 16, 16]] and opaque[0]["flags"]


def test_data_dependent_control_flow_names_the_users_line(cli, user_code):
    refused = cli("table", "usernet:Branchy", "--input", "3x16x16")
    assert refused.code == 1 and refused.err.count("\n") == 1 and "Traceback" not in refused.err
    line = USER_MODULE.splitlines().index("        if x.sum() > 0:") + 1  # lines count from 1
    assert f"usernet.py:{line}" in refused.err and "depends on the input's data" in refused.err


def test_fx_where_export_fails_and_said(user_code):
    with torch.device("meta"):
        model = user_code.Exported()
    network = import_module(model, (3, 16, 16), "exported")
    assert "torch.fx (torch.export failed: RuntimeError: not under export)" in network.source
    with torch.device("meta"):
        plain = import_module(user_code.Net(), (3, 16, 16), "plain")
    assert [(layer.name, layer.kind) for layer in network.layers] == [(layer.name, layer.kind) for layer in plain.layers]


def test_bad_model_names_are_one_line(cli, user_code):
    for name, words in (("timm:resnet50", "timm is not installed (pip install timm)"),
                        ("torchvision:resnet5", "did you mean 'resnet50'"),
                        ("usernet:absent", "no callable 'absent'"),
                        ("nosuchpackage.models:make", "cannot import nosuchpackage.models"),
                        ("torchvision:resnet50(weights=1)", "weights")):
        ran = cli("table", name)
        assert ran.code == 1 and words in ran.err and ran.err.count("\n") == 1, (name, ran.err)


@pytest.mark.parametrize("model, spec", [("torchvision:resnet50", "resnet50-tv"), ("torchvision:vit_b_16", "vit-b16")])
def test_imported_torchvision_models_equal_the_bundled_specs(cli, model, spec):
    imported, bundled = (totals(cli("table", name, "--format", "json")) for name in (model, spec))
    assert imported["totals"] == bundled["totals"]
    assert imported["train_memory"] == bundled["train_memory"]


def test_fit_of_an_imported_model_equals_the_bundled_spec(cli):
    imported = cli("fit", "torchvision:vit_b_16", "--memory", "24GiB", "--train", "--format", "json")
    bundled = cli("fit", "vit-b16", "--memory", "24GiB", "--train", "--format", "json")
    assert imported.code == bundled.code == 0, imported.err
    drop = lambda data: {k: v for k, v in json.loads(data).items() if k not in ("name", "network")}  # noqa: E731
    assert drop(imported.out) == drop(bundled.out)


def test_the_python_api_takes_a_model_name():
    import archcalc

    network = archcalc.load("torchvision:squeezenet1_1")
    assert network.reference == "torchvision:squeezenet1_1" and network.layers[0].name == "features.0"
    assert catalog.load("torchvision:squeezenet1_1", (3, 64, 64)).input == (3, 64, 64)
