"""Bring your own model: a torch module analysed directly, as the Network its layers are.

`import_module(module, input, name, reference="", *, allow_opaque=False) -> Network`: the module (built on
the meta device, so no weight memory is allocated) traced at one sample of `input` with torch.export, or
torch.fx.symbolic_trace where export fails (the network's `source` names the tracer); each node mapped to a
kind through the readers beside each kind's torch facet (`backends/torch/*.py`'s READERS, nn.Module class
→ spec items) or, outside any module with a reader, through `functional.FUNCTIONS` (F.relu, torch.cat,
`+`, x.flatten(1) …); transformers' own modules (GPT-2's, BERT's, Llama's) through `huggingface`'s readers.
The index and mask arithmetic of a forward (position ids, attention masks, rotary tables) is left out by
the rule `indices` states. Layers are named by module path (`layer1.0.conv1`). The Network is built through
archcalc.Builder, so every figure is the engine's.

`models.load_model(name, input)` (torch-free) resolves the model names (`torchvision:NAME(k=v, …)`,
`package.module:callable`, `timm:NAME`) and calls this.
"""

from .network import UnmappedError, import_module
from .trace import TraceError

__all__ = ["TraceError", "UnmappedError", "import_module"]
