"""An ONNX graph walked into a Network: its tensors as the layers that make them.

A graph is walked in its order (ONNX's nodes are topologically sorted). The batch is every
tensor's first axis and is dropped, as a spec's shapes have none. A node whose inputs are all
known without running the network (initializers, constants, Shape of a tensor, arithmetic on
those) adds no layer: it is the graph computing a shape or a weight. Every other node maps to a
layer through the Builder, by its operator's handler in `onnxops.OPS`, named after the ONNX node
(`/layer1/layer1.0/conv1/Conv` is `layer1.0.conv1`), or is an error naming the node and its
operator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from .builder import Builder
from .errors import ArchcalcError, SpecError
from .ir import INPUT, SEQUENCE, SIZE_SYMBOLS, Network
from .onnxfold import FOLDS, fold
from .onnxops import OPS, STATIC_OPS, MappingError, attrs
from .safe import clip

_STATIC = object()  # the reference of a tensor known without running the network
_UNMAPPED = object()  # the reference of a tensor made by a node of no kind, or after one
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")
_INTEGERS = (6, 7, 3, 5, 12, 13)  # TensorProto's INT32, INT64, INT8, INT16, UINT32, UINT64: token ids
_STRING = 8  # TensorProto's STRING: never a number the graph computes with
_EXTERNAL = 1  # TensorProto's data_location of a tensor whose bytes are in another file
SMALL = 4_096  # elements of a constant whose values are read
MAX_NAME = 120  # characters of a layer name made from a node's (archcalc's limit is 200)


def graph_input(graph: Any, shown: str) -> Any:
    """The graph's one input that is not an initializer (older files list every weight as an input)."""
    weights = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in weights]
    if len(inputs) != 1:
        names = ", ".join(f"'{clip(v.name, 40)}'" for v in inputs[:4])
        raise ArchcalcError(f"{shown}: the model has {len(inputs)} inputs{' (' + names + ')' if names else ''}; "
                            "archcalc analyses a network of one input")
    return inputs[0]


def network(graph: Any, shown: str, name: str, allow_opaque: bool = False) -> Network:
    """The Network of an inferred graph; `allow_opaque` keeps a node of no kind as an `opaque` layer (its
    inferred shape, its weights' parameters, MACs unknown) where it reads one computed tensor."""
    return _Walk(graph, shown, name, allow_opaque).run()


