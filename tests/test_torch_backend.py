"""The torch backend builds every kind as a real module whose figures are the engine's."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

import archcalc
from archcalc import analyze, catalog
from archcalc.rules import ACTIVATIONS, RULES
from conftest import REPO, torch_or_fail

# Every layer kind at least once, with the options that change what torch builds.
ZOO = """
version: 1
name: zoo
title: every layer kind once
input: [3, 32, 32]
layers:
  - conv: {out: 8, k: 3, p: same, bn: true, bias: true, act: relu, name: c1}
  - conv: {out: 8, k: 2, p: same, act: gelu, name: even}       # uneven 'same' padding
  - conv: {out: 8, k: 3, p: 2, d: 2, groups: 2, act: leaky_relu, name: dil}
  - conv: {out: 6, k: [3, 1], p: [1, 0], act: elu, name: rect}
  - conv: {out: 4, k: 3, p: 1, table: [[0, 1, 2], [3, 4, 5], [0, 5], [1, 2, 3, 4, 5]], act: tanh, name: table}
  - subsample: {k: 2, act: sigmoid, name: sub}
  - lrn: {size: 3, alpha: 0.001, beta: 0.5, k: 1, name: norm}
  - conv: {out: 16, k: 1, act: relu6, name: widen}
  - maxpool: {k: 3, s: 2, ceil: true, name: ceil}
  - concat:
      - - maxpool: {k: 3, s: 1, p: 1}
      - - avgpool: {k: 3, s: 1, p: 1}
        - relu: {}
      - - conv: {out: 8, k: 3, p: 1, act: silu}
        - hardswish: {}
    name: mix
  - shortcut: {out: 48, s: 2, mode: pad, name: padsc}
  - shortcut: {out: 48, s: 2, bn: false, from: mix, name: proj}
  - shortcut: {from: padsc, name: ident}
  - add: {from: [padsc, proj, ident], act: relu, name: sum3}
  - bn: {eps: 0.001, name: bn2}
  - maxpool: {k: 2, name: mp}
  - avgpool: {output: [2, 1], name: adapt}
  - maxpool: {global: true, name: gmax}
  - avgpool: {global: true, name: gavg}
  - flatten: {name: flat}
  - dropout: {p: 0.2, name: drop}
  - fc: {out: 32, bn: true, act: relu, name: fc1}
  - bn: {name: bn1d}
  - relu6: {}
  - leaky_relu: {}
  - elu: {}
  - tanh: {}
  - sigmoid: {}
  - gelu: {}
  - silu: {}
  - hardswish: {}
  - relu: {}
  - fc: {out: 16, act: tanh, name: fc2}
  - rbf: {out: 5, name: rbf}
  - softmax: {name: prob}
"""

# The kinds of today's networks, each once: an SE gate, a ConvNeXt block, a U-Net crop, Swin's windows, ViT tokens.
MODERN_ZOO = """
version: 1
name: modern-zoo
input: [8, 16, 16]
blocks:
  expert:
    layers: [linear: {out: 24, act: gelu}, linear: 32]
  se:
    args: [squeeze]
    mul:
      - []
      - - avgpool: global
        - conv: {out: squeeze, k: 1, act: silu}
        - conv: {out: in_channels, k: 1}
        - hardsigmoid:
  cnblock:
    add:
      - - conv: {out: in_channels, k: 7, p: 3, groups: in_channels}
        - permute: [1, 2, 0]
        - layernorm: {eps: 1e-6}
        - linear: {out: 4 * in_features, act: gelu}
        - linear: in_features
        - permute: [2, 0, 1]
        - scale:
        - stochastic_depth: 0.1
      - []
