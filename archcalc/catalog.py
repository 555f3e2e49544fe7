"""Finding and loading specs: bundled networks by name, or YAML files by path."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from . import expand, models, source
from .errors import ArchcalcError, ShadowWarning, did_you_mean
from .ir import Network
from .safe import clip

SUFFIXES = (".yaml", ".yml")


def specs_dir() -> Path:
    """The bundled specs: inside the installed package, or `specs/` of a source checkout."""
    packaged = Path(__file__).parent / "specs"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "specs"


def bundled() -> dict[str, Path]:
    """Bundled network names and their files, sorted by name."""
    return {path.stem: path for path in sorted(specs_dir().glob("*.yaml"))}


def is_path(name_or_path: str) -> bool:
    """Whether a command-line word names a file: it has a directory separator or a spec suffix.

    Anything else is a bundled network's name, even where a file or directory of that name exists,
    so that what sits in the working directory (a pull request's files) never replaces a bundled
    network: `./resnet50` is the file, `resnet50` the bundled network.
    """
    separators = {"/", os.sep, *(os.altsep or "")}
    return any(sep in name_or_path for sep in separators) or name_or_path.endswith(SUFFIXES)


def locate(name_or_path: str) -> Path:
    """The spec file for a bundled name (`vgg16`) or a path (`my/net.yaml`, `./vgg16`): see `is_path`."""
    if is_path(name_or_path):
        path = Path(name_or_path)
        try:
            regular = path.is_file()
        except OSError as err:  # a name too long, a loop of links …
            raise ArchcalcError(f"{name_or_path}: cannot read: {err.strerror or err}") from None
        if not regular:
            raise ArchcalcError(f"{name_or_path}: {'not a regular file' if _exists(name_or_path) else 'no such spec file'}")
        return path
    networks = bundled()
    if name_or_path not in networks:
        local = " (a file of this name is read as ./" + name_or_path + ")" if _exists(name_or_path) else ""
        raise ArchcalcError(f"unknown network '{clip(name_or_path)}'{did_you_mean(name_or_path, list(networks))}"
                            f" (see `archcalc list`, or give a path to a .yaml spec){local}")
    if _exists(name_or_path):  # said, not refused: which one was used, and how to name the other
        warnings.warn(ShadowWarning(f"'{name_or_path}' is the bundled network; ./{name_or_path} in this directory "
                                    f"is not read (write ./{name_or_path} for it)"), stacklevel=2)
    return networks[name_or_path]


def _exists(name: str) -> bool:
    try:
        return os.path.lexists(name)
    except (OSError, ValueError):
        return False


def load(name_or_path: str, input: tuple | None = None, *, allow_opaque: bool = False) -> Network:
    """A network from a bundled name, a spec file path, or a model name (`models`: torchvision:resnet50,
    package.module:callable, model.onnx …), which is traced at `input` (a spec's input is its own: `input`
    is applied by the analysis)."""
    if models.is_model(name_or_path):
        return models.load_model(name_or_path, input, allow_opaque=allow_opaque)
    path = locate(name_or_path)
    shown = str(path) if is_path(name_or_path) else f"specs/{path.name}"  # not where it is installed
    return expand.build(source.load_file(path, shown), shown, path.stem)
