"""Kinds of a Swin transformer's channels-last H×W×C map: shifted-window self-attention and patch merging.

As torchvision.models.swin_transformer computes them (its features are
H×W×C: the patch convolution's map is permuted once, [1, 2, 0]).

Window attention pads H and W at the end to a multiple of the window w,
rolls the map by the shift (cyclically, −shift on both axes) and attends
within each w×w window: per window and head the scores Q·Kᵀ (w²×w²) plus
a learned relative position bias, their softmax, and its weighted sum of V.
Its MACs count the projections of every padded position and the two
w²×w² products per window: 4·P·C·C + 2·P·w²·C for P padded positions.
torchvision does not shrink a window larger than the map: it pads the map
to one window, and drops the shift on an axis one window spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args import Arg
from ..symbolic import factor, is_symbolic, must_divide
from .base import LOW, Eval, Role, Rule, RuleError, Saved, Shape, Window, num, one_input, product, shape_text
from .norm import EPS, STATS_ITEMSIZE


def channels_last(kind: str, shapes: list[Shape]) -> Shape:
    """The H, W and C of a one-input layer's channels-last map."""
    shape = one_input(kind, shapes)
    if len(shape) != 3:
        raise RuleError(f"{kind} expects an H×W×C map (channels last, as Swin's features: permute: [1, 2, 0] "
                        f"after the patch convolution); received {shape_text(shape)}")
    return shape


def padded(n: Any, window: int) -> Any:
    """A size padded at the end to a multiple of the window, as torchvision pads before partitioning."""
    return (n + window - 1) // window * window


def _shift_text(shift: int, window: int, sizes: tuple[Any, Any]) -> str:
    """Which axes the windows shift along: torchvision drops the shift where one window spans the padded axis."""
    if shift == 0:
        return "not shifted"
    if any(is_symbolic(n) for n in sizes):
        return f"shifted by {shift} (none along an axis of one window)"
    kept = [n > window for n in sizes]
    if all(kept):
        return f"shifted by {shift}"
    if not any(kept):
        return f"not shifted: one window spans the padded map (torchvision drops the shift {shift})"
    return f"shifted by {shift} along {'H' if kept[0] else 'W'} only (one window spans the other axis)"


