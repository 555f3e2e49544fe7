"""Finding and loading specs: bundled networks by name, or YAML files by path."""

from __future__ import annotations

from pathlib import Path

from . import expand, source
from .errors import ArchcalcError, did_you_mean
from .ir import Network

SUFFIXES = (".yaml", ".yml")


def specs_dir() -> Path:
    """The bundled specs: inside the installed package, or `specs/` of a source checkout."""
    packaged = Path(__file__).parent / "specs"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "specs"


def bundled() -> dict[str, Path]:
    """Bundled network names and their files, sorted by name."""
    return {path.stem: path for path in sorted(specs_dir().glob("*.yaml"))}


def locate(name_or_path: str) -> Path:
    """The spec file for a bundled name (`vgg16`) or a path (`my/net.yaml`)."""
    path = Path(name_or_path)
    if path.suffix in SUFFIXES or path.exists():
        if not path.is_file():
            raise ArchcalcError(f"{name_or_path}: no such spec file")
        return path
    networks = bundled()
    if name_or_path not in networks:
        raise ArchcalcError(f"unknown network '{name_or_path}'{did_you_mean(name_or_path, list(networks))}"
                            " (see `archcalc list`, or give a path to a .yaml spec)")
    return networks[name_or_path]


def load(name_or_path: str) -> Network:
    """A network from a bundled name or a spec file path."""
    path = locate(name_or_path)
    return expand.build(source.load_file(path), str(path), path.stem)
