"""A published closed form beside the engine's figure: Korthikanti et al. 2022's activation memory of a transformer layer.

Korthikanti et al. 2022 (Reducing Activation Recomputation in Large Transformer
Models, Section 4.1, Equation 1) count the bytes one transformer layer keeps for
backward, every activation at 16 bits and each dropout mask at one byte per
element, without tensor parallelism (t = 1): its attention 11·s·b·h + 5·a·s²·b
(the QKV input 2sbh, Q and K 4sbh, the s×s softmax output 2as²b, its dropout
mask as²b and output 2as²b, V 2sbh, the output projection's input 2sbh and the
dropout mask after it sbh), its MLP 19·s·b·h (a 4h GeLU MLP: input 2sbh, GeLU
input 8sbh, the second linear's input 8sbh, dropout mask sbh) and its two layer
norms' inputs 4·s·b·h: s·b·h·(34 + 5·a·s/h). Selective recomputation (Section 5,
t = 1) keeps 34·s·b·h, full recomputation 2·s·b·h (the layer's input).

Here those terms are regrouped by what keeps them (the attention's kernel and
projections, dropout masks, the MLP, the norms), each beside the engine's saved
bytes of the same kinds of layer in one transformer layer of the spec: a block
instance holding one attention, s its tokens, h its width, a its heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .report import Report, Row, as_text
from .rules import norm
from .units import format_bytes

PAPER = "Korthikanti et al. 2022 (Reducing Activation Recomputation in Large Transformer Models)"
NORMS = frozenset(rule.kind for rule in norm.RULES)
PARTS = ("attention", "dropout masks", "MLP and the rest", "norms")


@dataclass(frozen=True)
class TransformerLayer:
    """One block instance of a spec holding exactly one attention: its rows, that attention's among them."""

    name: str
    rows: tuple[Row, ...]
    attention: Row

    def part(self, row: Row) -> str:
        """Which of the paper's groups a row's saved tensors belong to (PARTS)."""
        if row.kind == "attention":
            return "attention"
        if row.kind == "dropout":
            return "dropout masks"
        return "norms" if row.kind in NORMS else "MLP and the rest"

    def saved(self) -> dict[str, Any]:
        """The engine's saved bytes of this layer, by part."""
        found: dict[str, Any] = dict.fromkeys(PARTS, 0)
        for row in self.rows:
            found[self.part(row)] += row.saved_bytes
        return found


def transformer_layers(report: Report) -> tuple[TransformerLayer, ...]:
    """The report's transformer layers: for each attention, the outermost block instance holding it and no
    other attention (none where an attention is outside any block, or shares its only block)."""
    attentions = [row for row in report.rows if row.kind == "attention"]
    layers = []
    for attention in attentions:
        parts = attention.name.split(".")
        prefix = next((".".join(parts[:k]) for k in range(1, len(parts))
                       if sum(a.name.startswith(".".join(parts[:k]) + ".") for a in attentions) == 1), None)
        if prefix is None:
            return ()
        rows = tuple(row for row in report.rows if row.name.startswith(prefix + "."))
        layers.append(TransformerLayer(prefix, rows, attention))
    return tuple(layers)