def _window_attention(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    h, w, c = channels_last("window_attention", shapes)
    heads, window, shift, bias = args["heads"], args["window"], args["shift"], args["bias"]
    if not must_divide(heads, c, lambda: f"heads={heads} divide the {factor(c)} channels"):
        raise RuleError(f"heads={heads} must divide the {c} channels")
    if shift >= window:
        raise RuleError(f"shift={shift} must be less than the window ({window})")
    ph, pw = padded(h, window), padded(w, window)
    positions, area = ph * pw, window * window
    table = (2 * window - 1) ** 2 * heads
    projections = 4 * c * c + (4 * c if bias else 0)
    params = projections + table
    macs = 4 * positions * c * c + 2 * positions * area * c
    scores = heads * positions * area  # per window and head w²×w²: heads·(P/w²)·w⁴
    # What autograd keeps, as torchvision's explicit matmul and softmax run (measured): the windows (a copy: the
    # map padded, rolled and partitioned) read by the QKV projection, the scaled Q and a copy of K for Q·Kᵀ,
    # the softmax's output (the scores, also the weighted sum's factor) and a copy of V, and the context read by
    # the output projection. The relative position index, a buffer, is kept too (counted with the buffers).
    # The scores have the bias table's type (float32 under autocast, whose Q·Kᵀ plus the bias promotes), and
    # autocast keeps their low-precision copy for the weighted sum of V too.
    # One exception, at batch 1 over a single window: K and V are then views of the packed QKV, kept whole
    # (3·P·C where the engine counts 2·P·C; Swin-T's last stage at 224: 0.3 % of its saved bytes).
    saved = (Saved("own:windows", positions * c), Saved("weight", 4 * c * c, per_sample=False, for_input_grad=True),
             Saved("own:q", positions * c), Saved("own:k", positions * c), Saved("own:scores", scores, weights_type=True),
             Saved("own:low_scores", scores, autocast_only=True),
             Saved("own:v", positions * c), Saved("own:context", positions * c))
    symbolic = is_symbolic(h) or is_symbolic(w)
    pad_text = "" if not symbolic and (ph, pw) == (h, w) else f", padded to {shape_text((ph, pw))}"
    windows = f"{shape_text((ph // window, pw // window))} windows of {window}·{window}"

    def formulas() -> dict[str, str]:
        bias_terms = f" + 3·{c} + {c}" if bias else ""
        return {
            "shape": f"unchanged: {shape_text((h, w, c))} ({heads} heads of {c // heads}; {windows}{pad_text}; "
                     f"{_shift_text(shift, window, (ph, pw))})",
            "params": f"3·{c}·{c} + {c}·{c}{bias_terms} + (2·{window} − 1)²·{heads} = {num(params)} "
                      "(Q, K, V and output projections; relative position bias table)",
            "buffers": f"({window}·{window})² = {num(area * area)} (relative position index; int64 in torch, "
                       "counted at the network's element size)",
            "macs": f"4·{product((ph, pw))}·{c}·{c} + 2·{product((ph, pw))}·{area}·{c} = {num(macs)} "
                    f"(projections of the padded positions; Q·Kᵀ and the weighted sum of V in each window)",
        }

    return Eval(
        (h, w, c),
        params=params,
        buffers=area * area,
        macs=macs,
        # an output sees its window: at most w positions along an axis, all of a smaller map
        window=None if symbolic else Window((min(window, h), min(window, w))),
        # alive at the softmax: the windows, the packed Q, K, V, the scaled Q, the scores before and after
        temporaries=5 * positions * c + 2 * scores,
        saved=saved,
        formulas=formulas,
    )


def _patch_merging(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
    h, w, c = channels_last("patch_merging", shapes)
    oh, ow = (h + 1) // 2, (w + 1) // 2  # torchvision pads an odd size by one
    positions, merged = oh * ow, 4 * c
    weights = merged * 2 * c
    params = 2 * merged + weights
    macs = positions * weights
    # autograd keeps the merged 2×2 neighbourhoods (the norm's input), the norm's mean and 1/σ per position
    # (float32), and the normalised features (the reduction's input)
    saved = (Saved("own:merged", positions * merged), Saved("own:stats", 2 * positions, STATS_ITEMSIZE),
             Saved("own:normed", positions * merged), Saved("weight", weights, per_sample=False, for_input_grad=True))
    return Eval(
        (oh, ow, 2 * c),
        params=params,
        macs=macs,
        window=Window((2, 2), (2, 2)),
        grid=(oh, ow),
        temporaries=2 * positions * merged,  # the padded copy and the merged map, then the merged and normalised
        saved=saved,
        formulas=lambda: {
            "shape": f"{shape_text((h, w, c))} → {shape_text((oh, ow, 2 * c))} (each 2×2 neighbourhood's 4·{c} "
                     f"features, normalised, → 2·{c}{'' if (2 * oh, 2 * ow) == (h, w) else '; odd sizes padded'})",
            "params": f"2·4·{c} + 4·{c}·2·{c} = {num(params)} (LayerNorm of 4·{c}; reduction without bias)",
            "macs": f"{product((oh, ow))}·4·{c}·2·{c} = {num(macs)}",
        },
    )


RULES = [
    Rule("window_attention", "Swin's shifted-window self-attention over an H×W×C map, with a relative position bias "
         "(torchvision's ShiftedWindowAttention)",
         (Arg("heads", "pos", required=True, doc="attention heads (must divide C)"),
          Arg("window", "pos", required=True, doc="the window's side w: attention within each w×w window"),
          Arg("shift", "int", 0, "the cyclic shift of the windows (Swin's odd blocks: w // 2); less than the window"),
          Arg("bias", "bool", True, "biases of the QKV and output projections")),
         _window_attention, shorthand="heads", role=Role.WEIGHTED, autocast=LOW),
    Rule("patch_merging", "Swin's patch merging: each 2×2 neighbourhood of an H×W×C map concatenated (4C), "
         "LayerNorm, and a linear map to 2C without bias: H/2×W/2×2C",
         (EPS,), _patch_merging, role=Role.WEIGHTED, autocast=LOW),
]
