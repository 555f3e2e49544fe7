"""archcalc: shape and cost of neural-network architectures, from a small YAML spec."""

__version__ = "0.5.0"

from importlib import import_module as _import_module  # noqa: E402

from .errors import ArchcalcError, ShapeError, SpecError  # noqa: E402

# The front door's names, imported on first use: the command line, which imports this package first, reads
# its specs through `catalog` and never pays for the API, the builder or the writer; `archcalc --version`
# and `--help` import no engine module at all.
_LAZY = {"analyze": "api", "load": "api", "Builder": "builder", "dump": "write", "Report": "report", "Row": "report",
         "Totals": "report"}

__all__ = ["ArchcalcError", "Builder", "Report", "Row", "ShapeError", "SpecError", "Totals", "__version__", "analyze",
           "build_torch", "dump", "load"]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'archcalc' has no attribute '{name}'")
    _import_module(".views", __name__)  # how a report shows itself in Jupyter and rich
    value = getattr(_import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def build_torch(spec_or_name, **options):  # type: ignore[no-untyped-def]
    """The network as a real torch.nn.Module (needs torch; imported here, never by the analytic path).

    `spec_or_name`: a bundled name, a spec path or a Network; options: input_shape,
    device ("cpu", "cuda", "meta" …), dtype ("float32", "float16", "bfloat16").
    Example: archcalc.build_torch("resnet50")(torch.randn(1, 3, 224, 224)).
    """
    from .backends import torch_backend

    return torch_backend().build(spec_or_name, **options)