@dataclass(frozen=True)
class Korthikanti:
    """The paper's bytes of one transformer layer at the report's s, b, h, a, and the engine's of the spec's
    layers by part; `notes` say where and why they differ."""

    s: Any  # tokens (a formula in S for a symbolic sequence)
    b: Any  # batch
    h: int  # hidden width: the attention's input features
    a: int  # heads
    layers: tuple[TransformerLayer, ...]
    engine: dict[str, Any]  # the first layer's saved bytes by part (PARTS)
    alike: bool  # whether every layer saves what the first does

    @property
    def sbh(self) -> Any:
        return self.s * self.b * self.h

    def paper(self) -> dict[str, tuple[str, Any]]:
        """The paper's terms regrouped by part, each as (formula, bytes); 16 bits, t = 1."""
        s, b, a, sbh = self.s, self.b, self.a, self.sbh
        return {"attention": ("10·s·b·h + 5·a·s²·b", 10 * sbh + 5 * a * s * s * b),
                "dropout masks": ("2·s·b·h", 2 * sbh),
                "MLP and the rest": ("18·s·b·h", 18 * sbh),
                "norms": ("4·s·b·h", 4 * sbh)}

    def forms(self) -> dict[str, tuple[str, Any]]:
        """The paper's three totals per layer: without recomputation, selective, full."""
        s, b, a, sbh = self.s, self.b, self.a, self.sbh
        return {"no recomputation": ("s·b·h·(34 + 5·a·s/h)", 34 * sbh + 5 * a * s * s * b),
                "selective recomputation": ("34·s·b·h", 34 * sbh),
                "full recomputation": ("2·s·b·h", 2 * sbh)}

    def notes(self) -> list[str]:
        """Where the engine's figure and the paper's differ, and why, read from the spec."""
        args, s, b, a, h = self.attention_args, self.s, self.b, self.a, self.h
        head_dim = args.get("head_dim", h // a)
        kv_heads = args.get("kv_heads", a)
        notes = [f"attention: the paper keeps the s×s softmax output, its dropout mask and the dropout's output "
                 f"(5·a·s²·b = {_bytes(5 * a * s * s * b)}); PyTorch's fused attention (SDPA: flash or memory-"
                 f"efficient), as archcalc counts it, keeps no s×s tensor, only each row's log-sum-exp in float32 "
                 f"(4·a·s·b = {_bytes(4 * a * s * b)})"
                 + (f"; with this spec's attention dropout (p = {args['dropout']:g}) on CUDA too, whose fused kernels "
                    "draw the mask again in backward; on the CPU (no fused kernel with dropout) SDPA's math path keeps "
                    "the probabilities, the dropout's noise in their type and their product, as the paper does"
                    if args.get("dropout") else "")]
        if kv_heads != a or head_dim * a != h:
            notes.append(f"attention: the paper's Q, K and V are each h = {h} wide; here Q is {a}·{head_dim} = "
                         f"{a * head_dim} and K, V {kv_heads}·{head_dim} = {kv_heads * head_dim} each "
                         f"({'grouped-query attention, ' if kv_heads != a else ''}kv_heads {kv_heads}, head_dim {head_dim})")
        dropouts = [row for row in self.layers[0].rows if row.kind == "dropout"]
        notes.append(f"dropout masks: the paper keeps one byte per element after the attention and after the MLP "
                     f"(2·s·b·h); this spec has {len(dropouts) or 'no'} dropout layer{'' if len(dropouts) == 1 else 's'} "
                     f"in a transformer layer" + ("" if dropouts else " (dropout off, as at p = 0)"))
        notes.append(self._mlp_note())
        notes.append("norms: the paper keeps each norm's 16-bit input (2 · 2·s·b·h); the engine keeps what torch's "
                     "backward of each norm reads: its input and each row's statistics in float32 (mean and 1/σ; "
                     "RMSNorm's 1/rms, and x/rms in float32 too)")
        if not self.alike:
            notes.append("the transformer layers do not all save the same bytes: the figures are the first's, "
                         f"{self.layers[0].name}")
        return notes

    def to_dict(self) -> dict[str, Any]:
        """`explain --memory --format json`'s comparison: the sizes, each part's formula and bytes beside the
        engine's, the paper's three forms, the notes (formulas in S as archcalc's expression grammar)."""
        paper = self.paper()
        return as_text({
            "paper": PAPER, "tensor_parallel": 1, "s": self.s, "b": self.b, "h": self.h, "a": self.a,
            "layers": [layer.name for layer in self.layers], "alike": self.alike,
            "parts": {part: {"formula": paper[part][0], "paper_bytes": paper[part][1], "archcalc_bytes": self.engine[part]}
                      for part in PARTS},
            "layer": {"paper_bytes": self.forms()["no recomputation"][1], "archcalc_bytes": sum(self.engine.values())},
            "forms": {name: {"formula": formula, "bytes": value} for name, (formula, value) in self.forms().items()},
            "notes": self.notes()})

    @property
    def attention_args(self) -> Any:
        return self.layers[0].attention.args

    def _mlp_note(self) -> str:
        rows = self.layers[0].rows
        widths = [row.output[-1] for row in rows if row.kind in ("linear", "fc") and row.output]
        widest = max(widths, default=self.h)
        gated = any(row.kind == "mul" for row in rows)
        shape = (f"a gated MLP (a product of two linear branches, as SwiGLU) of width {widest:,}" if gated
                 else f"an MLP of width {widest:,}")
        standard = "" if (widest == 4 * self.h and not gated) else f", not the paper's 4·h = {4 * self.h:,}"
        return (f"MLP: the paper's is a 4h GeLU MLP (its input 2·s·b·h, the GeLU's input 8·s·b·h, the second "
                f"linear's input 8·s·b·h); this spec's is {shape}{standard}")


def korthikanti(report: Report) -> Korthikanti | None:
    """The comparison for a report whose network is a stack of alike transformer layers (one attention each, of
    the same width, heads and tokens); None for any other network. The report should be at 16 bits, as the
    paper counts (precision bf16)."""
    layers = transformer_layers(report)
    if not layers:
        return None
    shapes = {(layer.attention.output, layer.attention.args.get("heads")) for layer in layers}
    if len(shapes) != 1:
        return None
    (output, heads), = shapes
    if len(output) != 2 or heads is None:
        return None
    engine = [layer.saved() for layer in layers]
    return Korthikanti(output[0], report.batch, output[1], heads, layers, engine[0],
                       all(e == engine[0] for e in engine))


def _bytes(value: Any) -> str:
    return format_bytes(value) + (f" ({value:,} B)" if isinstance(value, int) else "")
