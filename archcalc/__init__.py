"""archcalc: shape and cost of neural-network architectures, from a small YAML spec."""

from __future__ import annotations

__version__ = "0.1.0"

from .analysis import analyze  # noqa: E402
from .catalog import load  # noqa: E402
from .errors import ArchcalcError, ShapeError, SpecError  # noqa: E402

__all__ = ["ArchcalcError", "ShapeError", "SpecError", "__version__", "analyze", "load"]
