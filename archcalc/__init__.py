"""archcalc: shape and cost of neural-network architectures, from a small YAML spec."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import analyze, load  # noqa: E402
from .builder import Builder  # noqa: E402
from .write import dump  # noqa: E402
from .errors import ArchcalcError, ShapeError, SpecError  # noqa: E402

from .report import Report, Row, Totals  # noqa: E402
from . import views  # noqa: E402, F401 (registers how a report shows itself in Jupyter and rich)

__all__ = ["ArchcalcError", "Builder", "Report", "Row", "ShapeError", "SpecError", "Totals", "__version__", "analyze",
           "build_torch", "dump", "load"]


def build_torch(spec_or_name, **options):  # type: ignore[no-untyped-def]
    """The network as a real torch.nn.Module (needs torch; imported here, never by the analytic path).

    `spec_or_name`: a bundled name, a spec path or a Network; options: input_shape,
    device ("cpu", "cuda", "meta" …), dtype ("float32", "float16", "bfloat16").
    Example: archcalc.build_torch("resnet50")(torch.randn(1, 3, 224, 224)).
    """
    from .backends import torch_backend

    return torch_backend().build(spec_or_name, **options)
