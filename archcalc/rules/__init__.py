"""The table of layer kinds: one rule each, looked up by name."""

from __future__ import annotations

from . import attention, conv, dense, elementwise, layout, merge, moe, norm, opaque, pool, recurrent, tokens, window
from .base import Eval, Inputs, Picture, Role, Rule, RuleError, Saved, Shape, Window
from .conv import CONV
from .elementwise import ACTIVATIONS

RULES: dict[str, Rule] = {
    rule.kind: rule
    for module in (conv, pool, dense, elementwise, norm, merge, layout, tokens, attention, moe, window, recurrent, opaque)
    for rule in module.RULES
}


def kinds(role: Role) -> tuple[str, ...]:
    """The kinds of one role, in the table's order: the merges, the activations …"""
    return tuple(kind for kind, rule in RULES.items() if rule.role is role)

__all__ = ["ACTIVATIONS", "CONV", "RULES", "Eval", "Inputs", "Picture", "Role", "Rule", "RuleError", "Saved", "Shape",
           "Window", "kinds"]
