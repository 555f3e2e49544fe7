"""Readers of transformers' own module classes (base.Reader), for `transformers:CONFIG` models and any
module built of them: each read as the bundled specs write the model (gpt2, bert-base, llama-3-8b).

Classes are known by their qualified names, so that nothing of transformers is imported here: a model
built of them has imported them already. GPT-2: Conv1D (a linear layer, its weight stored in × out),
NewGELUActivation (gelu_new, op by op), GPT2Attention (causal self-attention, packed c_attn and c_proj
with biases, attn_pdrop, then resid_dropout). Llama and the models written as it is (Mistral, Mixtral,
Qwen2): their attention (grouped-query, head_dim, rotary, the biases) and RMSNorm; Mixtral's sparse MoE
block (a moe of SwiGLU experts; the import runs the experts as one grouped product, which a trace follows). BERT: its embeddings
(token, position and token-type tables, LayerNorm, dropout) and its attention with its output (Q, K, V,
the output dense, dropout, the residual sum and LayerNorm). What other modules compute (MLPs, SiLU,
GELUActivation, the rotary tables) the importer maps op by op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from torch import nn

from ...rules.base import Shape
from ..torch.base import Read, Reader, ReadError, reader_of
from ..torch.kinds import READERS

LIBRARY = "transformers."
TRACEABLE_EXPERTS = "grouped_mm"  # experts run as one grouped product: torch.export traces it (eager loops by value)


def context(model: nn.Module) -> tuple[int, ...] | None:
    """The token ids a transformers model is built for: its config's context (GPT-2's n_positions, BERT's
    and Llama's max_position_embeddings), as the bundled specs take it; None for a config without one."""
    config = getattr(model, "config", None)
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return (value,)
    return None


def traceable(model: nn.Module, text: str) -> nn.Module:
    """`model` with its mixture of experts run as a trace can follow, unless the name chose how."""
    can_set = getattr(model, "_can_set_experts_implementation", None)
    if "experts_implementation" not in text and can_set is not None and can_set():
        model.set_experts_implementation(TRACEABLE_EXPERTS)
    return model


def reader(module: nn.Module) -> Reader | None:
    """The reader of a transformers module's class, or None (another library's module, or a class unread)."""
    cls = type(module)
    if not cls.__module__.startswith(LIBRARY):
        return None
    return READERS_BY_NAME.get(f"{cls.__module__}.{cls.__qualname__}")


def _parts(module: nn.Module, shapes: list[Shape], part: str) -> list[Read]:
    """A submodule's reads through its kind's reader, named inside `part`."""
    found = reader_of(module, READERS)
    if found is None:
        raise ReadError(f"{part}: {type(module).__name__} has no reader")
    return [replace(read, part=f"{part}.{read.part}" if read.part else part) for read in found(module, shapes)]


def _biases(qkv: nn.Module, out: nn.Module) -> dict[str, bool]:
    """The attention's bias arguments as a spec writes them: `bias` where Q, K, V and the output agree."""
    q, o = qkv.bias is not None, out.bias is not None
    return {"bias": q} if q == o else {"qkv_bias": q, "out_bias": o}


def _only(module: nn.Module, parts: list[nn.Module], what: str) -> None:
    """A module whose parameters are those of `parts` alone (no extra norm of Q and K, no learned bias)."""
    count = sum(p.numel() for p in module.parameters())
    if count != sum(p.numel() for part in parts for p in part.parameters()):
        raise ReadError(f"{what} with parameters beyond its projections (the attention kind has none)")


def _dropout(p: float) -> dict[str, float]:
    return {"dropout": p} if p else {}


