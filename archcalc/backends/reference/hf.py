"""`transformers:NAME` and `transformers:CONFIGCLASS(key=value, …)`: a transformers model built from its Config.

Random weights, never a download: the offline switches are set before
transformers is imported, and only Config objects are built (no hub, no
file). NAME is one of `NAMED` (a config and its options, which further
options override: `transformers:gpt2(n_layer=2)`), or a Config class of
transformers with literal options (`transformers:LlamaConfig(num_hidden_layers=2)`).
The model class follows from the config: the causal LM (`*ForCausalLM`,
`GPT2LMHeadModel`) for a decoder-only model type (one transformers has a
causal LM and no masked LM for), the bare `*Model` otherwise (BERT: with its
pooler). Attention is `attn_implementation="sdpa"` (torch's
scaled_dot_product_attention, the fused CPU kernel where it applies);
unless given, `use_cache=False`, as a training forward runs, and a mixture
of experts runs `experts_implementation="eager"`: each expert on the tokens
routed to it, whose products FlopCounterMode counts (it has no formula for
the grouped kernel, transformers' default, and would count its experts as 0).
With top-k routing every token reaches k experts, so the MACs and the saved
bytes do not depend on where the random router sends them; but which
experts get which tokens is a value fake tensors cannot give, so a mixture
of experts too large to run for real (Mixtral-8x7B) has its parameter
tensors compared, and its MACs and saved bytes reported as not measured.

The model is fed random token ids (batch × S) and measured at S = 16 and 32:
small enough that GPT-2 and BERT run for real on a CPU; a model too large
(Llama-3-8B) runs on fake tensors, with the CPU's kernels and no storage.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ...errors import ArchcalcError, did_you_mean
from ...rules.base import Shape
from ..measure import Probe
from . import options
from .oracle import Oracle

SOURCE = "transformers"
DEFAULTS = {"use_cache": False, "experts_implementation": "eager"}  # unless given (see the module's docstring)
SEQUENCE_LENGTHS = ((16,), (32,))
EXAMPLE = "transformers:gpt2 or transformers:LlamaConfig(num_hidden_layers=2)"
NAMED = {
    "gpt2": "GPT2Config()",
    "bert-base": "BertConfig()",
    "llama-3-8b": "LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, "
                  "num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, "
                  "rms_norm_eps=1e-05, tie_word_embeddings=False)",
    "mixtral-8x7b": "MixtralConfig()",
}


def check_name(text: str) -> None:
    """A name that is neither a preset nor a Config class refused before transformers is imported (seconds)."""
    name, _ = options.split(text, SOURCE, EXAMPLE)
    if name not in NAMED and not name.endswith("Config"):
        raise ArchcalcError(f"--against: transformers has no model '{name}'{did_you_mean(name, list(NAMED))} (a "
                            f"name of {', '.join(NAMED)}, or a Config class such as LlamaConfig)")


def oracle(text: str) -> Oracle:
    """The model `text` names, its config built and checked now, the model built later on whatever device."""
    check_name(text)
    name, inside = options.split(text, SOURCE, EXAMPLE)
    given = options.options(inside, text, (bool, int, float, str, type(None)))
    if name in NAMED:
        preset, preset_inside = options.split(f"{SOURCE}:{NAMED[name]}", SOURCE, "")
        name, given = preset, {**options.options(preset_inside, text, (bool, int, float)), **given}
    library = _transformers()
    from transformers.models.auto import configuration_auto, modeling_auto

    types = {cls: model_type for model_type, cls in configuration_auto.CONFIG_MAPPING_NAMES.items()}
    if name not in types:
        raise ArchcalcError(f"--against: transformers has no config '{name}'{did_you_mean(name, [*NAMED, *types])} "
                            f"(a name of {', '.join(NAMED)}, or a Config class)")
    model_type = types[name]
    config_class = configuration_auto.CONFIG_MAPPING[model_type]
    _check_keys(config_class, given, text)
    try:
        with _quiet(library):
            config = config_class(**{**DEFAULTS, **given, "attn_implementation": "sdpa"})
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        raise ArchcalcError(f"--against {text}: {str(err).splitlines()[0]}") from None
    decoder = (model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
               and model_type not in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    mapping = modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES if decoder else modeling_auto.MODEL_MAPPING_NAMES
    if model_type not in mapping:
        raise ArchcalcError(f"--against {text}: transformers has no model class for {name}")
    model_class = getattr(library, mapping[model_type])

    def make() -> nn.Module:
        with _quiet(library):
            try:
                return model_class(config)
            except (TypeError, ValueError, RuntimeError, AttributeError) as err:
                raise ArchcalcError(f"--against {text}: {str(err).splitlines()[0]}") from None

    call = ", ".join(f"{key}={value!r}" for key, value in given.items())
    built = f"{model_class.__name__}({name}({call})), attn_implementation='sdpa'"
    return Oracle(text, built, make, _probe, SEQUENCE_LENGTHS, fakes=True, fake_context=plain_batches,
                  shape_of=_shape_of)


def _transformers() -> Any:
    """transformers, imported offline (nothing is ever downloaded), or a clear error without it."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import transformers
    except ImportError:
        raise ArchcalcError("--against transformers needs transformers, which is not installed "
                            "(pip install transformers)") from None
    return transformers


