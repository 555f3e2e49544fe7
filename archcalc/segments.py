"""Where activation checkpointing cuts a network: at every block, or into N segments.

`every-block` checkpoints each innermost block instance (`conv2_x.bottleneck1`,
`encoder_layer_3`): a run of consecutive layers the spec wrote inside one
instance, branches included; layers outside blocks (a stem, a head) are not
checkpointed. `N` cuts the layers in run order as
torch.utils.checkpoint.checkpoint_sequential cuts a Sequential: N segments of
⌊L/N⌋ layers, the last taking the rest and left unchecked (its backward runs
right after the forward, so recomputing it would gain nothing); a bound that
falls inside a mixture of experts moves past it (a mixture is one unit).
"""

from __future__ import annotations

from .errors import ArchcalcError
from .ir import Network
from .safe import clip, describe

EVERY_BLOCK = "every-block"
MAX_SEGMENTS = 5_000  # no network has more layers (expand.MAX_LAYERS)


def parse(text: str) -> str | int:
    """A --checkpoint value: none, every-block, or a number of segments."""
    if text in ("none", EVERY_BLOCK):
        return text
    if text.isascii() and text.isdigit() and len(text) < 6 and 1 <= int(text) <= MAX_SEGMENTS:
        return int(text)
    raise ValueError(f"expected none, {EVERY_BLOCK} or a number of segments from 1 to "
                     f"{MAX_SEGMENTS:,}; received '{clip(text, 40)}'")


def chosen(checkpoint: str | int | None) -> str | int | None:
    """every-block or a number of segments; None for none."""
    return None if checkpoint in (None, "none") else checkpoint


def label(checkpoint: str | int | None) -> str:
    """How output names a checkpointing choice."""
    if checkpoint in (None, "none"):
        return "no checkpointing"
    return "checkpoint every block" if checkpoint == EVERY_BLOCK else f"checkpoint {checkpoint} segments"


def cut(network: Network, checkpoint: str | int | None) -> tuple[range, ...]:
    """The checkpointed segments, as ranges of layer indices in run order (none for None or "none")."""
    if checkpoint in (None, "none"):
        return ()
    layers = network.layers
    if checkpoint == EVERY_BLOCK:
        runs: list[range] = []
        for index, layer in enumerate(layers):
            if not layer.block:
                continue
            if runs and runs[-1].stop == index and layers[index - 1].block == layer.block:
                runs[-1] = range(runs[-1].start, index + 1)
            else:
                runs.append(range(index, index + 1))
        if not runs:
            raise ArchcalcError(f"{network.name} has no blocks to checkpoint (its spec writes no block); "
                                "give --checkpoint N to cut it into N segments")
        return tuple(runs)
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or not 1 <= checkpoint <= MAX_SEGMENTS:
        raise ArchcalcError(f"checkpoint: expected none, {EVERY_BLOCK} or a number of segments from 1 to "
                            f"{MAX_SEGMENTS:,}; received {describe(checkpoint)}")
    if checkpoint > len(layers):
        raise ArchcalcError(f"{network.name} has {len(layers)} layers: at most {len(layers)} segments")
    size = len(layers) // checkpoint
    return _whole_mixtures(network, tuple(range(start, start + size) for start in range(0, size * (checkpoint - 1), size)))


def _whole_mixtures(network: Network, runs: tuple[range, ...]) -> tuple[range, ...]:
    """The segments with no bound inside a mixture of experts (between its router and its combine pass
    routed tokens, not one tensor): such a bound moves to the layer after the mixture's combine."""
    layers = network.layers

    def past(index: int) -> int:
        while index < len(layers) and (layers[index].experts is not None or layers[index].kind == "combine"):
            index += 1
        return index

    moved = (range(past(run.start), past(run.stop)) for run in runs)
    return tuple(run for run in moved if len(run))
