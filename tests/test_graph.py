"""Graph networks: branches, references, naming, liveness and training memory worked by hand."""

from __future__ import annotations

import json

from archcalc import analyze, load
from archcalc.fit import largest_batch, needed
from helpers import report_of

DIAMOND = """
    input: [1, 4, 4]
    layers:
      - conv: {out: 2, k: 1, name: a}
      - conv: {out: 2, k: 1, name: b}
      - conv: {out: 2, k: 1, from: a, name: c}
      - add: {from: [b, c], name: s}
"""


def test_inference_liveness_worked_by_hand():
    # float32: the input is 1·4·4·4 = 64 B, each layer's output 2·4·4·4 = 128 B.
    # a: input + a alive (192), then the input dies → 128
    # b: a + b (256); a still has a reader → 256
    # c: a + b + c (384); a dies → 256
    # s: b + c + s (384); b and c die → 128
    report = report_of(DIAMOND)
    assert [r.peak_bytes for r in report.rows] == [192, 256, 384, 384]
    assert [r.alive_bytes for r in report.rows] == [128, 256, 256, 128]
    assert report.totals.inference_peak_bytes == 384
    assert report_of(DIAMOND, batch=2).totals.inference_peak_bytes == 2 * 384


def test_training_saved_tensors_counted_once():
    # a keeps its input (64 B); b and c both keep a (128 B, once); the sum keeps nothing.
    report = report_of(DIAMOND)
    assert [r.saved_bytes for r in report.rows] == [64, 128, 0, 0]
    assert report.totals.train_saved_bytes == 64 + 128


def test_views_and_in_place_activations_add_no_tensor():
    report = report_of("""
        input: [2, 4, 4]
        layers:
          - conv: {out: 2, k: 1, act: relu}
          - flatten:
          - fc: {out: 3}
    """)
    conv, flat, fc = report.rows
    # relu runs in place and keeps its result: the conv's input (128 B) and output (128 B)
    assert conv.saved_bytes == 2 * 32 * 4
    assert flat.activations == 0  # a view of the conv's output
    assert fc.saved_bytes == 0  # it keeps its input, the same storage relu already kept
    assert (fc.macs, fc.receptive_field) == (32 * 3, (4, 4))


def test_training_memory_adds_weights_gradients_and_optimizer_state():
    params = (1 * 2 + 2) + (2 * 2 + 2) * 2  # a, then b and c
    sgd, adam = report_of(DIAMOND), report_of(DIAMOND, optimizer="adam")
    assert sgd.totals.params == params
    assert sgd.train_total_bytes == 192 + params * 4 * 2  # weights + gradients
    assert adam.train_total_bytes == sgd.train_total_bytes + params * 4 * 2  # + two moments


def test_backward_macs_skip_the_first_input_gradient():
    a, b, c, s = report_of(DIAMOND).rows
    assert a.backward_macs == a.macs  # weight gradient only: the input needs none
    assert b.backward_macs == 2 * b.macs  # weights and input


BLOCKS = """
    input: [3, 16, 16]
    vars: {width: 8}
    blocks:
      basic:
        args: [out, stride]
        add:
          - - conv: {out: out, k: 3, s: stride, p: 1, bn: true, act: relu}
            - conv: {out: out, k: 3, p: 1, bn: true}
          - shortcut: {out: out, s: stride}
        act: relu
      stage:
        args: [n, out, stride]
        layers:
          - basic: [out, stride]
          - basic: [out, 1]
            repeat: n - 1
      mixed:
        args: []
        concat:
          - - conv: {out: 4, k: 1}
          - []
    layers:
      - conv: {out: width, k: 3, p: 1, name: stem}
      - stage: [1, width, 1]
      - stage: [2, width * 2, 2]
      - mixed:
        name: mix
      - avgpool: global
      - fc: 10
"""


def test_block_naming_and_structure():
    report = report_of(BLOCKS)
    names = [r.name for r in report.rows]
    assert names[:5] == ["stem", "stage1.basic1.branch1.conv1", "stage1.basic1.branch1.conv2",
                         "stage1.basic1.branch2.shortcut1", "stage1.basic1.add1"]
    assert "stage1.basic2.add1" not in names  # repeat: n − 1 = 0
    assert "stage2.basic2.add1" in names
    rows = {r.name: r for r in report.rows}
    assert rows["stage1.basic1.branch2.shortcut1"].params == 0  # identity: shapes match
    assert rows["stage2.basic1.branch2.shortcut1"].params == 8 * 16 + 2 * 16  # projection with BN
    assert rows["mix.concat1"].output == (16 + 4, 8, 8)  # an empty branch is the block's input


