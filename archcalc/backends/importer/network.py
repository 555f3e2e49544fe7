"""A traced model as an archcalc Network: modules through their readers, the other ops through FUNCTIONS.

Each traced node belongs to the outermost module of its stack that has a reader (a composite module, such
as torch's MultiheadAttention, is read whole); those nodes are one call of that module, read as the items
its reader returns, named by the module's path (`layer1.0.conv1`; a module called again `…_2`). A node in
no such module is an op of its own, named by the path of the module it ran in and its op (`layer1.0.add`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from ...builder import Builder
from ...errors import ArchcalcError
from ...expand import network_name
from ...ir import INPUT, Network
from ..torch.base import Read, ReadError, reader_of
from ...rules import RULES
from ..torch.kinds import READERS
from . import huggingface
from .fuse import Item, fuse
from .functional import BATCH, FUNCTIONS, Const, Emit, Layer, Op, Param, Unmapped, flat, operator_names, per_sample
from .indices import const_of, left_out
from .trace import Traced, trace


class UnmappedError(ArchcalcError):
    """Ops of a model that no kind expresses (listed, each with its module path and torch op)."""


UNKNOWN = object()  # the value of an op no kind expresses (without --allow-opaque): what reads it is not listed


@dataclass(frozen=True)
class Missing:
    path: str
    op: str
    why: str


def import_module(module: nn.Module, input: tuple[int, ...], name: str, reference: str = "", *,
                  allow_opaque: bool = False, title: str = "") -> Network:
    """The Network of `module` (best built on the meta device: no weight memory) at one sample of `input`
    (C×H×W, or S token ids for a model whose first layer is an embedding), traced with torch.export, or
    torch.fx where export fails (the network's `source` says which, and why). Layers are named by module
    path. An op no kind expresses is an UnmappedError listing each (path, op), unless `allow_opaque`, which
    keeps each as an `opaque` layer (shape and parameters as traced, MACs unknown)."""
    module = module.eval()
    example = example_input(module, input)
    traced = trace(module, example, lambda m: _reader(m) is not None)
    how = traced.how + (f" (torch.export failed: {traced.why})" if traced.why else "")
    ids = example.dtype == torch.long
    builder = Builder(input={"ids": input[0]} if ids else list(input), name=network_name(name), title=title or name,
                      reference=reference,
                      source=f"imported from {type(module).__name__}, traced with {how}")
    _Importer(module, traced, builder, allow_opaque).run()
    return builder.build()


def _reader(module: nn.Module) -> Any:
    """The reader of `module`: its kind's torch facet's, or one of a library's own classes (transformers')."""
    return reader_of(module, READERS) or huggingface.reader(module)


def example_input(module: nn.Module, input: tuple[int, ...], batch: int = BATCH) -> torch.Tensor:
    """A meta tensor of `batch` samples of `input`: token ids (int64) for a one-axis input of a model with an
    embedding, else floats."""
    ids = len(input) == 1 and any(isinstance(m, nn.Embedding) for m in module.modules())
    return torch.zeros((batch, *input), dtype=torch.long if ids else torch.float32, device="meta")


@dataclass
class _Group:
    """One call of a module with a reader: its nodes, in run order."""

    key: str
    path: str
    nodes: list[fx.Node] = field(default_factory=list)


class _Importer:
    def __init__(self, model: nn.Module, traced: Traced, builder: Builder, allow_opaque: bool):
        self.model, self.traced, self.builder, self.allow_opaque = model, traced, builder, allow_opaque
        self.values: dict[str, Any] = {}  # node name → Value
        self.names: set[str] = set()
        self.missing: list[Missing] = []
        self.used: set[str] = set()  # parameters read by a layer
        self.items: list[Item] = []
        self.holders: dict[int, str] = {}  # id of a parameter → the layer holding it
        self.buffers = {name for name, _ in model.named_buffers(remove_duplicate=False)}

    def run(self) -> None:
        groups = self._groups()
        last = {id(group.nodes[-1]): group for group in groups.values()}
        member = {node.name for group in groups.values() for node in group.nodes}
        first_input = True
        for node in self.traced.graph.nodes:
            if node.op == "placeholder" or node.op == "get_attr":
                if node.name in self.traced.params:
                    self.values[node.name] = _param(self.traced.params[node.name], node.meta.get("val"))
                elif first_input:
                    self.values[node.name] = Layer(INPUT, tuple(node.meta["val"].shape))
                    first_input = False
                else:
                    self.values[node.name] = None  # an argument the model's forward takes with its default
            elif node.op == "output":
                continue
            elif id(node) in last:
                self._module(last[id(node)])
                for inner in last[id(node)].nodes:
                    self._write_in_place(inner)
            elif node.name not in member:
                self._function(node)
                self._write_in_place(node)
        if self.missing:
            raise UnmappedError(_listing(self.missing))
        self.build()

    def _write_in_place(self, node: fx.Node) -> None:
        """An in-place op (`relu_(y)`, `F.relu(y, inplace=True)`, an nn.ReLU(inplace=True)) writes its first
        input: what reads that tensor later reads the op's result (torch.fx's graph still names the tensor)."""
        if node.args and isinstance(node.args[0], fx.Node) and self._in_place(node):
            self.values[node.args[0].name] = self.values.get(node.name)

    def _in_place(self, node: fx.Node) -> bool:
        if node.op == "call_module":
            return getattr(self._submodule(str(node.target)), "inplace", False) is True
        target = node.target
        name = (target._schema.name if isinstance(target, torch._ops.OpOverload)
                else str(target) if node.op == "call_method" else getattr(target, "__name__", ""))
        return node.kwargs.get("inplace") is True or (name.endswith("_") and not name.endswith("__"))

    # modules with readers

    def _groups(self) -> dict[str, _Group]:
        groups: dict[str, _Group] = {}
        for node in self.traced.graph.nodes:
            if node.op not in ("call_function", "call_method", "call_module"):
                continue
            for key, (path, _) in (node.meta.get("nn_module_stack") or {}).items():
                submodule = self._submodule(path)
                if submodule is not None and _reader(submodule) is not None:
                    groups.setdefault(key, _Group(key, path)).nodes.append(node)
                    break
        return groups

    def _submodule(self, path: str) -> nn.Module | None:
        try:
            return self.model.get_submodule(path) if path else self.model
        except AttributeError:
            return None

    def _module(self, group: _Group) -> None:
        inside = {node.name for node in group.nodes}
        inputs: list[Layer] = []
        outside = [self.values.get(arg.name) for node in group.nodes for arg in node.all_input_nodes
                   if arg.name not in inside]
        if any(value is UNKNOWN for value in outside):
            return self._set(group, UNKNOWN)
        for value in outside:
            if isinstance(value, Layer) and value not in inputs:
                inputs.append(value)
        module = self.model.get_submodule(group.path) if group.path else self.model
        out = _tensor_of(group.nodes[-1].meta.get("val"))
        op = type(module).__name__
        if not inputs:
            return self._set(group, self._of_constants(module, group, out))
        try:
            reads = self._shared(module, _reader(module)(module, [layer.sample for layer in inputs]))
            result = self._add_reads(reads, inputs, self._name(group.path or "model", group.key), out)
            if isinstance(result, Layer):
                for p in module.parameters():
                    self.holders.setdefault(id(p), result.name)
        except (ReadError, Unmapped) as err:
            result = self._opaque(group.path, op, str(err), inputs, out, _params_of(module))
        for name, _ in module.named_parameters(group.path, remove_duplicate=False):
            self.used.add(name)
        self._set(group, result, self._passed_on(group, inputs))

    def _set(self, group: _Group, result: Any, passed: dict[str, Layer] | None = None) -> None:
        for node in group.nodes:  # a module's tuple (MultiheadAttention's, an LSTM's): its first is the layer's
            val = node.meta.get("val")
            if passed and node.name in passed:
                self.values[node.name] = passed[node.name]
            elif isinstance(result, Const):
                self.values[node.name] = result
            else:
                self.values[node.name] = (result, *[None] * (len(val) - 1)) if isinstance(val, (tuple, list)) else result

    def _passed_on(self, group: _Group, inputs: list[Layer]) -> dict[str, Layer]:
        """The module's nodes that give one of its inputs back unchanged (LlamaRMSNorm's `x.to(float32)`,
        which the layer's residual sum reads as the norm's input): each is that input, not the module's output."""
        passed: dict[str, Layer] = {}
        for node in group.nodes[:-1]:
            handler = FUNCTIONS.get(_op_name(node))
            args = fx.node.map_arg(node.args, lambda n: passed.get(n.name, self.values.get(n.name)))
            if handler is None or not isinstance(node.meta.get("val"), torch.Tensor):
                continue
            try:
                value = handler(Op(_op_name(node), tuple(args), dict(node.kwargs), node.meta["val"]))
            except Unmapped:
                continue
            if isinstance(value, Layer) and value in inputs:
                passed[node.name] = value
        return passed

    def _of_constants(self, module: nn.Module, group: _Group, out: Any) -> Any:
        """A module that reads no activation: left out where it has no parameters (a rotary embedding, see
        indices.py), else a parameter (a position table at positions 0 … S−1, Swin v2's position-bias MLP)."""
        if not _params_of(module):
            return const_of(out)
        return Param(group.path, tuple(out.shape) if out is not None else (), _params_of(module))

    def _shared(self, module: nn.Module, reads: list[Read]) -> list[Read]:
        """A module whose parameters a layer already holds (a module called again, GPT-2's LM head that is
        its token table) holds no new ones: its weight tied to that layer."""
        params = list(module.parameters())
        holders = {self.holders.get(id(p)) for p in params}
        if not params or holders == {None}:
            return reads
        (first,) = holders if len(holders) == 1 else (None,)
        if (first is not None and len(reads) == 1 and RULES[reads[0].kind].arg("tie") is not None
                and not reads[0].args.get("bias")):
            return [Read(reads[0].kind, {**reads[0].args, "tie": first})]
        raise Unmapped("a module with parameters called again (only a bias-free fc, linear or embedding can "
                       "share its weight)")

    def _name_of(self, path: str) -> str:
        return "".join(c if c.isalnum() or c in "._-" else "_" for c in path or "model").strip(".") or "layer"

    def _add_reads(self, reads: list[Read], inputs: list[Layer], name: str, out: Any) -> Any:
        if not reads:
            if len(inputs) != 1:
                raise Unmapped(f"the identity of {len(inputs)} inputs")
            return inputs[0]
        if len(inputs) != 1 and len(reads) > 1:
            raise Unmapped(f"a composite module of {len(inputs)} inputs")
        current = [layer.name for layer in inputs]
        for read in reads:
            reading = [*current, inputs[0].name] if read.residual else current
            layer = self._add(read.kind, read.args, reading, name if not read.part else self._name(f"{name}.{read.part}"))
            current = [layer]
        return Layer(current[0], tuple(out.shape))

    # ops outside any module with a reader

    def _function(self, node: fx.Node) -> None:
        op_name = _op_name(node)
        args = fx.node.map_arg(node.args, lambda n: self.values.get(n.name))
        kwargs = fx.node.map_arg(node.kwargs, lambda n: self.values.get(n.name))
        val = node.meta.get("val")
        if not _has_tensor(val):
            self.values[node.name] = val  # a size, a shape: a constant of the trace
            return
        if any(a is UNKNOWN for a in flat([args, kwargs])):
            self.values[node.name] = UNKNOWN
            return
        if not any(isinstance(a, (Layer, Param)) for a in flat([args, kwargs])):
            self.values[node.name] = Const(tuple(_tensor_of(val).shape))  # made of constants alone: no layer
            return
        path = _path_of(node)
        handler = FUNCTIONS.get(op_name)
        op = Op(op_name, tuple(args), dict(kwargs), val)
        reads = [(self.values.get(n.name), n.meta.get("val")) for n in node.all_input_nodes]
        if left_out(reads, self._is_buffer, lambda v: isinstance(v, Param) and not self._is_buffer(v)):
            self.values[node.name] = self._ids_passed_on(handler, op) or const_of(val)
            return
        try:
            if handler is None:
                raise Unmapped("no kind expresses it")
            value = handler(op)
            self.values[node.name] = self._emit(value, path, op_name, val)
        except Unmapped as err:
            params = list(dict.fromkeys(a for a in flat([args, kwargs]) if isinstance(a, Param)))
            if not op.layers:  # arithmetic on parameters alone (a bias table indexed): a parameter still
                self.values[node.name] = Param("+".join(p.name for p in params), tuple(_tensor_of(val).shape),
                                               sum(p.numel for p in params))
                return
            self.values[node.name] = self._opaque(path, _torch_name(node), str(err), op.layers, _tensor_of(val),
                                                  sum(p.numel for p in params if not self._take(p)))

    def _is_buffer(self, value: Any) -> bool:
        return isinstance(value, Param) and value.name in self.buffers

    def _ids_passed_on(self, handler: Any, op: Op) -> Layer | None:
        """The token ids, where an op of the index arithmetic gives them back unchanged (a view)."""
        if handler is None or not op.layers:
            return None
        try:
            value = handler(op)
        except Unmapped:
            return None
        return value if isinstance(value, Layer) else None

    def _emit(self, value: Any, path: str, op_name: str, out: Any) -> Any:
        """The layer `value` is added as (and, first, the Emits it reads); `out` its traced output."""
        if not isinstance(value, Emit):
            return value
        inputs = [self._emit(layer, path, op_name, None) for layer in value.inputs]
        for param in value.params:
            self._take(param)
        layer = self._add(value.read.kind, value.read.args, [i.name for i in inputs],
                          self._name(f"{path}.{op_name}" if path else op_name))
        if isinstance(out, (tuple, list)):
            return tuple(Layer(f"{layer}:{i}", tuple(t.shape)) for i, t in enumerate(out))
        return Layer(layer, tuple(out.shape) if out is not None else ())

    def _take(self, param: Param) -> bool:
        """Marks a parameter read; whether it already was (a weight shared by two layers)."""
        seen = param.name in self.used
        self.used.add(param.name)
        return seen

    # opaque and what is missing

    def _opaque(self, path: str, op: str, why: str, inputs: list[Layer], out: Any, params: int) -> Any:
        if not self.allow_opaque or out is None or not inputs:
            self.missing.append(Missing(path or "(model)", op, why))
            return UNKNOWN
        try:
            shape = per_sample(tuple(out.shape), op)
        except Unmapped as err:
            self.missing.append(Missing(path or "(model)", op, str(err)))
            return UNKNOWN
        layer = self._add("opaque", {"shape": list(shape) or [1], "params": params, "op": op}, [inputs[0].name],
                          self._name(f"{path}.opaque" if path else "opaque"))
        return Layer(layer, (BATCH, *shape))

    def _add(self, kind: str, args: Any, inputs: list[str], name: str) -> str:
        self.items.append(Item(name, kind, dict(args), list(inputs)))
        return name

    def build(self) -> None:
        blocks: dict[str, str] = {}  # a body's definition → its block's name
        for item in fuse(self.items):
            body = item.args.get("body")
            if isinstance(body, dict):  # a reader's block (Mixtral's expert): defined once, by its definition
                key = repr(body)
                if key not in blocks:
                    blocks[key] = self.builder.block(f"expert_{len(blocks) + 1}" if blocks else "expert", body)
                item.args["body"] = blocks[key]
            self.builder.add(item.kind, item.args, inputs=item.inputs, name=item.name)

    # names and shapes

    def _name(self, base: str, key: str = "") -> str:
        call = key.rpartition("@")[2] if "@" in key else ""
        name = self._name_of(base.replace("@", "_") + (f"_{int(call) + 1}" if call else ""))
        unique, n = name, 2
        while unique in self.names:
            unique, n = f"{name}_{n}", n + 1
        self.names.add(unique)
        return unique


