"""The table of layer kinds: one rule each, looked up by name."""

from __future__ import annotations

from . import dense, elementwise, merge, pool
from .base import Eval, Rule, RuleError, Saved, Shape, Window
from .conv import CONV
from .elementwise import ACTIVATIONS

RULES: dict[str, Rule] = {
    rule.kind: rule for rule in (CONV, *pool.RULES, *dense.RULES, *elementwise.RULES, *merge.RULES)
}

__all__ = ["ACTIVATIONS", "RULES", "Eval", "Rule", "RuleError", "Saved", "Shape", "Window"]