def test_depth_receptive_field_over_a_dag():
    report = report_of(BLOCKS)
    rows = {r.name: r for r in report.rows}
    # the add's field is the larger of its branches': the two 3×3 convs, not the 1×1 shortcut
    assert rows["stage1.basic1.add1"].receptive_field == (3 + 2 + 2, 3 + 2 + 2)
    assert report.totals.depth == 1 + 2 + 4 + 1 + 1  # stem, 2 + 4 block convs, mix conv, fc


def test_resolves_references_in_the_innermost_scope_first():
    report = report_of("""
        input: [3, 8, 8]
        blocks:
          twice:
            args: []
            layers:
              - conv: {out: 4, k: 1, name: x}
              - conv: {out: 4, k: 1}
              - concat: {from: [x, conv2]}  # conv2: the block's second conv, named or not
        layers:
          - conv: {out: 4, k: 1, name: x}
          - twice:
          - concat: {from: [x, twice1]}
    """)
    rows = {r.name: r for r in report.rows}
    assert rows["twice1.concat1"].output == (8, 8, 8)  # twice1.x and twice1.conv2
    assert rows["concat1"].output == (12, 8, 8)  # the outer x (4) and the block's output (8)


def test_compare_json_has_totals_per_network(cli):
    ran = cli("compare", "alexnet", "vgg16", "--format", "json")
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    first, second = data["networks"]
    assert (first["name"], second["name"]) == ("alexnet", "vgg16")
    assert second["ratio_to_first"]["params"] == second["totals"]["params"] / first["totals"]["params"]
    assert first["totals"]["params"] == analyze(load("alexnet")).totals.params
    # every figure of table's JSON totals that compare shows, under the same key
    assert first["totals"]["train_saved_bytes"] == analyze(load("alexnet")).to_dict()["totals"]["train_saved_bytes"]


def test_compare_table(cli):
    ran = cli("compare", "alexnet", "lenet5")
    assert ran.code == 0
    assert "lenet5: 0.001× alexnet's parameters" in ran.out


def test_fit_gives_the_largest_batch_that_fits():
    net = load("vgg16")
    for train in (False, True):
        fit = largest_batch(net, 4 * 2**30, train=train, optimizer="adam")
        assert needed(analyze(net, fit.batch, optimizer="adam"), train) <= 4 * 2**30
        assert needed(analyze(net, fit.batch + 1, optimizer="adam"), train) > 4 * 2**30


def test_fit_cli(cli):
    ran = cli("fit", "vgg16", "--memory", "4GiB", "--train")
    assert ran.code == 0, ran.err
    assert "is the largest that fits 4.0 GiB for a training step (sgd, fp32)" in ran.out
    assert cli("fit", "vgg16", "--memory", "1MiB").code == 1  # not even batch 1
    assert cli("fit", "vgg16", "--memory", "lots").code == 2


def test_depth_is_the_longest_path_of_weight_layers():
    assert report_of(DIAMOND).totals.depth == 2  # a → b (or c): three convs, two deep
    assert analyze(load("googlenet")).totals.depth == 22  # "22 layers deep" (Szegedy et al. 2014)
    assert analyze(load("resnet50")).totals.depth == 50


TWO_MERGES = """
input: [8, 8, 8]
blocks:
  unit:
    layers:
      - add:
          - - conv: {out: 8, k: 3, p: 1}
          - []
      - add:
          - - conv: {out: 8, k: 1}
            - conv: {out: 8, k: 3, p: 1}
          - []
        name: second
layers:
  - unit: {name: u}
  - unit: {name: v}
"""


def test_a_merge_names_its_branches_inside_itself():
    report = report_of(TWO_MERGES)
    assert [row.name for row in report.rows[:6]] == [
        "u.add1.branch1.conv1", "u.add1", "u.second.branch1.conv1", "u.second.branch1.conv2", "u.second", "v.add1.branch1.conv1"]


def test_folding_sums_one_merge_s_branches_only(cli, write_spec):
    report = report_of(TWO_MERGES)
    from archcalc.report import fold

    rows = {row.name: row for row in fold(report, 2).rows}
    assert rows["u.add1"].params == 3 * 3 * 8 * 8 + 8  # its one conv, not the other merge's too
    assert rows["u.second"].params == (1 * 1 * 8 * 8 + 8) + (3 * 3 * 8 * 8 + 8)
    ran = cli("table", write_spec(TWO_MERGES), "--depth", "2")
    assert ran.code == 0, ran.err


