"""The spec's parameter tensors matched one for one with a model's, by shape.

Each of the engine's tensors takes the model's first tensor of its shape not
yet taken (the model's in the order it runs them). One packing is allowed
for, either way: one side holds packed what the other holds apart (q, k and
v as nn.MultiheadAttention's in_proj or GPT-2's c_attn, against three
projections, of different heads' counts under grouped-query attention).
Where one side has more tensors of a shape than the other, each of those is
first matched to tensors of the other side that are siblings (the same
parent module, or the same engine layer; the same parameter name and
trailing sizes), consecutive in order, and whose first sizes add up to its
own: what concatenating them would give. Tensors left unmatched after that
are matched by their shape without its leading 1s (a position table kept as
1×N×D or as N×D).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from typing import NamedTuple

from ...rules.base import Shape


class Tensor(NamedTuple):
    owner: str  # the model's module holding it, or the engine's layer
    group: str  # where its siblings are: the model's parent module, or the engine's layer
    leaf: str  # its name in its module: weight, bias
    shape: Shape


def model_tensor(name: str, shape: Shape) -> Tensor:
    """A model's parameter by its full name (`h.0.attn.c_attn.weight`)."""
    owner, _, leaf = name.rpartition(".")
    return Tensor(owner, owner.rpartition(".")[0], leaf, shape)


def match(ours: Sequence[Tensor], theirs: Sequence[Tensor]) -> tuple[dict[str, set[str]], list[Tensor], list[Tensor]]:
    """(engine layer → the model's modules holding its tensors; the engine's and the model's left unmatched)."""
    pairs: list[tuple[int, int]] = []  # (ours, theirs)
    used_ours, used_theirs = set(), set()
    for packed, pieces, flip in ((ours, theirs, False), (theirs, ours, True)):
        used_packed, used_pieces = (used_theirs, used_ours) if flip else (used_ours, used_theirs)
        wanted, offered = Counter(t.shape for t in packed), Counter(t.shape for t in pieces)
        for i, tensor in enumerate(packed):
            if i in used_packed or wanted[tensor.shape] <= offered[tensor.shape] or not tensor.shape:
                continue
            run = _concatenated(tensor.shape, pieces, used_pieces)
            if run:
                used_packed.add(i)
                used_pieces.update(run)
                pairs += [(j, i) if flip else (i, j) for j in run]
    for same in (lambda shape: shape, _squeezed):
        pool: dict[Shape, deque[int]] = {}
        for j, tensor in enumerate(theirs):
            if j not in used_theirs:
                pool.setdefault(same(tensor.shape), deque()).append(j)
        for i, tensor in enumerate(ours):
            if i not in used_ours and pool.get(same(tensor.shape)):
                j = pool[same(tensor.shape)].popleft()
                used_ours.add(i)
                used_theirs.add(j)
                pairs.append((i, j))
    owners: dict[str, set[str]] = {}
    for i, j in pairs:
        owners.setdefault(ours[i].owner, set()).add(theirs[j].owner)
    return (owners, [t for i, t in enumerate(ours) if i not in used_ours],
            [t for j, t in enumerate(theirs) if j not in used_theirs])


def _squeezed(shape: Shape) -> Shape:
    """A shape without its leading 1s: (1, 64, 128), a table kept ready to broadcast over a batch, is (64, 128)."""
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _concatenated(shape: Shape, pieces: Sequence[Tensor], used: set[int]) -> list[int] | None:
    """The first run of unused sibling tensors, consecutive in order, that concatenate to `shape`."""
    groups: dict[tuple[str, str, Shape], list[int]] = {}
    for j, piece in enumerate(pieces):
        if j not in used and len(piece.shape) == len(shape) and piece.shape[1:] == shape[1:] and piece.shape[0] < shape[0]:
            groups.setdefault((piece.group, piece.leaf, piece.shape[1:]), []).append(j)
    for members in groups.values():
        for start in range(len(members)):
            total = 0
            for end in range(start, len(members)):
                total += pieces[members[end]].shape[0]
                if total == shape[0] and end > start:
                    return members[start:end + 1]
                if total >= shape[0]:
                    break
    return None
