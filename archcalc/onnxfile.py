"""An ONNX file read as a network: bounded, its shapes inferred by onnx, each node mapped to a kind.

An ONNX file is untrusted input, like a spec. It is read only when it is a regular file within
MAX_FILE_BYTES; no external data is ever read (a location that leaves the file's folder is
refused all the same); the graph is bounded (nodes, initializers, a node's inputs and outputs,
a tensor's rank and dimensions) before onnx's shape inference sees it, and a subgraph (If, Loop,
Scan) is refused. Large initializers keep their shapes and drop their bytes before inference:
archcalc needs the shape of a weight, never its values. The nodes are mapped by `onnxops`,
through the Builder, so each layer is checked as a spec's is.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ArchcalcError
from .expand import PROGRAM_LIMITS
from .ir import Network
from .onnxgraph import SMALL, graph_input, network
from .safe import clip, printable
from .symbolic import Expr

MAX_FILE_BYTES = (1 << 31) - 1  # protobuf's own limit for one message; larger models keep their weights outside
MAX_NODES = PROGRAM_LIMITS.layers  # the Builder's layers (100,000); ResNet-152 exports 1,123 nodes
MAX_INITIALIZERS = 200_000
MAX_VALUE_INFO = 4 * MAX_NODES  # the shapes an exporter writes: one a tensor
MAX_NODE_EDGES = 1_000  # inputs or outputs of one node (DenseNet-121: a Concat of 25)
MAX_RANK = 8  # dimensions of one tensor
MAX_DIM = 10**12  # a declared dimension (the engine's own tensor limit)
INSTALL = "pip install onnx (or archcalc[onnx])"


def load(path: str, input: tuple | None = None, *, allow_opaque: bool = False) -> Network:
    """The network of an ONNX file; `input` (sizes after the batch, numbers or the symbols H, W, N, T, L,
    S) replaces the input's sizes before the shapes are inferred; `allow_opaque` keeps a node of no kind
    that reads one computed tensor as an `opaque` layer (MACs unknown), instead of an error."""
    onnx = _onnx()
    shown = printable(path)
    model = _parse(onnx, _read(path, shown), shown)
    _bound(model, path, shown)
    if input is not None:
        _set_input(model, tuple(input), shown)
    _drop_weight_bytes(model)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as err:  # onnx's checker and inference raise several types, C++ errors among them
        raise ArchcalcError(f"{shown}: onnx's shape inference failed: {clip(str(err).strip(), 200)}") from None
    return network(inferred.graph, shown, _stem(path), allow_opaque)


def _onnx() -> Any:
    try:
        import onnx
        import onnx.shape_inference  # noqa: F401 (a submodule, imported for its use above)
    except ImportError:
        raise ArchcalcError(f"reading an ONNX file needs the onnx package: {INSTALL}") from None
    return onnx


def _read(path: str, shown: str) -> bytes:
    try:
        # Non-blocking, so that a FIFO cannot hold the read open; then only a regular file is read.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ArchcalcError(f"{shown}: not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise ArchcalcError(f"{shown}: {info.st_size:,} bytes, larger than {MAX_FILE_BYTES:,}, the limit for "
                                    "an ONNX file (keep the weights as external data)")
            raw = file.read(MAX_FILE_BYTES + 1)  # never more, whatever the file claims to be
    except OSError as err:
        raise ArchcalcError(f"{shown}: cannot read: {err.strerror or err}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ArchcalcError(f"{shown}: larger than {MAX_FILE_BYTES:,} bytes, the limit for an ONNX file")
    return raw


def _parse(onnx: Any, raw: bytes, shown: str) -> Any:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(raw)
    except Exception:  # DecodeError, or RecursionError past protobuf's nesting limit
        raise ArchcalcError(f"{shown}: not an ONNX model (its bytes are not a valid protobuf ModelProto)") from None
    if not model.HasField("graph") or not model.graph.node or not model.opset_import:
        raise ArchcalcError(f"{shown}: not an ONNX model (no graph with nodes and an opset); is it truncated?")
    return model


def _bound(model: Any, path: str, shown: str) -> None:
    """Refuse what is past the limits, subgraphs, and external data outside the file's folder."""
    graph = model.graph
    counts = (
        ("nodes", len(graph.node), MAX_NODES),
        ("nodes of local functions", sum(len(f.node) for f in model.functions), MAX_NODES),
        ("initializers", len(graph.initializer) + len(graph.sparse_initializer), MAX_INITIALIZERS),
        ("graph inputs and outputs", len(graph.input) + len(graph.output), MAX_NODE_EDGES),
        ("value_info entries", len(graph.value_info), MAX_VALUE_INFO),
    )
    for what, count, limit in counts:
        if count > limit:
            raise ArchcalcError(f"{shown}: {count:,} {what}, more than {limit:,}, the limit for an ONNX file")
    for node in graph.node:
        _utf8((node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)), shown)
        if len(node.input) > MAX_NODE_EDGES or len(node.output) > MAX_NODE_EDGES:
            raise ArchcalcError(f"{shown}: node '{clip(node.name)}' has more than {MAX_NODE_EDGES:,} inputs or outputs")
        if any(a.HasField("g") or len(a.graphs) for a in node.attribute):
            raise ArchcalcError(f"{shown}: node '{clip(node.name)}' ({clip(node.op_type, 40)}) holds a subgraph; "
                                "control flow (If, Loop, Scan) is not analysed")
    _utf8([v.name for v in (*graph.initializer, *graph.input, *graph.output, *graph.value_info)], shown)
    for tensor in (*graph.initializer, *(s.values for s in graph.sparse_initializer)):
        _bound_dims(tensor.dims, f"initializer '{clip(tensor.name)}'", shown)
        _external_inside(tensor, Path(path).parent, shown)
    for value in (*graph.input, *graph.output, *graph.value_info):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        _bound_dims(dims, f"tensor '{clip(value.name)}'", shown)


