"""The moe kind: a router, a block held once per expert and run on the routed tokens, the weighted sum;
total against active parameters in the report, its JSON, table, compare and list."""

from __future__ import annotations

import json

import pytest

from archcalc import analyze
from archcalc.errors import ArchcalcError
from helpers import network_of, report_of

T, D, F, E, K, OUT = 16, 64, 128, 4, 2, 10  # tokens, features, the expert's hidden width, experts, top, head

TINY = f"""
    name: tiny-moe
    input: [{T}, {D}]
    blocks:
      expert:
        layers:
          - linear: {{out: {F}, act: gelu}}
          - linear: {D}
    layers:
      - layernorm: {{}}
      - moe: {{experts: {E}, top: {K}, body: expert}}
      - linear: {OUT}
"""
EXPERT = D * F + F + F * D + D  # one expert's parameters
OTHERS = 2 * D + D * E + D * OUT + OUT  # the norm, the router, the head


def test_the_rows_of_a_mixture():
    rows = {row.name: row for row in report_of(TINY).rows}
    assert list(rows) == ["layernorm1", "moe1.router", "moe1.experts.linear1", "moe1.experts.linear2", "moe1.combine",
                          "linear1"]
    router, first, second, combine = (rows[n] for n in ("moe1.router", "moe1.experts.linear1", "moe1.experts.linear2",
                                                         "moe1.combine"))
    assert (router.kind, router.output, router.params, router.macs) == ("moe", (K * T, D), D * E, T * D * E)
    assert (first.output, first.params, first.active_params, first.macs) == (
        (K * T, F), E * (D * F + F), K * (D * F + F), K * T * D * F)
    assert (second.output, second.params, second.macs) == ((K * T, D), E * (F * D + D), K * T * F * D)
    assert (combine.kind, combine.output, combine.params, combine.macs) == ("combine", (T, D), 0, 0)
    assert first.formulas["params"] == f"{E} experts × ({D}·{F} + {F} = {D * F + F:,}) = {E * (D * F + F):,}"
    assert "even load" in router.formulas["shape"]


def test_total_and_active_parameters():
    totals = report_of(TINY).totals
    assert totals.params == OTHERS + E * EXPERT
    assert totals.active_params == OTHERS + K * EXPERT
    assert totals.macs == T * D * E + K * T * (D * F + F * D) + T * D * OUT


def test_without_a_mixture_active_parameters_are_all():
    report = report_of(f"input: [{T}, {D}]\nlayers:\n  - linear: {F}\n")
    assert report.totals.active_params == report.totals.params == D * F + F


def test_training_memory_holds_every_experts_gradients_and_optimizer_state():
    report = report_of(TINY, optimizer="adam")
    parts = report.train_breakdown()
    params = OTHERS + E * EXPERT
    assert (parts["parameters"], parts["gradients"], parts["adam state"]) == (4 * params, 4 * params, 2 * 4 * params)


def test_saved_tensors_are_those_of_the_routed_tokens():
    by_name = {row.name: row for row in report_of(TINY).rows}
    # the first expert layer keeps its input, the k·T routed tokens, and the gelu's input, k·T·F
    assert by_name["moe1.experts.linear1"].saved_bytes == 4 * K * T * (D + F)
    # the router: its input, softmax, top-k indices, values and their sum, the gathers' two index vectors
    assert by_name["moe1.router"].saved_bytes == 4 * T * D + 4 * T * E + 8 * T * K + 4 * T * K + 4 * T + 2 * 8 * K * T
    # the combine: the experts' outputs, their weights and the weighted outputs the sum into place keeps
    assert by_name["moe1.combine"].saved_bytes == 4 * K * T * D + 4 * K * T + 4 * K * T * D


def test_a_folded_mixture_sums_its_active_parameters():
    rows = {row.name: row for row in report_of(TINY).rows}
    from archcalc.report import fold

    folded = {row.name: row for row in fold(report_of(TINY), 1).rows}
    assert folded["moe1"].params == D * E + E * EXPERT
    assert folded["moe1"].active_params == D * E + K * EXPERT == sum(
        rows[n].active_params for n in rows if n.startswith("moe1."))


def test_the_json_has_active_parameters():
    data = report_of(TINY).to_dict()
    assert data["totals"]["active_params"] == OTHERS + K * EXPERT
    assert data["layers"][2]["active_params"] == K * (D * F + F)


def test_the_layers_of_the_body_are_marked():
    network = network_of(TINY)
    marked = [(layer.name, layer.experts) for layer in network.layers if layer.experts]
    assert [name for name, _ in marked] == ["moe1.experts.linear1", "moe1.experts.linear2"]
    assert {experts for _, experts in marked} == {(E, K)}


