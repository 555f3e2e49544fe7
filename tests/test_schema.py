"""`archcalc schema`: a valid draft 2020-12 schema, generated from the rule table, that every bundled spec meets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")  # a test dependency ("archcalc[test]")

from archcalc.expand import VERSION  # noqa: E402
from archcalc.rules import RULES  # noqa: E402
from archcalc.schema import spec_schema  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "specs").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(spec_schema())


def errors(data) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(data)]


def test_schema_is_valid_draft_2020_12():
    schema = spec_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_command_prints_it(cli):
    ran = cli("schema")
    assert ran.code == 0 and ran.err == ""
    assert json.loads(ran.out) == spec_schema()


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_specs_validate(path):
    assert errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("name", ["broken.yaml", "fine.yaml", "over-budget.yaml"])
def test_check_fixtures_validate(name):
    # broken.yaml is well formed; only its shapes are impossible, which the schema cannot know
    assert errors(yaml.safe_load((REPO / "tests" / "check_fixtures" / name).read_text(encoding="utf-8"))) == []


def test_every_kind_and_argument_comes_from_the_rule_table():
    defs = spec_schema()["$defs"]
    item = defs["item"]["properties"]
    for kind, rule in RULES.items():
        assert item[kind] == {"$ref": f"#/$defs/kind.{kind}"}
        assert defs[f"kind.{kind}"]["description"] == rule.doc
        mapping = defs[f"kind.{kind}"]["anyOf"][0]
        assert set(mapping["properties"]) == {a.name for a in rule.args} | {"name", "from"}
        assert mapping["required"] == [a.name for a in rule.args if a.required]
        for arg in rule.args:
            assert mapping["properties"][arg.name]["description"].startswith(arg.doc)


def test_block_bodies_and_act_come_from_the_roles():
    """A block's body is `layers` or one of the merges, its `act` one of the activations: what the expander takes."""
    from archcalc import expand
    from archcalc.rules import ACTIVATIONS, Role, kinds

    block = spec_schema()["$defs"]["block"]
    merges = [kind for kind, rule in RULES.items() if rule.role is Role.MERGE]
    assert merges == ["concat", "add", "mul"] and expand.BLOCK_BODIES == ("layers", *merges)
    assert [body["required"][0] for body in block["oneOf"]] == ["layers", *merges]
    assert block["properties"]["act"]["enum"] == list(kinds(Role.ACTIVATION)) == list(ACTIVATIONS)


@pytest.mark.parametrize("spec", [
    {"input": [3, 32, 32], "layers": [{"conv": {"out": 8, "k": 3}}], "version": VERSION},
    {"input": [10], "layers": [{"fc": 10}, {"dropout": 0.5}, {"softmax": None}]},
    {"input": ["S", 64], "layers": [{"attention": 4}]},
    {"input": {"tokens": "S", "dim": 64}, "layers": [{"attention": 4}]},
    {"input": [3, 8, 8], "vars": {"w": 8}, "layers": [{"conv": {"out": "w * 2", "k": [3, 1], "p": "same"}, "repeat": "2"}]},
    {"input": [3, 8, 8], "layers": [{"avgpool": "global"}, {"maxpool": 2}, {"lrn": {"alpha": "1e-4"}}]},
    {"input": [3, 8, 8], "layers": [{"add": [[{"conv": {"out": 3, "k": 3, "p": 1}}], []], "name": "sum"},
                                    {"concat": {"from": ["sum", "input"]}}]},
    {"input": [3, 8, 8], "blocks": {"pair": {"args": ["c", "a"], "layers": [{"conv": {"out": "c", "k": 3, "act": "a", "bn": "c"}}]}},
     "layers": [{"pair": [8, "relu"]}, {"pair": {"c": 4, "a": "tanh"}, "name": "p2"}]},
    {"input": [3, 8, 8], "layers": [{"relu": None}], "budget": {"params": "25M", "macs": 4000, "train_memory": "8GiB", "batch": 32}},
    {"input": [3, 8, 8], "layers": [{"relu": None}], "budget": {"train_memory": "8GiB", "optimizer": "adam",
                                                               "precision": "bfloat16", "checkpoint": 4}},
])
def test_good_specs_validate(spec):
    assert errors(spec) == []