layers:
  - conv: {out: 16, k: 3, p: 1, bn: true, act: relu, name: stem}
  - se: [in_channels // 4]
  - cnblock:
  - layernorm: {over: channels}
  - groupnorm: 4
  - split: {parts: 2, part: 2, name: half}
  - shuffle: 2
  - convtranspose: {out: 8, k: 3, s: 2, p: 1, output_padding: 1, bn: true, act: relu, name: up}
  - crop: {from: [up, half], name: cropped}
  - upsample: {scale: 2, mode: bilinear}
  - permute: [1, 2, 0]
  - window_attention: {heads: 2, window: 5, shift: 2}             # 32×32 padded to 35×35: 7×7 windows
  - patch_merging:
  - permute: {dims: [2, 0, 1], name: pooled}
  - patch_embed: {dim: 32, patch: 4, name: patches}
  - conv: {out: 32, k: 4, s: 4, from: pooled}
  - tokens:
  - add: {from: [patches, tokens1]}
  - class_token:
  - pos_embed:
  - attention: 4
  - layernorm:
  - split: {parts: 2, dim: 1, name: halves}                         # a sequence's features, both halves
  - concat: {from: ["halves:1", "halves:0"], dim: 1}
  - moe: {experts: 3, top: 2, body: expert}
  - reshape: [-1, 16]
  - view: [17, 32]
  - getitem: {dim: 1, start: 0, stop: 16}
  - token: 0
  - dropout: 0.0
  - linear: 10
  - opaque: {shape: [3, 2], params: 5, op: aten.roll}
"""


@pytest.fixture(scope="module")
def torch():
    return torch_or_fail()


@pytest.fixture(scope="module")
def backend(torch):
    from archcalc.backends import torch_backend

    return torch_backend()


@pytest.fixture
def zoo(write_spec):
    return catalog.load(write_spec(ZOO, "zoo.yaml"))


def test_every_kind_has_a_factory(backend):
    assert set(backend.FACTORIES) == set(RULES)
    assert set(backend.ACTIVATION_MODULES) == set(ACTIVATIONS)


def test_each_torch_facet_lives_in_its_rules_family(backend):
    """The backend mirrors archcalc.rules: every rule's torch facet sits in the family module of the
    same name, and a family holds no facet without a rule (nor one that another family also claims)."""
    import importlib

    from archcalc.backends.torch.kinds import FAMILIES

    for family in FAMILIES:
        rules = importlib.import_module(f"archcalc.rules.{family.__name__.rsplit('.', 1)[-1]}")
        assert set(family.FACTORIES) == {rule.kind for rule in rules.RULES}, family.__name__
    assert sum(len(family.FACTORIES) for family in FAMILIES) == len(RULES)


@pytest.fixture
def modern_zoo(write_spec):
    return catalog.load(write_spec(MODERN_ZOO, "modern-zoo.yaml"))


# A language model's kinds: token ids in, a tied head out.
LM_ZOO = """
name: lm-zoo
input: {ids: 12}
layers:
  - embedding: {vocab: 50, dim: 16, padding_idx: 0, name: wte}
  - pos_embed: {max: 20}
  - type_embed: 2
  - rmsnorm:
  - attention: {heads: 4, kv_heads: 2, causal: true, rope: true, out_bias: false}
  - linear: {out: 32, act: gelu_new}
  - gelu_tanh:
  - gelu_new:
  - linear: {out: 16}
  - layernorm:
  - linear: {out: 50, bias: false, tie: wte}
"""


# The recurrent kinds: oneDNN's LSTM workspace is modelled to within page rounding, not byte for byte.
RECURRENT_ZOO = """
version: 1
name: recurrent-zoo
input: [32, 64]
layers:
  - lstm: {hidden: 128, layers: 2, bidirectional: true}
  - gru: {hidden: 64, dropout: 0.5, layers: 2}
"""


@pytest.fixture
def lm_zoo(write_spec):
    return catalog.load(write_spec(LM_ZOO, "lm-zoo.yaml"))


@pytest.fixture
def recurrent_zoo(write_spec):
    return catalog.load(write_spec(RECURRENT_ZOO, "recurrent-zoo.yaml"))


def test_zoo_covers_every_kind(zoo, modern_zoo, lm_zoo, recurrent_zoo):
    zoos = (zoo, modern_zoo, lm_zoo, recurrent_zoo)
    assert {layer.kind for net in zoos for layer in net.layers} == set(RULES)


def test_lm_zoo_verifies_exactly(backend, lm_zoo):
    from archcalc.backends.verify import verify

    result = verify(lm_zoo, batches=(1, 3))
    assert result.mismatches == ()
    assert [(c.where, c.engine) for c in result.saved] == [("cpu", c.measured) for c in result.saved]


def test_recurrent_zoo_verifies_within_five_percent(backend, recurrent_zoo):
    from archcalc.backends.verify import verify

    result = verify(recurrent_zoo, batches=(1, 3))
    assert result.mismatches == () and result.ok
    assert [c.where for c in result.saved] == ["cpu", "cpu"]
    assert {name for check in result.saved for name, _, _ in check.nodes} <= {"lstm1"}  # the GRU: exact


def test_modern_zoo_verifies_exactly(backend, modern_zoo):
    from archcalc.backends.verify import verify

    result = verify(modern_zoo, batches=(1, 3))
    assert result.mismatches == ()
    assert [(c.where, c.engine) for c in result.saved] == [("cpu", c.measured) for c in result.saved]


def test_zoo_per_node_shapes_and_parameters(backend, torch, zoo):
    module = backend.build(zoo)
    report = analyze(zoo)
    shapes = {}
    for name, node in module.nodes().items():
        node.register_forward_hook(lambda mod, args, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
    module.eval()
    with torch.no_grad():
        out = module(module.example_input(2))
    assert tuple(out.shape) == (2, 5)
    for row in report.rows:
        node = module.node(row.name)
        assert shapes[row.name] == (2, *row.output), row.name
        assert sum(p.numel() for p in node.parameters()) == row.params, row.name
        assert sum(p.numel() for p in node.parameters() if p.requires_grad) == row.trainable_params, row.name
        assert sum(b.numel() for b in node.buffers()) == row.buffers, row.name


def test_zoo_verifies_against_torch(backend, zoo):
    from archcalc.backends.verify import verify

    result = verify(zoo, batches=(2, 4))  # batch norm over 1-D features needs 2 samples to train
    assert result.mismatches == ()
    assert [c.where for c in result.saved] == ["cpu", "cpu"]
    assert all(c.ok for c in result.saved), [(c.engine, c.measured) for c in result.saved]
    # Every node exact, dropout's too: a float mask of its input's type on the CPU (one byte on CUDA).
    assert result.saved[0].nodes == ()


def test_lenet5_c3_connection_table_parameters(backend):
    module = backend.build("lenet5")
    c3 = module.node("C3")
    # 6 maps read 3 inputs, 9 read 4, 1 reads 6; one bias per map.
    assert sum(p.numel() for p in c3.parameters()) == 5 * 5 * (6 * 3 + 9 * 4 + 1 * 6) + 16 == 1_516
    assert sum(p.numel() for p in module.parameters()) == analyze(catalog.load("lenet5")).totals.params == 60_840


def test_rbf_distance_is_one_matmul(backend, torch):
    from torch.utils.flop_counter import FlopCounterMode

    module = backend.build("lenet5").eval()
    rbf = module.node("output")
    x = torch.randn(3, 84)
    with FlopCounterMode(display=False) as counter:
        y = rbf(x)
    assert counter.get_total_flops() == 2 * 3 * 84 * 10
    assert torch.allclose(y, torch.cdist(x, rbf.centres) ** 2, atol=1e-3)
    assert not rbf.centres.requires_grad


def test_module_names_are_the_ir_names(backend, zoo):
    network = catalog.load("resnet50")
    module = backend.build(network, device="meta")
    names = dict(module.named_modules())
    for layer in network.layers:
        assert names[layer.name] is module.node(layer.name)
    assert "mix.branch3.conv1.conv.weight" in backend.build(zoo, device="meta").state_dict()  # a merge names its branches


def test_forward_drops_tensors_after_their_last_use(backend, torch):
    module = backend.build("resnet20").eval()
    kept = {}
    for name, node in module.nodes().items():
        node.register_forward_hook(lambda mod, args, out, name=name: kept.__setitem__(name, weakref.ref(out)))
    with torch.no_grad():
        out = module(module.example_input(1))
        gc.collect()
        alive = {name for name, ref in kept.items() if ref() is not None}
    assert alive == {module.network.layers[-1].name}
    assert out is kept[module.network.layers[-1].name]()


def test_build_torch_api_by_name_path_or_network(torch, write_spec, zoo):
    assert isinstance(archcalc.build_torch("lenet5"), torch.nn.Module)
    assert archcalc.build_torch(write_spec(ZOO, "z.yaml"), device="meta").network.name == "zoo"
    half = archcalc.build_torch(zoo, dtype="bfloat16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}


def test_bad_name_is_one_clean_error(torch):
    with pytest.raises(archcalc.ArchcalcError, match="unknown network"):
        archcalc.build_torch("vgg17")


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


def test_analytic_path_never_imports_torch():
    done = _run("import sys\n"
                "from archcalc.cli import app\n"
                "try:\n    app(['table', 'vgg16'])\nexcept SystemExit as end:\n    assert end.code in (0, None), end.code\n"
                "print('torch imported' if 'torch' in sys.modules else 'no torch')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("no torch")


@pytest.mark.parametrize("args", [["bench", "lenet5"], ["verify", "lenet5"]])
def test_without_torch_commands_say_how_to_install_it(args):
    # sys.modules[name] = None makes `import torch` raise ImportError, as on a machine without it.
    done = _run("import sys\nsys.modules['torch'] = None\nfrom archcalc.cli import app\n"
                f"app({args!r})")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "archcalc[torch]"' in lines[0], done.stderr


def test_build_torch_without_torch_raises_the_hint():
    done = _run("import sys\nsys.modules['torch'] = None\nimport archcalc\n"
                "try:\n    archcalc.build_torch('lenet5')\nexcept archcalc.ArchcalcError as err:\n    print(err)")
    assert 'pip install "archcalc[torch]"' in done.stdout, done.stderr


def test_copies_and_pickles_share_the_blueprint(backend, torch):
    import copy
    import pickle

    module = backend.build("lenet5").eval()
    x = torch.randn(2, 1, 32, 32)
    twin = copy.deepcopy(module)
    assert twin.network is module.network and twin.node("C1") is not module.node("C1")
    thawed = pickle.loads(pickle.dumps(module))
    assert thawed.network == module.network
    with torch.no_grad():
        assert torch.equal(twin(x), module(x)) and torch.equal(thawed(x), module(x))


def test_a_node_named_like_a_module_attribute_still_builds(backend, write_spec):
    module = backend.build(write_spec("""
        version: 1
        input: [4]
        layers:
          - fc: {out: 3, name: forward}
          - fc: {out: 2, name: training}
    """))
    assert module.node("forward") is module.get_submodule("forward_")
    assert module.node("training") is module.get_submodule("training_")