def _param(name: str, value: Any) -> Param:
    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else ()
    return Param(name, shape, value.numel() if isinstance(value, torch.Tensor) else 0)


def _params_of(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _tensor_of(value: Any) -> Any:
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return value if isinstance(value, torch.Tensor) else None


def _has_tensor(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return any(_has_tensor(v) for v in value)
    return isinstance(value, torch.Tensor)


def _op_name(node: fx.Node) -> str:
    """The op's name, as FUNCTIONS knows it: aten's without overload and in-place mark, or a function's or
    method's."""
    target = node.target
    if node.op == "call_method":
        return str(target).rstrip("_")
    if isinstance(target, torch._ops.OpOverload):
        return target._schema.name.partition("::")[2].rstrip("_") or target._schema.name
    if target in operator_names:
        return operator_names[target]
    return getattr(target, "__name__", str(target)).rstrip("_")


def _torch_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return str(target.overloadpacket)  # aten.roll
    if node.op == "call_method":
        return f"Tensor.{target}"
    module = getattr(target, "__module__", "") or ""
    return f"{module.replace('torch.nn.functional', 'F').replace('_operator', 'operator')}.{getattr(target, '__name__', target)}"


def _path_of(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def _listing(missing: list[Missing]) -> str:
    shown = "; ".join(f"{m.path}: {m.op} ({m.why})" for m in missing[:20])
    more = f"; and {len(missing) - 20} more" if len(missing) > 20 else ""
    return (f"{len(missing)} operation{'s' if len(missing) > 1 else ''} no kind expresses (what reads them is not "
            f"listed): {shown}{more} (--allow-opaque keeps each as an opaque layer, MACs unknown)")