def test_a_cut_into_segments_keeps_a_mixture_whole():
    from archcalc import segments

    network = network_of(TINY)
    for count in range(1, len(network.layers) + 1):
        for run in segments.cut(network, count):
            starts = network.layers[run.start]
            assert starts.experts is None and starts.kind != "combine"


@pytest.mark.parametrize("layers, message", [
    ("- moe: {experts: 4, top: 2, body: nothing}", "unknown block for moe's body 'nothing'"),
    ("- combine: {top: 2}", "combine is made by moe"),
    ("- moe: {experts: 4, top: 5, body: expert}", "top must be between 1 and experts=4; received top=5"),
    ("- moe: {experts: 1, top: 1, body: expert}", "a mixture needs at least 2 experts"),
    ("- moe: {experts: 4, top: 2, body: nested}", "a moe's body cannot hold another moe"),
    ("- moe: {experts: 4, top: 2, body: outside}", "a moe's body reads only its own layers and the routed tokens"),
    ("- moe: {experts: 4, top: 2, body: sized}", "block 'sized' is missing argument(s) width"),
    ("- moe: {experts: 4, body: expert}", "moe is missing 'top'"),
    ("- moe: {experts: 4, top: 2, body: tied}", "a moe's body ties no weight"),
])
def test_a_wrong_mixture_is_one_clear_line(layers, message):
    spec = f"""
        input: [{T}, {D}]
        blocks:
          expert: {{layers: [linear: {D}]}}
          nested: {{layers: [moe: {{experts: 2, top: 1, body: expert}}]}}
          outside: {{layers: [{{linear: {D}, from: input}}]}}
          sized: {{args: [width], layers: [linear: width]}}
          tied: {{layers: [{{linear: {D}, name: a}}, {{linear: {{out: {D}, tie: a}}}}]}}
        layers:
          {layers}
    """
    with pytest.raises(ArchcalcError) as caught:
        report_of(spec)
    assert message in str(caught.value)
    assert "test.yaml:" in str(caught.value)


def test_a_mixture_reads_a_token_sequence():
    spec = """
        input: [3, 8, 8]
        blocks: {expert: {layers: [linear: 8]}}
        layers:
          - moe: {experts: 2, top: 1, body: expert}
    """
    with pytest.raises(ArchcalcError, match="moe expects a 2-D input; received 3×8×8"):
        report_of(spec)


def test_table_footer_shows_active_parameters(cli, write_spec):
    ran = cli("table", write_spec(TINY))
    assert ran.code == 0
    assert f"{OTHERS + E * EXPERT:,} parameters ({OTHERS + E * EXPERT:,} trainable; {OTHERS + K * EXPERT:,} active" in ran.out


def test_compare_shows_active_parameters_where_they_differ(cli, write_spec):
    path = write_spec(TINY)
    ran = cli("compare", path, "lenet5", "--format", "json")
    networks = json.loads(ran.out)["networks"]
    assert [n["totals"]["active_params"] for n in networks] == [OTHERS + K * EXPERT, analyze("lenet5").totals.params]
    shown = cli("compare", path, "lenet5").out
    assert "active per token" in shown
    assert "active per token" not in cli("compare", "lenet5", "alexnet").out
    assert "active_params" not in json.loads(cli("compare", "lenet5", "alexnet", "--format", "json").out)["networks"][0]["totals"]


def test_a_dumped_mixture_loads_to_the_same_layers_and_figures():
    import archcalc

    network = network_of(TINY)
    text = archcalc.dump(network)
    assert "blocks:\n  expert1:\n" in text and "{moe: {experts: 4, top: 2, body: expert1}, name: moe1}" in text
    again = analyze(text)
    assert [r.name for r in again.rows] == [r.name for r in analyze(network).rows]
    assert again.totals == analyze(network).totals


def test_explain_shows_a_layers_and_a_mixtures_active_parameters(cli, write_spec):
    path = write_spec(TINY)
    layer = cli("explain", path, "moe1.experts.linear1").out
    assert f"{'active params':<16}{K * (D * F + F):>14,}   those one token uses: {K} of the {E} experts' copies" in layer
    mixture = cli("explain", path, "moe1").out
    assert f"active params   {D * E + K * EXPERT:,} (those one token uses)" in mixture


def test_a_builder_defines_a_body_block_once():
    import archcalc

    builder = archcalc.Builder(input=(T, D))
    builder.block("expert", {"layers": [{"linear": {"out": F, "act": "gelu"}}, {"linear": D}]})
    assert builder.add("moe", {"experts": E, "top": K, "body": "expert"}) == "moe1.combine"
    assert analyze(builder.build()).totals.active_params == D * E + K * EXPERT
    with pytest.raises(ArchcalcError, match="block 'expert' is already defined"):
        builder.block("expert", {"layers": [{"linear": D}]})