@pytest.mark.parametrize("spec, fragment", [
    ({"layers": [{"relu": None}]}, "'input' is a required property"),
    ({"input": [3, 8, 8], "layers": [{"relu": None}], "layer": []}, "Additional properties are not allowed ('layer'"),
    ({"input": [3, 8, 8, 8, 8], "layers": [{"relu": None}]}, "is not valid under any of the given schemas"),
    ({"input": [3, "S", 8], "layers": [{"relu": None}]}, "is not valid under any of the given schemas"),
    ({"input": [64, "S"], "layers": [{"relu": None}]}, "is not valid under any of the given schemas"),
    ({"input": {"channels": 1, "width": 8}, "layers": [{"relu": None}]}, "is not valid under any of the given schemas"),
    ({"input": [3, 8, 8], "layers": []}, "should be non-empty"),
    ({"input": [3, 8, 8], "layers": [{"conv": {"out": 8, "kernel": 3}}]}, "is not valid under any of the given schemas"),
    ({"input": [3, 8, 8], "layers": [{"conv": {"out": True, "k": 3}}]}, "is not valid under any of the given schemas"),
    ({"input": [3, 8, 8], "layers": [{"conv": {"out": 8, "k": 3, "act": "re lu"}}]}, "is not valid under any of the given schemas"),
    ({"input": [3, 8, 8], "layers": [{"relu": None}], "version": 2}, "1 was expected"),
    ({"input": [3, 8, 8], "layers": [{"relu": None}], "budget": {"params": "lots"}}, "is not valid under any of the given schemas"),
    ({"input": [3, 8, 8], "layers": [{"relu": None}], "budget": {"memory": "8GiB"}}, "Additional properties are not allowed"),
    ({"input": [3, 8, 8], "layers": [{"relu": None}], "budget": {"optimizer": "lion"}}, "'lion' is not one of"),
    ({"input": [3, 8, 8], "blocks": {"b": {"layers": [], "add": []}}, "layers": [{"b": None}]}, "is valid under each of"),
    ({"input": [3, 8, 8], "blocks": {"conv": {"layers": []}}, "layers": [{"relu": None}]}, "should not be valid under"),
    ({"input": [3, 8, 8], "blocks": {"b": {"layers": [{"relu": None}], "act": "dropout"}}, "layers": [{"b": None}]},
     "'dropout' is not one of"),
])
def test_bad_specs_do_not(spec, fragment):
    found = errors(spec)
    assert any(fragment in message for message in found), found


def _repository_specs() -> list[Path]:
    return sorted((REPO / "specs").glob("*.yaml")) + sorted((REPO / "tests").rglob("*.yaml"))


@pytest.mark.parametrize("path", _repository_specs(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_spec_the_loader_accepts_validates(path):
    """No spec of the repository that archcalc reads is flagged red in an editor (the schema may accept more:
    limits of expansion, references and expressions' values are the loader's alone)."""
    from archcalc import expand, source
    from archcalc.errors import ArchcalcError

    try:
        data = source.load_file(str(path))
        expand.build(data, str(path), path.stem)
    except ArchcalcError:
        return  # refused by the loader: see test_bad_specs_do_not for what the schema refuses too
    assert errors(json.loads(json.dumps(source.plain(data)))) == []


@pytest.mark.parametrize("shape", [[197, 768], {"tokens": 197, "dim": 768}, [784], {"features": 784},
                                   {"channels": 1, "length": 16000}, [3, 16, 112, 112], [3, "H", "W"], [3, "N", "N"]])
def test_every_input_form_the_loader_reads_validates(shape):
    from archcalc import load

    spec = {"input": shape, "layers": [{"relu": None}]}
    load(spec)
    assert errors(spec) == []