def _utf8(names: Sequence[Any], shown: str) -> None:
    """protobuf gives a name that is not UTF-8 (which ONNX requires) as bytes: refused."""
    if any(isinstance(name, bytes) for name in names):
        raise ArchcalcError(f"{shown}: a name in the graph is not UTF-8 text; not an ONNX model")


def _bound_dims(dims: Sequence[int], what: str, shown: str) -> None:
    if len(dims) > MAX_RANK or any(not 0 <= d <= MAX_DIM for d in dims):
        raise ArchcalcError(f"{shown}: {what} has the shape {clip(str(list(dims)), 80)}: at most {MAX_RANK} "
                            f"dimensions, each from 0 to {MAX_DIM:,}")


def _external_inside(tensor: Any, folder: Path, shown: str) -> None:
    """An initializer's external data must lie in the file's folder (it is never read here)."""
    if tensor.data_location != 1:  # TensorProto.EXTERNAL
        return
    location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
    try:
        inside = bool(location) and not os.path.isabs(location) and (folder / location).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        inside = False
    if not inside:
        raise ArchcalcError(f"{shown}: initializer '{clip(tensor.name)}' names external data "
                            f"'{clip(location)}' outside the model's folder; refused")


def _set_input(model: Any, sizes: tuple, shown: str) -> None:
    """The graph input's sizes after the batch become `sizes` (a symbol as a dim_param); the shapes the file
    holds of other tensors are dropped, to be inferred from these."""
    dims = graph_input(model.graph, shown).type.tensor_type.shape.dim
    if len(dims) != len(sizes) + 1:
        raise ArchcalcError(f"{shown}: --input has {len(sizes)} sizes; the model's input has {len(dims) - 1} after the batch")
    for dim, size in zip(dims[1:], sizes):
        if isinstance(size, Expr):
            dim.dim_param = str(size)
        else:
            dim.dim_value = int(size)
    del model.graph.value_info[:]  # the exporter's shapes, at its own input: inferred again
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")


def _drop_weight_bytes(model: Any) -> None:
    """Large initializers keep their type and dimensions, not their values: inference reads no more."""
    for tensor in model.graph.initializer:
        if math.prod(tensor.dims) > SMALL:
            for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                          "string_data"):
                tensor.ClearField(field)


def _stem(path: str) -> str:
    """The network's name: the file's stem, letters, digits, `_` and `-` (others become `_`)."""
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in Path(path).stem)
    return name[:100] or "model"