class _Walk:
    """The graph's tensors as the layers that make them, built node by node."""

    def __init__(self, graph: Any, shown: str, name: str, allow_opaque: bool = False):
        self.graph, self.shown, self.allow_opaque = graph, shown, allow_opaque
        self.shapes = {v.name: _dims(v) for v in (*graph.input, *graph.value_info, *graph.output)}
        self.outputs = {v.name for v in graph.output}
        self.weights = {t.name: t for t in graph.initializer}
        self.weights.update({s.values.name: s.values for s in graph.sparse_initializer})
        self.constants = {n.output[0]: a.t for n in graph.node if n.op_type == "Constant" and n.output
                          for a in n.attribute if a.name == "value"}
        self.refs: dict[str, Any] = dict.fromkeys(self.weights, _STATIC)
        self.sources: dict[str, str] = {}  # a weight's copy or Transpose: the initializer it holds
        self.owners: dict[str, tuple[str, str]] = {}  # an initializer: the layer that counts it, and its kind
        self.reading: list[str] = []  # the initializers of the layer being added
        self.tie: str | None = None  # the embedding whose table the layer being added shares
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for tensor in node.input:
                self.consumers.setdefault(tensor, []).append(node)
        self.folded: dict[str, list[Any]] = {n.output[0]: _listed(attrs(n)) for n in graph.node
                                              if n.op_type == "Constant" and n.output and _listed(attrs(n)) is not None}
        self.absorbed: set[int] = set()
        self.taken: set[str] = set()  # layer names, and the module paths that hold some
        self.layers: set[str] = set()  # the names given, before their numbers
        self.numbers: dict[str, int] = {}  # the last number a name was given (relu_2, relu_3 …)
        source = graph_input(graph, shown)
        self.refs[source.name] = INPUT
        try:
            self.builder = Builder(input=self._input(source), name=name, file=shown)
        except SpecError as err:
            raise ArchcalcError(f"{shown}: the input '{clip(source.name, 60)}' {_dims(source)}: {err.message}") from None

    def run(self) -> Network:
        unmapped: list[Any] = []  # computed nodes of no kind, all named in one error
        for node in self.graph.node:
            inputs = [t for t in node.input if t]
            if id(node) in self.absorbed or not node.output:
                continue
            if node.op_type in STATIC_OPS or all(self.refs.get(t) is _STATIC for t in inputs):
                self.refs.update(dict.fromkeys(node.output, _STATIC))
                self._fold(node)
                if node.op_type in ("Identity", "Transpose") and (node.input[0] in self.weights
                                                                  or node.input[0] in self.sources):
                    self.sources[node.output[0]] = self.sources.get(node.input[0], node.input[0])
                if node.op_type == "Identity" and node.input[0] in self.weights:  # the exporter's copy of a weight
                    self.weights[node.output[0]] = self.weights[node.input[0]]
            elif any(self.refs.get(t) is _UNMAPPED for t in inputs):
                self.refs.update(dict.fromkeys(node.output, _UNMAPPED))
            elif node.op_type not in OPS or node.domain not in ("", "ai.onnx"):  # another domain's op of that name
                if not (self.allow_opaque and self._opaque(node)):
                    unmapped.append(node)
                    self.refs.update(dict.fromkeys(node.output, _UNMAPPED))
            else:
                self._map(node)
        if unmapped:
            named = ", ".join(f"'{clip(n.name or n.op_type, 60)}' ({clip(n.op_type, 30)})" for n in unmapped[:5])
            more = f" and {len(unmapped) - 5:,} more" if len(unmapped) > 5 else ""
            raise MappingError(f"{self.shown}: {len(unmapped)} node{'s' if len(unmapped) > 1 else ''} with no archcalc "
                               f"kind: {named}{more}")
        try:
            return self.builder.build()
        except SpecError as err:
            raise ArchcalcError(f"{self.shown}: {err.message}") from None

    def _map(self, node: Any) -> None:
        """The node through its operator's handler; attributes or inputs of a form no valid file has (a
        pooling without its kernel_shape, a list for a number) are refused as the handlers' own questions are."""
        try:
            OPS[node.op_type](self, node)
        except (IndexError, KeyError, TypeError, ValueError, OverflowError):
            raise self.refuse(node, "has attributes or inputs of a form archcalc cannot read") from None

    def _opaque(self, node: Any) -> bool:
        """The node as an opaque layer, where it reads one computed tensor and onnx inferred its one output's
        sizes; whether it is one."""
        computed = [t for t in node.input if t and not self.is_static(t)]
        shape = self.shapes.get(node.output[0]) if len(node.output) == 1 else None
        if len(computed) != 1 or not shape or not all(isinstance(d, int) for d in shape[1:]):
            return False
        params = sum(math.prod(self.weights[t].dims) for t in set(node.input) if t in self.weights)
        self.add(node, "opaque", {"shape": shape[1:], "params": params, "op": f"onnx.{clip(node.op_type, 40)}"},
                 inputs=computed)
        return True

    # ── what a handler asks of the graph ─────────────────────────────────────

    def add(self, node: Any, kind: str, args: Any = None, inputs: list[str] | None = None,
            outputs: list[str] | None = None) -> str:
        """A layer of `kind` for `node`, reading its first input (or `inputs`, tensor names); its output
        tensors (`outputs`, by default the node's first) become this layer."""
        refs = [self.ref(node, t) for t in (inputs or [node.input[0]])]
        if self.tie is not None:
            args, self.tie = {**(args or {}), "tie": self.tie}, None
        try:
            layer = self.builder.add(kind, args, inputs=refs, name=self._name(node))
        except SpecError as err:
            raise MappingError(f"{self.shown}: node '{clip(node.name, 80)}' ({clip(node.op_type, 30)}) as {kind}: "
                               f"{err.message}") from None
        self.owners.update(dict.fromkeys(self.reading, (layer, kind)))
        self.reading.clear()
        for tensor in outputs or node.output[:1]:
            self.refs[tensor] = layer
        return layer

    def alias(self, node: Any) -> None:
        """The node's output is its first input (Identity, a trivial Flatten)."""
        self.refs[node.output[0]] = self.refs[node.input[0]]

    def ref(self, node: Any, tensor: str) -> str:
        ref = self.refs.get(tensor)
        if ref is None or ref is _STATIC:
            what = "a constant" if ref is _STATIC else "a tensor no node makes"
            raise self.refuse(node, f"reads {what} ('{clip(tensor, 60)}') where a computed tensor is expected")
        return ref

    def is_static(self, tensor: str) -> bool:
        return self.refs.get(tensor) is _STATIC

    def learned(self, node: Any, index: int) -> bool:
        """Whether the node's `index`th input is a weight of the file (a bias that is an initializer), not a
        tensor the graph makes (the zeros an exporter writes for a convolution without a bias)."""
        return index < len(node.input) and node.input[index] in self.weights

    def weight_dims(self, node: Any, index: int) -> list[int]:
        """The dimensions of the node's `index`th input, a weight."""
        tensor = node.input[index] if index < len(node.input) else ""
        dims = self.shape(tensor)
        if not self.is_static(tensor) or dims is None or not all(isinstance(d, int) for d in dims):
            raise self.refuse(node, f"input {index + 1} is not a weight of known shape")
        self._claim(node, self.sources.get(tensor, tensor))
        return list(dims)

    def _claim(self, node: Any, weight: str) -> None:
        """The layer being added counts `weight`, unless an earlier one does: a MatMul or Gemm by an
        embedding's table (a tied LM head) shares it (`tie`); any other reuse would count it twice."""
        owner, kind = self.owners.get(weight, (None, None))
        if owner is None:
            self.reading.append(weight)
        elif kind == "embedding" and node.op_type in ("MatMul", "Gemm"):
            self.tie = owner
        else:
            raise self.refuse(node, f"reads the weight '{clip(weight, 60)}' that layer '{owner}' holds; archcalc "
                                    "shares only an embedding's table, with a linear layer (tie)")

    def value(self, node: Any, index: int) -> list[Any] | None:
        """The values of the node's `index`th input when it is a small constant written in the file."""
        tensor = node.input[index] if index < len(node.input) else ""
        if tensor in self.folded:
            return self.folded[tensor]
        found = self.weights.get(tensor) or self.constants.get(tensor)
        if found is None or found.data_type == _STRING or found.data_location == _EXTERNAL or math.prod(found.dims) > SMALL:
            return None  # a text, a tensor kept in another file (never opened), or too large to read
        from onnx import numpy_helper

        try:
            return numpy_helper.to_array(found).reshape(-1).tolist()
        except Exception:  # a tensor whose bytes do not fit its shape
            raise self.refuse(node, f"its constant '{clip(tensor, 60)}' does not hold its declared shape") from None

    def _fold(self, node: Any) -> None:
        """The values of a static node's output, where `onnxfold` knows them (the exporter's small sums)."""
        if node.op_type != "Shape" and node.op_type not in FOLDS:  # its inputs' values would be read for nothing
            return
        shape = self.shapes.get(node.input[0]) if node.op_type == "Shape" and node.input else None
        # an empty optional input keeps its place (unknown), so a Slice's steps are never read as its axes
        values = [self.value(node, i) if node.input[i] else None for i in range(len(node.input))] \
            if node.op_type != "Shape" else []
        out = fold(node.op_type, attrs(node), values, None if shape is None else [d if isinstance(d, int) else None for d in shape])
        if out is not None and len(out) <= SMALL and node.output:
            self.folded[node.output[0]] = out

    def shape(self, tensor: str) -> list[Any] | None:
        """A tensor's shape: an initializer's dimensions, or onnx's inferred ones (None where unknown)."""
        if tensor in self.weights:
            return list(self.weights[tensor].dims)
        return self.shapes.get(tensor)

    def rank(self, node: Any) -> int:
        shape = self.shapes.get(node.output[0]) or self.shapes.get(node.input[0])
        if shape is None:
            raise self.refuse(node, "its tensor's rank is unknown to onnx's shape inference")
        return len(shape)

    def axis(self, node: Any, axis: int) -> int:
        """An axis after the batch, from an ONNX axis (negative from the end)."""
        rank = self.rank(node)
        axis = axis + rank if axis < 0 else axis
        if not 1 <= axis < rank:
            raise self.refuse(node, f"works along axis {axis}, the batch" if axis == 0 else f"has an axis {axis} out of range")
        return axis - 1

    def absorb(self, node: Any, *steps: tuple[str, Callable[[Any], bool]]) -> list[Any] | None:
        """The chain of nodes that each read the one before (from `node`) alone, each an `op` its test
        `accept`s: they become part of this node's layer (a MatMul's bias Add, a Sigmoid's Mul of SiLU, the
        four nodes after GELU's Div); None, and nothing absorbed, where one is not so."""
        chain, last = [], node
        for op, accept in steps:
            readers = self.consumers.get(last.output[0], []) if last.output else []
            if len(readers) != 1 or readers[0].op_type != op or not accept(readers[0]) or last.output[0] in self.outputs:
                return None
            chain.append(last := readers[0])
        self.absorbed.update(id(n) for n in chain)
        return chain

    def refuse(self, node: Any, why: str) -> MappingError:
        return MappingError(f"{self.shown}: node '{clip(node.name or node.op_type, 80)}' ({clip(node.op_type, 30)}) {why}")

    # ── names and the input ──────────────────────────────────────────────────

    def _name(self, node: Any) -> str:
        """A layer name from the node's: its module path (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`),
        the operator's name after it where the path holds layers (`layer1.0.add`), numbered where a module
        runs twice (`layer1.0.relu_2`)."""
        parts = [_UNSAFE.sub("_", p).strip("_") or "_" for p in _module_path(node).split(".") if p]
        base = ".".join(parts)
        if not base or base in self.taken and base not in self.layers:
            base = ".".join([*parts, _UNSAFE.sub("_", node.op_type).strip("_").lower() or "node"])
        base = base[:MAX_NAME].strip(".")
        name = base
        while name in self.taken:  # the next free number after the last one given to this base
            self.numbers[base] = self.numbers.get(base, 1) + 1
            name = f"{base}_{self.numbers[base]}"
        parts = name.split(".")
        self.taken.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))  # a name, and the paths above it
        self.layers.add(base)
        return name

    def _input(self, value: Any) -> Any:
        """The Builder's input: the sizes after the batch, a named size a symbol (see `_symbols`)."""
        dims = _dims(value) or []
        sizes = dims[1:]
        if not dims or not sizes and value.type.tensor_type.elem_type not in _INTEGERS:
            raise ArchcalcError(f"{self.shown}: the input '{clip(value.name, 60)}' has no sizes after the batch")
        if value.type.tensor_type.elem_type in _INTEGERS:
            return {"ids": _symbols(sizes, 0, self.shown, True)[0]} if len(sizes) == 1 else self._bad_input(value)
        spatial = len(sizes) - 1 if len(sizes) >= 3 or self._reads_a_map(value.name) else 0
        symbols = _symbols(sizes, spatial, self.shown, len(sizes) == 2)
        if len(sizes) == 2 and spatial:
            return {"channels": symbols[0], "length": symbols[1]}
        return symbols

    def _reads_a_map(self, tensor: str) -> bool:
        return any(n.op_type in ("Conv", "ConvTranspose", "MaxPool", "AveragePool") for n in self.consumers.get(tensor, []))

    def _bad_input(self, value: Any) -> Any:
        raise ArchcalcError(f"{self.shown}: the input '{clip(value.name, 60)}' holds integers of the shape "
                            f"{_dims(value)}; token ids are a batch of one sequence, [batch, S]")


