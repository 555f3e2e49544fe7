"""Small builders for tests: a network from YAML text, one layer's row."""

from __future__ import annotations

import textwrap

from archcalc import analyze
from archcalc.expand import build
from archcalc.ir import Network
from archcalc.report import Report, Row
from archcalc.source import load_text


def report_of(yaml_text: str, name: str = "test.yaml", **options) -> Report:
    """Analyse a spec given as YAML text."""
    return analyze(network_of(yaml_text, name), **options)


def row_of(layer: str, input_shape: list[int], **options) -> Row:
    """The report row of a single layer, written as one YAML flow item."""
    return report_of(f"input: {input_shape}\nlayers:\n  - {layer}\n", **options).rows[0]


def network_of(yaml_text: str, name: str = "test.yaml") -> Network:
    """The network a spec given as YAML text expands to."""
    return build(load_text(textwrap.dedent(yaml_text).lstrip("\n"), name), name, "test")


# A pre-norm transformer layer (GPT-2's, ViT's) as a spec's `blocks:` entry named `layer`: x + attention(ln_1(x)),
# then + proj(gelu(fc(ln_2(·)))); its heads and MLP width are the spec's vars `heads` and `mlp`. Indented to sit
# under `blocks:` in a spec written at four spaces (as the tests' specs are, before dedent).
TRANSFORMER_LAYER = """
      layer:
        layers:
          - add:
              - - layernorm: {name: ln_1}
                - attention: {heads: heads, name: attn}
              - []
          - add:
              - - layernorm: {name: ln_2}
                - linear: {out: mlp, act: gelu, name: fc}
                - linear: {out: in_features, name: proj}
              - []"""
