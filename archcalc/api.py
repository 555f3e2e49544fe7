"""The library's front door, for notebooks and scripts: `load` a network from anything, `analyze` it.

    >>> import archcalc
    >>> report = archcalc.analyze("vgg16", batch=8)
    >>> report.totals.params
    138357544

A report renders itself in Jupyter (`_repr_html_`) and in rich (`__rich__`),
and has `to_dict()` (the JSON contract) and `to_pandas()` (when pandas is
installed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import analysis, catalog, expand, models, sizes, source, views  # noqa: F401 (views: how its reports show themselves)
from .errors import ArchcalcError
from .ir import Network
from .report import Report

Spec = str | Path | Mapping[str, Any] | Network


def load(spec: Spec, name: str = "spec") -> Network:
    """A network from a bundled name (`"vgg16"`), a spec path, YAML text, or a mapping of the spec's keys.

    A string is YAML text when it has a line break or a `:`, and a name or path otherwise; a mapping is
    checked as a file's data would be (the same messages, naming the layer's path: it has no lines),
    within the limits for programs (expand.PROGRAM_LIMITS). `name` is the network's name when YAML text
    or a mapping does not give one.
    """
    if isinstance(spec, Network):
        return spec
    if isinstance(spec, Mapping):
        return expand.build(source.plain(spec), f"<{name}>", name, expand.PROGRAM_LIMITS)
    if isinstance(spec, Path):
        return catalog.load(str(spec))
    if isinstance(spec, str) and models.is_model(spec):
        return catalog.load(spec)
    if isinstance(spec, str) and ("\n" in spec or ":" in spec) and not _is_file(spec):
        return expand.build(source.load_text(spec, f"<{name}>"), f"<{name}>", name)
    if isinstance(spec, str):
        return catalog.load(spec)
    raise ArchcalcError(f"expected a network name, a path, YAML text, a mapping or a Network; "
                        f"received {type(spec).__name__}")


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # longer than a path may be, or a NUL: text, not a path
        return False


def analyze(spec: Spec, batch: int = 1, dtype: str = "float32", *, strict: bool = False,
            input_shape: tuple[int, ...] | None = None, optimizer: str = "sgd", precision: str | None = None,
            checkpoint: str | int | None = None, device: str = "cuda") -> Report:
    """The report of a network (anything `load` takes) at a batch size and dtype.

    `strict` makes an inexact division an error; `input_shape` overrides the spec's input
    ((C, H, W), (C, T, H, W), or (C, L) for a spec whose input is one);
    `optimizer` ("sgd", "momentum", "adam") sets the state counted in training memory; `precision`
    ("fp32", "amp-fp16", "amp-bf16", "bf16", in place of `dtype`) and `checkpoint` ("every-block" or a
    number of segments) plan the training step, autocast following the op lists of `device` ("cuda",
    "cpu"); `Report.train_parts(devices, shard)` then gives its bytes per device, tensor by tensor.
    """
    try:
        batch = _given("batch", lambda: sizes.batch_size(batch))
        if input_shape is not None:
            input_shape = _given("input_shape", lambda: _shape(input_shape))
        return analysis.analyze(load(spec), batch, dtype, strict=strict, input_shape=input_shape, optimizer=optimizer,
                                precision=precision, checkpoint=checkpoint, device=device)
    except ValueError as err:  # what the command line refuses as a usage error, refused the same way
        if isinstance(err, ArchcalcError):
            raise
        raise ArchcalcError(str(err)) from None


def _given(name: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ValueError as err:
        raise ArchcalcError(f"{name}: {err}") from None


def _shape(value: Any) -> tuple[Any, ...]:
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 4:
        raise ValueError(f"expected a tuple of 1 to 4 dimensions, such as (3, 224, 224); received {sizes.shown(value)}")
    return tuple(sizes.dimension(d) for d in value)


def networks() -> list[dict[str, Any]]:
    """The bundled networks, as `archcalc list --format json` writes them: name, title, source, input,
    parameters, active parameters (those one token uses: fewer than all in a mixture of experts) and MACs
    (at the spec's own input)."""
    listed = []
    for name in catalog.bundled():
        network = catalog.load(name)
        totals = analysis.analyze(network).totals
        listed.append({"name": name, "title": network.title, "source": network.source, "input": list(network.input),
                       "params": totals.params, "active_params": totals.active_params, "macs": totals.macs})
    return listed