def _listed(constant: dict[str, Any]) -> list[Any] | None:
    """The values of a Constant written as numbers (value_int, value_ints, value_float, value_floats)."""
    for key in ("value_ints", "value_floats", "value_int", "value_float"):
        if key in constant:
            value = constant[key]
            return value[:SMALL] if isinstance(value, list) else [value]
    return None


def _module_path(node: Any) -> str:
    """The path of the module a node comes from: torch's TorchScript exporter writes it in the node's name
    (`/layer1/layer1.0/conv1/Conv`: layer1.0.conv1), its dynamo exporter in the metadata
    `pkg.torch.onnx.name_scopes` (`['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'convolution']`)."""
    scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), None)
    if scopes is not None and "/" not in node.name:
        names = re.findall(r"'([^']*)'", scopes[:2_000])
        return names[-2] if len(names) >= 2 else ""
    path = ""
    for segment in [s for s in node.name.split("/") if s][:-1]:
        path = segment if not path or segment.startswith(path + ".") else f"{path}.{segment}"
    return path


def _symbols(sizes: list[Any], spatial: int, shown: str, sequence: bool) -> list[Any]:
    """The input's sizes with each named one a symbol: a name archcalc knows (H, W, N, T, L; S, a sequence's
    length) as itself, another by its axis (a map's T, H, W or L, N where height and width share one; the
    length S of a `sequence`, token ids or tokens)."""
    axes = {1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}.get(spatial, ())
    if spatial > len(axes) and any(isinstance(s, str) for s in sizes):
        raise ArchcalcError(f"{shown}: the input has {spatial} spatial sizes, one of them named; archcalc names at "
                            "most 3 (T, H, W); give --input")
    square = spatial >= 2 and isinstance(sizes[-1], str) and sizes[-1] == sizes[-2]
    out: list[Any] = []
    for i, size in enumerate(sizes):
        if isinstance(size, int):
            if size < 1:
                raise ArchcalcError(f"{shown}: the input has a size {size}; give --input")
            out.append(size)
            continue
        position = i - (len(sizes) - spatial)
        symbol = size if size in (*SIZE_SYMBOLS, SEQUENCE) else (
            "N" if square and position >= spatial - 2 else axes[position] if position >= 0 and spatial else
            SEQUENCE if i == 0 and not spatial and sequence else None)
        if symbol is None or size is None:
            raise ArchcalcError(f"{shown}: the input's size {i + 1} after the batch is "
                                f"{'unknown' if size is None else repr(clip(size, 30))}, and only a map's spatial sizes "
                                "or a sequence's length may be symbolic; give --input")
        out.append(symbol)
    return out


def _dims(value: Any) -> list[Any] | None:
    """A value's shape from its type: ints, a dim_param's text, None for an unnamed size; None without one."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else d.dim_param or None for d in tensor.shape.dim]
