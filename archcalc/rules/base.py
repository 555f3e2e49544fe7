"""What a rule is, what it returns, and the arithmetic every rule shares.

A `Rule` is one layer kind: its arguments, an optional pure `resolve` that
fills in the defaults which depend on other arguments or on the input (a bias
unless batch norm follows, a window's stride, padding per side, a shortcut's
mode), and one pure `evaluate` that, from the resolved arguments and the
input shapes, returns an `Eval` — output shape, parameters, MACs,
receptive-field window, what autograd would save, and the formula text
behind each figure. The analysis resolves a layer's arguments once
(`analysis.arguments`); evaluate, the backends and the diagram read the
resolved values and decide no default again. What a kind is to the rest of
archcalc is declared with it too: its `Role` (a weight layer, an activation,
a regulariser, a merge), the `Inputs` it reads, and its diagram `Picture`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from math import prod
from typing import Any, NamedTuple

from ..args import Arg
from ..symbolic import divides, factor, is_symbolic, require

Shape = tuple[int, ...]


TIE_ARG = Arg("tie", "str", None, "share the weight of this earlier layer (an embedding, linear or fc whose weight "
              "has the same shape, as GPT-2's LM head shares its token table): counted once, there")


class RuleError(ValueError):
    """A rule cannot apply to these inputs; the message shows the arithmetic."""


# The values every layer makes (Window, Saved, Eval, Extent) are immutable NamedTuples, not frozen
# dataclasses: a frozen dataclass sets each field through object.__setattr__, three times slower,
# and the analysis makes several per layer of networks thousands of layers deep.


class Window(NamedTuple):
    """How a layer moves the receptive field: kernel, stride, dilation, one per spatial axis.

    Empty tuples mean 1 on every axis, whatever the rank (an activation, a
    norm). Upsampling layers (transposed convolution, interpolation) have a
    fractional stride 1/S: an output reads ⌈K/S⌉ neighbouring inputs, and
    neighbouring outputs are 1/S input steps apart.
    """

    k: tuple[int, ...] = ()
    s: tuple[Any, ...] = ()  # int, or Fraction(1, S) when upsampling
    d: tuple[int, ...] = ()
    whole: bool = False  # sees its whole input (global pool, flatten)


IDENTITY = Window()
WHOLE = Window(whole=True)


class Saved(NamedTuple):
    """A tensor autograd keeps for backward, as PyTorch's kernels do.

    `ref` says which tensor: "in0".."inN" (an input, shared with its producer),
    "out" (this layer's output), "tmp:<name>" (an inner tensor of a fused
    layer), "own:<name>" (indices, masks, statistics only this layer holds) or
    "weight" (the trained weights its kernel keeps, per_sample False: the
    parameters themselves, counted apart, except under autocast, which keeps
    the low-precision copy it made).
    `itemsize` None means the tensor's own dtype: the input as the layer reads
    it, otherwise the layer's output dtype (see `Autocast`), its input's
    with `input_type`, or the parameters' with `weights_type`.
    """

    ref: str
    elements: int
    itemsize: int | None = None
    per_sample: bool = True  # False for per-channel statistics, whatever the batch
    # Kept only when the layer's input needs a gradient: a matrix product keeps each factor for the other's
    # gradient alone (a convolution keeps its weight whatever its input).
    for_input_grad: bool = False
    input_type: bool = False  # an inner tensor made before the layer's own parameters apply: its input's type
    # An inner tensor in the parameters' own type, whatever autocast computes in: a sum with a float32 parameter
    # promotes (Swin's scores plus their relative position bias).
    weights_type: bool = False
    # Autocast's low-precision copy of an inner tensor of another type, made for the next matrix product: kept
    # only when autocast runs the layer (otherwise the product reads the tensor itself, kept once).
    autocast_only: bool = False
    # On the CPU the tensor has its input's type, not `itemsize`: dropout's mask is CUDA's one byte, the CPU's a
    # float of the input's type (F.dropout multiplies by it).
    input_type_on_cpu: bool = False
    device: str | None = None  # kept only where this device's kernel runs ("cpu", "cuda"); None: on every device


class Autocast(NamedTuple):
    """How torch.autocast treats a kind, on CUDA and on the CPU (PyTorch's op lists differ).

    "low": its inputs and weights are cast to the low precision (convolutions, linear layers,
    matrix products, attention); "fp32": its inputs are cast to float32 and it runs in float32
    (CUDA's layer and group norm and softmax); "keep": no autocast rule, the result has its
    inputs' type (the widest of them, as PyTorch promotes); "promote": its inputs are read as they
    are, but the result is float32, as are the tensors it makes inside (a learned scale or
    embedding multiplied or added in, or inner steps on autocast's float32 list: LRN's power).
    """

    cuda: str = "keep"
    cpu: str = "keep"


KEEP = Autocast()
LOW = Autocast("low", "low")
PROMOTE = Autocast("promote", "promote")
FP32_ON_CUDA = Autocast(cuda="fp32", cpu="keep")  # CUDA's float32 list has the norms and softmax; the CPU's not


class Formulas(Mapping[str, str]):
    """Formula texts made on first use (most reports never show them): dicts, or functions returning one."""

    __slots__ = ("_parts", "_texts")

    def __init__(self, *parts: Mapping[str, str] | Callable[[], Mapping[str, str]]):
        self._parts, self._texts = parts, None

    def _all(self) -> dict[str, str]:
        if self._texts is None:
            texts: dict[str, str] = {}
            for part in self._parts:
                texts.update(part() if callable(part) else part)
            self._texts = texts
        return self._texts

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __reduce__(self) -> tuple:  # copied or pickled as the plain dict it stands for
        return dict, (self._all(),)


class Eval(NamedTuple):
    """Everything one layer contributes, per sample, with its formulas."""

    shape: Shape
    params: int = 0  # trainable
    fixed: int = 0  # parameters that are not trained (LeNet-5's RBF centres)
    buffers: int = 0  # state that is not a parameter (BN running statistics)
    counters: int = 0  # of the buffers, int64 counts (BN's num_batches_tracked; norm.COUNTER_ITEMSIZE)
    macs: int = 0
    window: Window | None = IDENTITY  # None: no closed-form receptive field (adaptive bins of a symbolic size)
    output: str = "new"  # "new" tensor, or "view" of input 0 (no new memory)
    temporaries: int = 0  # elements alive only while the layer runs (e.g. conv before its BN)
    saved: tuple[Saved, ...] = ()
    formulas: Mapping[str, str] | Callable[[], Mapping[str, str]] = MappingProxyType({})  # a function: made on demand
    flags: tuple[str, ...] = ()  # inexact divisions and other things worth a look
    grid: tuple[int, ...] | None = None  # positions of an output that is not a C×… map (patch_embed's tokens)
    # A layer with several outputs (a split into all its parts): each one's shape, read as `name:0`, `name:1` …;
    # `shape` is the first's. They share one storage: the input's for a view, else one made for them all.
    outputs: tuple[Shape, ...] = ()
    weight: Shape = ()  # the shape of its main weight as torch holds it (out × in, vocab × dim), which `tie` may share
    cache: int = 0  # elements kept for later decode steps (attention's K and V), per sample


class Role(Enum):
    """What a kind is to the rest of archcalc, beyond its figures: which lists name it."""

    LAYER = "layer"  # none of the below
    WEIGHTED = "weighted"  # a weight layer: counts toward a network's depth (conv, fc, attention …)
    ACTIVATION = "activation"  # an activation function: what `act:` names, inline or after a block
    REGULARISER = "regulariser"  # noise while training (dropout, stochastic depth)
    MERGE = "merge"  # joins branches (concat, add, mul): a block's body, a list of branches as its value

    @property
    def fused(self) -> bool:
        """Counted with the layer before, outside the textbook activation sum (it writes no new feature map)."""
        return self in (Role.ACTIVATION, Role.REGULARISER)


class Inputs(Enum):
    """The inputs a kind reads."""

    ONE = "one"
    MANY = "many"  # two or more of one role each: the merges
    MAP_AND_SIZE = "map and size"  # a map, then one whose size only is read (crop): its values and field are not
    QUERIES_AND_MEMORY = "queries, and a memory"  # one sequence, or a second that keys and values are read from


@dataclass(frozen=True)
class Picture:
    """How a diagram draws a kind's node (archcalc.diagram)."""

    fill: str | None = None  # the box's colour; None: the diagram's plain white
    symbol: str | None = None  # a merge drawn as a small circle holding this sign ("+"); None: its name and shape
    window: bool = False  # the label shows the kernel and stride (`conv 11/4`) from the arguments k and s
    shortcut: bool = False  # a residual shortcut: a dashed edge when it adds no parameters, else a dashed node


PLAIN = Picture()


@dataclass(frozen=True)
class Rule:
    """One layer kind."""

    kind: str
    doc: str
    args: tuple[Arg, ...]
    evaluate: Callable[[Mapping[str, Any], list[Shape]], Eval]
    shorthand: str | None = None  # the argument a bare value sets: `dropout: 0.5`
    role: Role = Role.LAYER
    inputs: Inputs = Inputs.ONE
    picture: Picture = PLAIN
    spatial: bool = False  # writes a C×L, C×H×W or C×T×H×W map whose positions are a new grid (conv, pooling, crop …)
    # PyTorch picks its kernel by device, and what autograd keeps with it: attention is fused on the
    # CPU and CUDA, a plain fallback on the meta device. Measured on a real device only.
    kernel_by_device: bool = False
    ids: bool = False  # reads the network's token ids (int64), as an embedding does
    autocast: Autocast = KEEP  # its type under torch.autocast (mixed precision)
    # checked arguments and input shapes → the arguments with their dependent defaults filled in
    resolve: Callable[[Mapping[str, Any], list[Shape]], Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        if (self.role is Role.MERGE) != (self.inputs is Inputs.MANY):
            raise ValueError(f"{self.kind}: a merge, and only a merge, reads many inputs")

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    def resolved(self, args: Mapping[str, Any], shapes: list[Shape]) -> Mapping[str, Any]:
        """The arguments as evaluate and the backends read them (RuleError when they cannot apply)."""
        return args if self.resolve is None else self.resolve(args, shapes)


def texts(formulas: Mapping[str, str] | Callable[[], Mapping[str, str]]) -> Mapping[str, str]:
    """An Eval's formulas as a mapping, made now if they were deferred."""
    return formulas() if callable(formulas) else formulas


def num(value: int) -> str:
    """An integer as the tables print it: 34,848."""
    return f"{value:,}"


def product(factors: list[int] | tuple[int, ...]) -> str:
    """`11·11·3·96` — the factors of a count as a formula shows them."""
    return "·".join(map(factor, factors))


def elements(shape: Shape) -> int:
    return prod(shape)


def shape_text(shape: Shape) -> str:
    """`96×55×55` (C×H×W), as every table prints a shape; `6×(N − 4)×(N − 4)` when symbolic."""
    return "×".join(map(factor, shape))


def one_input(kind: str, shapes: list[Shape], dims: int | None = None) -> Shape:
    """The single input shape of a one-input layer, of `dims` dimensions when given."""
    if len(shapes) != 1:
        raise RuleError(f"{kind} takes one input; received {len(shapes)}")
    shape = shapes[0]
    if dims is not None and len(shape) != dims:
        expected = "C×H×W" if dims == 3 else f"{dims}-D"
        raise RuleError(f"{kind} expects a {expected} input; received {shape_text(shape)}")
    return shape


AXES = {1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}  # the spatial axes of a C×L, C×H×W, C×T×H×W map
MAP_TEXT = {rank: "×".join(("C", *names)) for rank, names in AXES.items()}
MAPS = "C×L, C×H×W or C×T×H×W"


def one_map(kind: str, shapes: list[Shape]) -> tuple[Any, tuple[Any, ...]]:
    """The channels and spatial sizes of a one-input layer's map: C×L, C×H×W or C×T×H×W."""
    shape = one_input(kind, shapes)
    if len(shape) - 1 not in AXES:
        raise RuleError(f"{kind} expects a {MAPS} input; received {shape_text(shape)}")
    return shape[0], tuple(shape[1:])


def per_axis(name: str, value: Any, rank: int) -> tuple[Any, ...]:
    """An argument given as one integer for every axis, or a list of one per spatial axis of the input."""
    if not isinstance(value, tuple):
        return (value,) * rank
    if len(value) != rank:
        axes = "×".join(AXES[rank])
        raise RuleError(f"{name}={list(value)} has {len(value)} items; the input's map is {axes} "
                        f"({rank} spatial {'axis' if rank == 1 else 'axes'}): give an integer or a list of {rank}")
    return value


class Extent(NamedTuple):
    """One spatial output size, (N − K + 2P)/S + 1 rounded as PyTorch does, and its text on demand."""

    size: Any
    n: Any
    k: int
    s: int
    pads: tuple[int, int]
    d: int
    ceil: bool
    whole: bool  # S divides N − K + 2P

    @property
    def body(self) -> str:
        pad_text = f"2·{self.pads[0]}" if self.pads[0] == self.pads[1] else f"{self.pads[0]}+{self.pads[1]}"
        k_text = str(self.k) if self.d == 1 else f"({self.d}·({self.k}−1)+1)"
        return f"({self.n} − {k_text} + {pad_text})/{self.s}"

    @property
    def formula(self) -> str:
        body = self.body if self.whole else f"⌈{self.body}⌉" if self.ceil else f"⌊{self.body}⌋"
        return f"{body} + 1 = {self.size}"

    @property
    def inexact(self) -> str:
        """What did not divide, when something did not."""
        if self.whole:
            return ""
        rounded = "rounded up (ceil mode)" if self.ceil else "rounded down"
        top = self.n - (self.d * (self.k - 1) + 1) + sum(self.pads)
        if is_symbolic(top):
            return f"{self.body} is whole only when {top} ≡ 0 (mod {self.s}); otherwise {rounded}"
        return f"{self.body} = {top / self.s:g} is not whole; {rounded}"


def sliding(n: Any, k: int, s: int, pads: tuple[int, int], d: int = 1, ceil: bool = False) -> Extent:
    """Output size of a sliding window, as PyTorch computes it: (N − K + 2P)/S + 1.

    K is the dilated extent d·(k−1)+1. Inexact divisions floor (or ceil in
    ceil mode, never starting a window in the right padding), and say so.
    N may be a symbolic size: the size is then a formula, and what validity
    and exactness need of N is recorded (see `symbolic`).
    """
    top = n - (d * (k - 1) + 1) + pads[0] + pads[1]
    if ceil:
        size = (top + s - 1) // s + 1  # ⌈top/s⌉, written as a floor: one canonical form when symbolic
        if (size - 1) * s >= n + pads[0]:
            size -= 1
    else:
        size = top // s + 1
    extent = Extent(size, n, k, s, pads, d, ceil, True)
    if not divides(s, top, lambda: extent.body):
        extent = extent._replace(whole=False)
    if not require(size - 1, lambda: extent.formula):
        raise RuleError(f"output size {size} ≤ 0: {extent.formula}")
    return extent


def spatial(*extents: Extent) -> tuple[Callable[[], str], tuple[str, ...]]:
    """The shape formula of a window over 1, 2 or 3 axes, made on demand (one line when all alike), and its
    flags, one per distinct extent (a 16×112×112 clip's H and W share one)."""
    groups = _alike(extents)
    if len(groups) == 1:
        return lambda: extents[0].formula, (extents[0].inexact,) if not extents[0].whole else ()
    flags = tuple(f"{axes}: {e.inexact}" for axes, e in groups if not e.whole)
    return lambda: per_axis_text(tuple(e.formula for e in extents)), flags


def per_axis_text(texts: tuple[str, ...]) -> str:
    """One text when every axis has the same, else `H: …; W: …` (`T: …; H, W: …` in 3-D), axes alike together."""
    groups = _alike(texts)
    return texts[0] if len(groups) == 1 else "; ".join(f"{axes}: {text}" for axes, text in groups)


def _alike(values: tuple[Any, ...]) -> list[tuple[str, Any]]:
    """The distinct values of the spatial axes, in order, each with the names of its axes (`H, W`)."""
    axes: dict[Any, list[str]] = {}
    for name, value in zip(AXES[len(values)], values):
        axes.setdefault(value, []).append(name)
    return [(", ".join(names), value) for value, names in axes.items()]
