"""A training plan: how a step runs (precision, optimizer, checkpointing, accumulation, devices, sharding).

The precision and checkpointing change what the step's tensors are, so they
go into the analysis; the optimizer, devices and sharding divide the model
states (states.model_states); accumulation changes no memory, only how many
samples one optimizer step sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import analyze
from .ir import Network
from .report import Report
from .segments import label as checkpoint_label
from .states import Part


@dataclass(frozen=True)
class Plan:
    precision: str | None = None  # precision.PRECISIONS; None: every tensor at the analysis's dtype
    optimizer: str = "sgd"
    checkpoint: str | int | None = None  # every-block, or a number of segments
    accumulate: int = 1  # micro-batches per optimizer step (gradient accumulation)
    devices: int = 1  # data-parallel devices
    shard: str = "none"  # states.SHARDS: what the devices divide

    def analyze(self, net: Network, batch: int, dtype: str = "float32",
                input_shape: tuple[int, ...] | None = None) -> Report:
        """The network's report at a batch (per device) under this plan."""
        return analyze(net, batch, dtype, input_shape=input_shape, optimizer=self.optimizer,
                       precision=self.precision, checkpoint=self.checkpoint)

    def parts(self, report: Report) -> list[Part]:
        """The bytes of a training step on each device, by tensor."""
        return report.train_parts(self.devices, self.shard)

    def samples(self, batch: int) -> int:
        """Samples per optimizer step: the batch on each device, every micro-batch, every device."""
        return batch * self.accumulate * self.devices

    def text(self, dtype: str = "float32") -> str:
        """The plan in words: `adam, amp-bf16, checkpoint every block, 8 devices sharding parameters`."""
        words = [self.optimizer, self.precision or dtype]
        if self.checkpoint is not None:
            words.append(checkpoint_label(self.checkpoint))
        if self.accumulate > 1:
            words.append(f"{self.accumulate} micro-batches per step")
        if self.devices > 1:
            words.append(f"{self.devices} devices" + (f" sharding {self.shard}" if self.shard != "none" else ", no sharding"))
        return ", ".join(words)
