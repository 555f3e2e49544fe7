"""The options of a training plan and of a device's headroom, shared by fit, compare and verify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from .. import segments
from ..fit import DEFAULT_HEADROOM, Headroom
from ..plan import Plan
from ..precision import PRECISION_ALIASES, PRECISIONS
from ..safe import clip
from ..states import OPTIMIZER_STATES, SHARDS
from ..units import format_bytes, parse_bytes
from .command import UsageError, integer, one_of, option

MAX_DEVICES = 10**6
_PRECISION_HELP = ("Training precision: fp32; amp-fp16 or amp-bf16, torch.autocast over float32 weights (float32 "
                   "master weights, gradients and optimizer state; each activation in the type autocast gives it; "
                   "the low-precision weight copies it keeps); bf16, everything in bfloat16 (float32 and bfloat16 name fp32 and "
                   "bf16 too).")
_CHECKPOINT_HELP = ("Activation checkpointing (torch.utils.checkpoint): every-block checkpoints each block instance "
                    "of the spec; N cuts the layers into N segments as checkpoint_sequential does. A segment keeps "
                    "only its inputs; its backward runs it again (its MACs are counted).")
_SHARD_HELP = ("What the --data-parallel devices divide: optimizer (ZeRO stage 1), gradients too (stage 2, FSDP "
               "SHARD_GRAD_OP), parameters too (stage 3, FSDP FULL_SHARD).")


def each(convert: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    """A converter of comma-separated values, each converted: `fp32,amp-bf16`."""

    def convert_all(text: str) -> tuple[Any, ...]:
        return tuple(convert(part.strip()) for part in text.split(","))

    return convert_all


def percent(text: str) -> int:
    """A whole percentage from 0 to 100, with or without its sign: `10` or `10%`."""
    digits = text.strip().removesuffix("%")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 3 and int(digits) <= 100):
        raise ValueError(f"expected a percentage from 0 to 100, such as 10%; received '{clip(text, 40)}'")
    return int(digits)


PRECISION = Annotated[Any, option("--precision", choices=tuple(PRECISIONS), aliases=PRECISION_ALIASES, shown_default="fp32",
                                  help=_PRECISION_HELP)]
CHECKPOINT = Annotated[Any, option("--checkpoint", metavar="none|every-block|N", convert=segments.parse,
                                   shown_default="none", help=_CHECKPOINT_HELP)]
ACCUMULATE = Annotated[Any, option("--accumulate", metavar="K", convert=integer(1, 10**6), shown_default="1",
                                   help="Gradient accumulation: K micro-batches of the batch per optimizer step (no "
                                        "more memory; the samples per step are said).")]
DATA_PARALLEL = Annotated[Any, option("--data-parallel", metavar="N", convert=integer(1, MAX_DEVICES),
                                      shown_default="1",
                                      help="Devices training data-parallel; every byte figure is per device.")]
SHARD = Annotated[Any, option("--shard", choices=SHARDS, shown_default="none", help=_SHARD_HELP)]
RESERVE = Annotated[Any, option("--reserve", metavar="SIZE", convert=parse_bytes, shown_default="1GiB",
                                help="Memory the budget loses before any tensor: the CUDA context, cuBLAS and cuDNN "
                                     "workspaces.")]
FRAGMENTATION = Annotated[Any, option("--fragmentation", metavar="PERCENT", convert=percent, shown_default="10%",
                                      help="An allowance for the caching allocator's fragmentation, as a share of "
                                           "the tensors.")]

# compare: a comma-separated list puts each network under its own regime (one value: all of them)
PRECISIONS_LISTED = Annotated[Any, option("--precision", metavar="fp32|amp-fp16|amp-bf16|bf16,…",
                                          convert=each(one_of(tuple(PRECISIONS), PRECISION_ALIASES)),
                                          shown_default="fp32",
                                          help="Training precision, or one per column: fp32,amp-bf16.")]
CHECKPOINTS_LISTED = Annotated[Any, option("--checkpoint", metavar="none|every-block|N,…", convert=each(segments.parse),
                                           shown_default="none",
                                           help="Activation checkpointing, or one per column: none,every-block.")]
DATA_PARALLEL_LISTED = Annotated[Any, option("--data-parallel", metavar="N,…", convert=each(integer(1, MAX_DEVICES)),
                                             shown_default="1",
                                             help="Data-parallel devices (figures per device), or one per column.")]
OPTIMIZERS_LISTED = Annotated[Any, option("--optimizer", metavar="sgd|momentum|adam,…",
                                          convert=each(one_of(tuple(OPTIMIZER_STATES))), shown_default="sgd",
                                          help="Optimizer state in training memory (sgd 0, momentum 1, adam 2 tensors "
                                               "per parameter), or one per column.")]
SHARDS_LISTED = Annotated[Any, option("--shard", metavar="none|optimizer|gradients|parameters,…",
                                      convert=each(one_of(SHARDS)), shown_default="none",
                                      help="What the devices divide (ZeRO stages 1–3), or one per column.")]

def training_plan(train: bool, optimizer: str, precision: str | None, checkpoint: str | int | None,
                  accumulate: int | None, devices: int | None, shard: str | None, dtype: str = "float32") -> Plan:
    """The plan the options describe; a usage error where they contradict one another."""
    given = [name for name, value in (("--precision", precision), ("--checkpoint", checkpoint),
                                      ("--accumulate", accumulate), ("--data-parallel", devices), ("--shard", shard))
             if value is not None]
    if given and not train:
        raise UsageError(f"{given[0]} plans a training step: add --train (inference takes --dtype)")
    if train and dtype != "float32":
        raise UsageError("a training step takes --precision, not --dtype (bf16: everything in bfloat16; amp-bf16: "
                         "mixed precision over float32 weights)")
    plan = Plan(precision or ("fp32" if train else None), optimizer, segments.chosen(checkpoint), accumulate or 1,
                devices or 1, shard or "none")
    check(plan)
    return plan


def check(plan: Plan) -> None:
    """A usage error for a plan that cannot be: sharding on one device."""
    if plan.shard != "none" and plan.devices < 2:
        raise UsageError(f"--shard {plan.shard} divides among devices: give --data-parallel N with N ≥ 2")


def headroom(reserve: int | None, fragmentation: int | None) -> Headroom:
    """The headroom the options give, the defaults where they do not."""
    return Headroom(DEFAULT_HEADROOM.reserve if reserve is None else reserve,
                    DEFAULT_HEADROOM.fragmentation if fragmentation is None else fragmentation)


def headroom_text(room: Headroom) -> str:
    return f"reserve {format_bytes(room.reserve)}, fragmentation allowance {room.fragmentation}%"
