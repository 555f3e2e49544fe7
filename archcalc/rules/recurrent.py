"""Recurrent layers over a token-feature sequence (S×D): LSTM and GRU, as torch.nn.LSTM and nn.GRU compute them.

Each of `layers` layers runs one cell per direction over the S steps; layer 1
reads D features, every later one the H·directions of the layer below. A cell
of G gates (LSTM 4, GRU 3) holds G·H·(in + H) weights and, with `bias`, both of
torch's bias vectors b_ih and b_hh (2·G·H), as torch counts them.

MACs are the two matrix products per step, the input's (G·H·in) and the
hidden state's (G·H·H), times S, per layer and direction. The gate
nonlinearities (σ, tanh) and the elementwise products and sums of the cell
state count 0 MACs, as norms and activations do (archcalc.conventions).

What autograd keeps is what PyTorch's CPU kernels keep in float32, measured with
saved_tensors_hooks (torch 2.14): nn.LSTM runs oneDNN's fused layer
(aten.mkldnn_rnn_layer, one call per layer and direction), nn.GRU PyTorch's
native cell, step by step (CUDA's cuDNN keeps other tensors; the meta device
runs the native LSTM cell, so LSTMs are measured on a real device only).
Per layer and direction (per sample):

- LSTM: its output S·H, its last h and c (2·H) and oneDNN's workspace, the
  gates of every step and the h and c states and their gradients of every
  step, rows padded as oneDNN pads them (`_padded`):
  4·S·H + (S+1)·(6·max(in, H) + 5·H). oneDNN also rounds each of its seven
  parts up to a 4 KiB page: counted as half a page each, whatever the batch
  (`PAGE_ROUNDING`). Without biases, torch gives oneDNN copies of
  the weights, kept too (G·H·(in + H), once, whatever the batch).
- GRU: per step its hidden-state gates (3·H) and three H-wide tensors of its
  update (6·S·H), and each step's state but the last ((S−1)·H); layer 1 a
  time-major copy of its input (S·D; at batch 1 that copy is a view of the
  input itself).

The layer's output is batch-major and contiguous (`out`, which the next
layer may keep): the time-major sequence the kernels make is copied, as the
next matrix product would copy torch's transposed view of it (at batch 1 that
view is contiguous, and the copy is none).

Between layers: with dropout, its mask and the dropped output (2·S·H·dirs);
without, the joined directions (S·2H) of a bidirectional LSTM, a GRU's stacked
output (S·H·dirs). The zero initial states: L·dirs·H (h; an LSTM's c as many).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..args import Arg
from ..symbolic import largest
from .base import KEEP, WHOLE, Eval, Role, Rule, RuleError, Saved, Shape, num, one_input, shape_text


class Cell(NamedTuple):
    """What sets one recurrent kind apart: its gates and the name torch gives it."""

    kind: str
    gates: int
    module: str  # torch.nn's class


MAX_LAYERS = 1000  # deeper stacks than any trained recurrent network

LSTM = Cell("lstm", 4, "LSTM")
GRU = Cell("gru", 3, "GRU")


# oneDNN starts each of its workspace's seven parts on a 4 KiB page: half a page of float32 each, on average,
# once per layer and direction whatever the batch (a batch-1 workspace of a few steps is mostly rounding).
PAGE_ROUNDING = 7 * 4096 // 2 // 4


def _padded(n: Any) -> Any:
    """A row of n float32 as oneDNN lays it out: rounded up to 16 (64 bytes), 16 more when a multiple of 256
    (against cache aliasing): ⌊r/256⌋ − ⌊(r − 1)/256⌋ is 1 just then, a formula in a symbolic size too."""
    row = -(-n // 16) * 16
    return row + 16 * (row // 256 - (row - 1) // 256)


def _layer_inputs(d: Any, args: Mapping[str, Any]) -> list[Any]:
    """The features each layer reads: D, then H·directions."""
    return [d] + [args["hidden"] * _directions(args)] * (args["layers"] - 1)


def _directions(args: Mapping[str, Any]) -> int:
    return 2 if args["bidirectional"] else 1


def _workspace(s: Any, n: Any, h: int) -> Any:
    """oneDNN's LSTM workspace of one layer and direction, per sample (see the module's docstring)."""
    return s * _padded(4 * h) + (s + 1) * (6 * _padded(largest((n, h))) + 5 * _padded(h))


def _lstm_saved(s: Any, args: Mapping[str, Any], widths: list[Any]) -> list[Saved]:
    h, dirs, layers = args["hidden"], _directions(args), args["layers"]
    saved = [Saved("in0", s * widths[0]), Saved("own:h0", layers * dirs * h), Saved("own:c0", layers * dirs * h)]
    for layer, n in enumerate(widths, 1):
        for way in range(dirs):
            saved += [Saved(f"own:output{layer}.{way}", s * h), Saved(f"own:hc{layer}.{way}", 2 * h),
                      Saved(f"own:workspace{layer}.{way}", _workspace(s, n, h)),
                      Saved(f"own:pages{layer}.{way}", PAGE_ROUNDING, per_sample=False)]
            if not args["bias"]:  # torch then hands oneDNN copies of the weights, which autograd keeps
                saved.append(Saved(f"own:weights{layer}.{way}", LSTM.gates * h * (n + h), per_sample=False))
        if layer < layers:
            saved += _between(s, args, layer, joined=dirs == 2)
    return saved


def _gru_saved(s: Any, args: Mapping[str, Any], widths: list[Any]) -> list[Saved]:
    h, dirs, layers = args["hidden"], _directions(args), args["layers"]
    saved = [Saved("own:h0", layers * dirs * h)]
    saved += [Saved(f"tmp:input.{way}", s * widths[0], input_type=True) for way in range(dirs)]
    for layer in range(1, layers + 1):
        saved += [Saved(f"own:steps{layer}.{way}", 6 * s * h + (s - 1) * h) for way in range(dirs)]
        if layer < layers:
            saved += _between(s, args, layer, joined=True)
    return saved


def _between(s: Any, args: Mapping[str, Any], layer: int, joined: bool) -> list[Saved]:
    """What the next layer's input keeps: dropout's mask and result, or the directions joined in one tensor."""
    width = s * args["hidden"] * _directions(args)
    if args["dropout"]:
        return [Saved(f"own:mask{layer}", width), Saved(f"own:dropped{layer}", width)]
    return [Saved(f"own:joined{layer}", width)] if joined else []


def _recurrent(cell: Cell):
    def evaluate(args: Mapping[str, Any], shapes: list[Shape]) -> Eval:
        s, d = one_input(cell.kind, shapes, 2)
        if args["dropout"] > 1:
            raise RuleError(f"dropout={args['dropout']:g} is a probability: at most 1")
        if args["layers"] > MAX_LAYERS:  # each layer is its own entries: a spec's typo must not take minutes
            raise RuleError(f"layers={args['layers']:,} is past the {MAX_LAYERS:,} stacked layers this kind takes")
        h, dirs, g = args["hidden"], _directions(args), cell.gates
        widths = _layer_inputs(d, args)
        weights = [g * h * (n + h) for n in widths]
        biases = 2 * g * h if args["bias"] else 0
        params = dirs * (sum(weights) + len(widths) * biases)
        macs = dirs * s * sum(weights)
        saved = (_lstm_saved if cell is LSTM else _gru_saved)(s, args, widths)
        out = (s, h * dirs)

        def formulas() -> dict[str, str]:
            per = " + ".join(f"{g}·{h}·({n} + {h})" + (f" + 2·{g}·{h}" if biases else "") for n in widths)
            ways = f"{dirs}·" if dirs > 1 else ""
            return {
                "shape": f"{shape_text((s, d))} → {shape_text(out)} ({args['layers']} layer(s) of {h}"
                         + (", both directions)" if dirs > 1 else ")"),
                "params": f"{ways}({per}) = {num(params)} ({g} gates; b_ih and b_hh as torch counts them)",
                "macs": f"{ways}{s}·(" + " + ".join(f"{g}·{h}·({n} + {h})" for n in widths)
                        + f") = {num(macs)} (input and hidden products per step; gates and cell updates 0)",
            }

        return Eval(out, params=params, macs=macs, window=WHOLE, saved=tuple(saved), formulas=formulas)

    return evaluate


def _args(cell: Cell) -> tuple[Arg, ...]:
    return (Arg("hidden", "pos", required=True, doc="hidden units H of each layer and direction"),
            Arg("layers", "pos", 1, "stacked layers, each reading the one below"),
            Arg("bidirectional", "bool", False, "a second cell per layer reading the sequence backwards"),
            Arg("bias", "bool", True, f"both bias vectors b_ih and b_hh ({2 * cell.gates}·H per cell)"),
            Arg("dropout", "float", 0.0, "dropout on the output of every layer but the last, as torch", low=0.0))


RULES = [
    Rule(cell.kind, f"{cell.module} over an S×D sequence (torch.nn.{cell.module}): S×(H·directions)", _args(cell),
         _recurrent(cell), shorthand="hidden", role=Role.WEIGHTED, kernel_by_device=True, autocast=KEEP)
    for cell in (LSTM, GRU)
]
