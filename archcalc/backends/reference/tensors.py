"""The spec's parameter tensors matched one for one with a model's, by shape.

Each of the engine's tensors takes the model's first tensor of its shape not
yet taken (the model's in the order it runs them). One packing is allowed
for: a tensor the engine holds packed (q, k and v as nn.MultiheadAttention's
one in_proj) where the model holds them apart (three projections, or q, k
and v of different heads' counts under grouped-query attention). Where the
engine has more tensors of a shape than the model, each such tensor is first
matched to tensors of sibling modules (the same parent, the same parameter
name, the same trailing sizes), consecutive in run order, whose first sizes
add up to its own: what concatenating them would give.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

from ...rules.base import Shape

Theirs = tuple[str, str, Shape]  # (parameter name, owning module, shape), in run order
Left = tuple[list[tuple[str, Shape]], list[tuple[str, Shape]]]  # (engine's unmatched, model's unmatched)


def match(ours: Sequence[tuple[str, Shape]], theirs: Sequence[Theirs]) -> tuple[dict[str, set[str]], Left]:
    """(engine layer → the model's modules holding its tensors, and what neither side matched)."""
    owners: dict[str, set[str]] = {}
    taken: set[int] = set()  # indices into theirs
    wanted, offered = Counter(shape for _, shape in ours), Counter(shape for _, _, shape in theirs)
    packed = [i for i, (_, shape) in enumerate(ours) if wanted[shape] > offered[shape] and len(shape) >= 1]
    done: set[int] = set()
    for i in packed:
        node, shape = ours[i]
        run = _concatenated(shape, theirs, taken)
        if run:
            taken.update(run)
            done.add(i)
            owners.setdefault(node, set()).update(theirs[j][1] for j in run)
    pool: dict[Shape, deque[int]] = {}
    for j, (_, _, shape) in enumerate(theirs):
        if j not in taken:
            pool.setdefault(shape, deque()).append(j)
    unmatched = []
    for i, (node, shape) in enumerate(ours):
        if i in done:
            continue
        if pool.get(shape):
            j = pool[shape].popleft()
            taken.add(j)
            owners.setdefault(node, set()).add(theirs[j][1])
        else:
            unmatched.append((node, shape))
    return owners, (unmatched, [(theirs[j][1], theirs[j][2]) for j in range(len(theirs)) if j not in taken])


def _concatenated(shape: Shape, theirs: Sequence[Theirs], taken: set[int]) -> list[int] | None:
    """The first run of untaken sibling tensors, consecutive in run order, that concatenate to `shape`."""
    groups: dict[tuple[str, str, Shape], list[int]] = {}
    for j, (name, owner, their) in enumerate(theirs):
        if j not in taken and len(their) == len(shape) and their[1:] == shape[1:] and their[0] < shape[0]:
            parent, leaf = owner.rpartition(".")[0], name.rpartition(".")[2]
            groups.setdefault((parent, leaf, their[1:]), []).append(j)
    for members in groups.values():
        for start in range(len(members)):
            total = 0
            for end in range(start, len(members)):
                total += theirs[members[end]][2][0]
                if total == shape[0] and end > start:
                    return members[start:end + 1]
                if total >= shape[0]:
                    break
    return None