_CHOSEN_BY_KEYWORD = tuple(DEFAULTS)  # a config's choices kept apart from its attributes (experts_implementation)


def _check_keys(config_class: type, given: dict[str, Any], text: str) -> None:
    """A config takes any key silently (and ignores it): a key the config does not have is refused here."""
    default = config_class()
    known = sorted({*vars(default), *getattr(config_class, "attribute_map", {}), *_CHOSEN_BY_KEYWORD})
    for key in given:
        if not key.startswith("_") and key in known:
            continue
        raise ArchcalcError(f"--against {text}: {config_class.__name__} has no option '{key}'{did_you_mean(key, known)}")


@contextmanager
def _quiet(library: Any) -> Iterator[None]:
    """transformers' notes on a config's token ids (a small vocabulary has no room for GPT-2's) kept off stderr."""
    before = library.logging.get_verbosity()
    library.logging.set_verbosity_error()
    try:
        yield
    finally:
        library.logging.set_verbosity(before)


@contextmanager
def plain_batches() -> Iterator[None]:
    """On fake tensors, a batch of plain sequences, as a real run finds it.

    transformers looks for packed sequences in the position ids (a value
    check that fake tensors cannot answer, so it assumes packing and builds
    an explicit mask, which changes the attention kernel and its saved
    tensors); a real batch of ids has none, and that answer is given here.
    """
    from transformers import masking_utils

    before = masking_utils.find_packed_sequence_indices
    masking_utils.find_packed_sequence_indices = lambda position_ids: None
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = before


class TokenProbe(Probe):
    """A probe feeding the model random token ids, (batch, S) int64 below its vocabulary size; the model's
    output is its pooler's where it has one (BERT's, the last layer it runs), else its first (the logits of
    a causal LM, the last hidden state of a bare model)."""

    def example_input(self, batch: int, device: Any, dtype: Any = None) -> torch.Tensor:
        vocab = int(getattr(self.module.config, "vocab_size", 2))
        return torch.randint(vocab, (batch, *self.input_shape), device=device)

    def _forward(self, x: torch.Tensor) -> Any:
        out = super()._forward(x)
        pooled = out.get("pooler_output") if isinstance(out, Mapping) else None
        return out if pooled is None else pooled


def _shape_of(owner: nn.Module, tensor: torch.Tensor) -> Shape:
    """transformers' Conv1D (GPT-2's projections) stores its weight in × out, nn.Linear's transposed."""
    from transformers.pytorch_utils import Conv1D

    return tuple(reversed(tensor.shape)) if isinstance(owner, Conv1D) and tensor.dim() == 2 else tuple(tensor.shape)


def _probe(module: nn.Module, input_shape: Shape, count: bool) -> Probe:
    return TokenProbe(module, dict(module.named_modules()), input_shape, count)