def _conv1d(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """GPT-2's Conv1D: x·W + b, W stored in × out (nx × nf)."""
    return [Read("fc" if len(shapes[0]) == 1 else "linear", {"out": module.nf, "bias": module.bias is not None})]


def _gpt2_attention(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if module.is_cross_attention:
        raise ReadError("GPT-2's cross-attention (its keys and values from the encoder's states)")
    _only(module, [module.c_attn, module.c_proj], "GPT-2's attention")
    args = {"heads": module.num_heads, "causal": True, **_dropout(module.attn_dropout.p)}
    return [Read("attention", args), *_parts(module.resid_dropout, shapes, "resid_dropout")]


def _llama_attention(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """Llama's attention: Q of heads·head_dim, K and V of kv_heads·head_dim, rotary, causal."""
    _only(module, [module.q_proj, module.k_proj, module.v_proj, module.o_proj], type(module).__name__)
    head_dim = module.head_dim
    heads, kv_heads = module.q_proj.out_features // head_dim, module.k_proj.out_features // head_dim
    args = {"heads": heads, "causal": bool(module.is_causal), "rope": True, **_biases(module.q_proj, module.o_proj),
            **_dropout(module.attention_dropout)}
    if kv_heads != heads:
        args["kv_heads"] = kv_heads
    if heads * head_dim != shapes[0][-1]:
        args["head_dim"] = head_dim
    return [Read("attention", args)]


def _rmsnorm(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    if module.weight.dim() != 1:
        raise ReadError(f"{type(module).__name__} over more than the last dimension")
    return [Read("rmsnorm", {"eps": module.variance_epsilon})]


def _bert_embeddings(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """Token, position (positions 0 … S−1 of the table) and token-type tables (type 0 at every token, as
    BertModel without token_type_ids), summed, then LayerNorm and dropout."""
    if getattr(module, "position_embedding_type", "absolute") != "absolute":
        raise ReadError(f"BERT's embeddings with {module.position_embedding_type} positions (pos_embed: absolute)")
    out = [(*shapes[0], module.word_embeddings.embedding_dim)]
    return [*_parts(module.word_embeddings, shapes, "word_embeddings"),
            Read("pos_embed", {"max": module.position_embeddings.num_embeddings}, "position_embeddings"),
            Read("type_embed", {"types": module.token_type_embeddings.num_embeddings}, "token_type_embeddings"),
            *_parts(module.LayerNorm, out, "LayerNorm"), *_parts(module.dropout, out, "dropout")]


def _bert_attention(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """BertAttention: self-attention (query, key, value) and its output (the dense output projection,
    dropout, the residual sum and LayerNorm), the attention kind's projections being both modules'."""
    attention, output = module.self, module.output
    if getattr(module, "is_cross_attention", False) or getattr(attention, "position_embedding_type",
                                                               "absolute") != "absolute":
        raise ReadError("BERT's cross-attention, or its attention with relative positions")
    _only(attention, [attention.query, attention.key, attention.value], "BERT's self-attention")
    args = {"heads": attention.num_attention_heads, "causal": bool(attention.is_causal),
            **_biases(attention.query, output.dense), **_dropout(attention.dropout.p)}
    if not args["causal"]:
        del args["causal"]
    return [Read("attention", args, "self"), *_parts(output.dropout, shapes, "output.dropout"),
            Read("add", {}, "output.add", residual=True), *_parts(output.LayerNorm, shapes, "output.LayerNorm")]


def _mixtral_moe(module: nn.Module, shapes: list[Shape]) -> list[Read]:
    """Mixtral's sparse MoE block: a router (D → E, no bias) and E SwiGLU experts (gate and up packed in
    gate_up_proj, E × 2·mlp × D; down_proj E × D × mlp), each token to its top k."""
    experts = module.experts
    _only(module, [module.gate, experts], "Mixtral's sparse MoE block")
    count, double, dim = experts.gate_up_proj.shape
    mlp = double // 2
    if (getattr(experts, "has_bias", False) or count * dim != module.gate.weight.numel()
            or type(experts.act_fn).__name__ not in ("SiLUActivation", "SiLU")):
        raise ReadError("a sparse MoE block with biases, a router other than D → experts, or experts without silu")
    body = {"layers": [
        {"mul": [[{"linear": {"out": mlp, "bias": False, "act": "silu", "name": "w1"}}],
                 [{"linear": {"out": mlp, "bias": False, "name": "w3"}}]]},
        {"linear": {"out": dim, "bias": False, "name": "w2"}}]}
    return [Read("moe", {"experts": count, "top": module.top_k, "body": body})]


def _named(readers: dict[str, Reader], family: str, names: dict[str, Callable]) -> None:
    for name, read in names.items():
        readers[f"{LIBRARY}models.{family}.modeling_{family}.{name}"] = read


READERS_BY_NAME: dict[str, Reader] = {
    f"{LIBRARY}pytorch_utils.Conv1D": _conv1d,
    f"{LIBRARY}activations.NewGELUActivation": lambda module, shapes: [Read("gelu_new")],
}
_named(READERS_BY_NAME, "gpt2", {"GPT2Attention": _gpt2_attention})
_named(READERS_BY_NAME, "mixtral", {"MixtralSparseMoeBlock": _mixtral_moe})
_named(READERS_BY_NAME, "bert", {"BertEmbeddings": _bert_embeddings, "BertAttention": _bert_attention})
for _family in ("llama", "mistral", "mixtral", "qwen2"):
    _named(READERS_BY_NAME, _family, {f"{_family.capitalize()}Attention": _llama_attention,
                                      f"{_family.capitalize()}RMSNorm": _rmsnorm})