def test_folding_refuses_rows_that_are_not_one_subtree(cli, write_spec):
    path = write_spec("""
        input: [4]
        layers:
          - fc: {out: 4, name: a.x}
          - fc: {out: 4, name: b}
          - fc: {out: 4, name: a.y}
    """)
    ran = cli("table", path, "--depth", "1")
    assert ran.code == 1
    assert ran.err.startswith("error: cannot fold to depth 1: the layers under 'a' are not one block ('a.x' … 'a.y'")
    assert cli("table", path, "--depth", "2").code == 0


TYPO_IN_FROM = """
input: [16]
layers:
  - fc: {out: 8, name: a}
  - fc: {out: 8, name: b}
  - fc: {out: 4, from: a, name: c}   # meant: from b
  - softmax: {}
"""


def test_a_layer_nothing_reads_is_reported(cli, write_spec):
    path = write_spec(TYPO_IN_FROM)
    ran = cli("table", path)
    assert ran.code == 0 and "⚠ b: no layer reads its output" in ran.out
    checked = cli("check", path, "--format", "json")
    assert checked.code == 1
    (finding,) = json.loads(checked.out)
    assert (finding["kind"], finding["line"], finding["layer"]) == ("unread", 4, "layers[1].fc 'b'")
    strict = cli("table", path, "--strict")
    assert strict.code == 1 and strict.err.startswith(f"error: {path}:4:5: layers[1].fc 'b': no layer reads its output")


def test_declared_outputs_are_not_reported(cli, write_spec):
    assert not analyze(load("googlenet-aux")).unread  # its two auxiliary heads are named in outputs:
    ran = cli("check", write_spec(TYPO_IN_FROM + "outputs: [b]\n"))
    assert ran.code == 0, ran.out
    wrong = cli("check", write_spec(TYPO_IN_FROM + "outputs: [bb]\n"))
    assert "'outputs' names 'bb', which is not an earlier layer; did you mean 'b'" in wrong.out


def test_concat_joins_a_sequence_s_features_and_a_map_s_channels_by_default():
    """Each by its layout, as linear and layernorm read a sequence's last dimension; `dim` picks another."""
    rows = {row.name: row for row in report_of("""
        input: [16, 8, 8]
        layers:
          - conv: {out: 4, k: 1, name: a}
          - concat: {from: [a, input], name: channels}
          - tokens: {name: seq}
          - linear: {out: 12, name: wide}
          - concat: {from: [seq, wide], name: features}
          - concat: {from: [seq, seq], dim: 0, name: longer}
          - concat: {from: [longer, longer], dim: -2, name: longest}
    """).rows}
    assert rows["channels"].output == (4 + 16, 8, 8)
    assert rows["features"].output == (8 * 8, 20 + 12)
    assert rows["longer"].output == (2 * 8 * 8, 20)
    assert rows["longest"].output == (4 * 8 * 8, 20)


def test_a_2d_split_or_concat_that_does_not_say_its_dim_is_refused(cli, write_spec):
    """A C×L map and an S×D sequence are both 2-D: without `dim`, a concat of equal shapes or a split would
    have to guess whether it cuts channels or features, a silently wrong figure either way."""
    for layer in ("split: {parts: 2}", "concat: {from: [input, input]}"):
        done = cli("table", write_spec(f"input: [4, 6]\nlayers:\n  - {layer}\n", "ambiguous.yaml"))
        assert done.code != 0 and "internal error" not in done.err
        assert "give dim (0 for the channels of a C×L map, 1 for the features of a token sequence" in done.err
    taken = cli("table", write_spec("input: [4, 6]\nlayers:\n  - conv: {out: 2, k: 1, name: a}\n"
                                    "  - concat: {from: [a, input]}\n", "channels.yaml"), "--format", "json")
    assert taken.code == 0 and json.loads(taken.out)["layers"][-1]["output"] == [2 + 4, 6]


def test_concat_and_split_refuse_a_dim_the_input_lacks(cli, write_spec):
    for layer in ("split: {parts: 2, dim: 2}", "concat: {from: [input, input], dim: -3}"):
        done = cli("table", write_spec(f"input: [4, 6]\nlayers:\n  - {layer}\n", "dim.yaml"))
        assert done.code != 0 and "internal error" not in done.err
        assert "dim" in done.err and "2-D input 4×6" in done.err, done.err
