"""`plot`, `diagram` and `report`: a network as pictures, as a graph, and as one self-contained HTML file."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

from .. import catalog, diagram
from ..analysis import analyze
from ..errors import ArchcalcError
from ..report import fold
from ..safe import printable
from . import streams
from .command import UsageError, argument, command, option
from .common import BATCH, DTYPE, NET, OPTIMIZER, complete_networks, depth_level, needs_numbers

DEPTH = Annotated[Optional[int], option("--depth", "-d", metavar="N", convert=depth_level,
                                        help="Fold layers to this many levels of their dotted names (blocks become "
                                             "one node or bar).")]


def _write(out: Path, write: Callable[[Path], None]) -> None:
    """Write `out`, then say so on stderr; a file that cannot be written is one error line.

    The content goes to a new file beside it, renamed over `out` once whole: a symbolic link planted at
    `out` (a pull request's checkout) is replaced, never written through, and a failed write leaves no
    half file.
    """
    temporary = None
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
        os.close(handle)
        temporary = Path(name)
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)  # as open() would have made it; mkstemp's file is private
        os.replace(temporary, out)
        temporary = None
    except OSError as err:
        raise ArchcalcError(f"cannot write {out}: {err.strerror or err}") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    streams.say(printable(f"wrote {out}"))


def _output(path: str, suffixes: tuple[str, ...]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"--output/-o: expected a file name ending in {' or '.join(suffixes)}; received '{path}'")
    return out


@command("plot")
def plot_command(
    nets: Annotated[list[str], argument("NET|PATH…", "One network (its layers), or several (compared as points).",
                                        complete=complete_networks)],
    output: Annotated[str, option("--output", "-o", metavar="FILE", help="The picture to write: FILE.png or "
                                                                         "FILE.svg.")],
    kind: Annotated[str, option("--kind", choices=("all", "layers", "timeline"),
                                help="One network: layers (activation memory and parameters per layer, log scale), "
                                     "timeline (bytes alive layer by layer, the peak marked), or all.")] = "all",
    depth: DEPTH = None, batch: BATCH = 1, dtype: DTYPE = "float32",
) -> None:
    """Draw a network's activation memory and parameters per layer and its inference memory timeline; or several networks as points of MACs against parameters, marker area by activation memory.

    Needs matplotlib: pip install matplotlib.

    Examples: archcalc plot vgg16 -o vgg16.svg · archcalc plot resnet50 --depth 2 --kind timeline -o r50.png ·
    archcalc plot alexnet vgg16 googlenet resnet50 -o networks.svg
    """
    from .. import plot

    out = _output(output, (".png", ".svg"))
    reports = [fold(analyze(catalog.load(net), batch, dtype), depth) for net in nets]
    for report in reports:
        needs_numbers(report, "plot")
    figure = plot.layers_figure(reports[0], kind) if len(reports) == 1 else plot.compare_figure(reports)
    _write(out, lambda path: plot.save(figure, path))


@command("diagram")
def diagram_command(
    net: NET,
    fmt: Annotated[str, option("--format", "-f", choices=diagram.FORMATS,
                               help="dot (Graphviz) or mermaid (renders in GitHub Markdown).")] = "dot",
    output: Annotated[Optional[str], option("--output", "-o", metavar="FILE",
                                            help="Write here instead of stdout; FILE.svg or FILE.png is drawn by "
                                                 "Graphviz's dot.")] = None,
    depth: DEPTH = None,
) -> None:
    """Print the network's graph: one node per layer (kind, output shape, parameters), blocks as clusters; identity shortcuts are dashed edges, merges small nodes.

    Examples: archcalc diagram googlenet --depth 2 · archcalc diagram resnet18 --format mermaid ·
    archcalc diagram googlenet -o googlenet.svg (needs Graphviz: apt-get install graphviz, brew install graphviz)
    """
    report = fold(analyze(catalog.load(net)), depth)
    text = diagram.mermaid(report) if fmt == "mermaid" else diagram.dot(report)
    if output is None:
        sys.stdout.write(text)
        return
    out = Path(output)
    if out.suffix.lower() in (".svg", ".png"):
        if fmt != "dot":
            raise UsageError("--output/-o: FILE.svg and FILE.png are drawn from --format dot")
        picture = diagram.draw(text, out.suffix.lower().lstrip("."))
        _write(out, lambda path: path.write_bytes(picture))
    else:
        _write(out, lambda path: path.write_text(text, encoding="utf-8"))


@command("report")
def report_command(
    nets: Annotated[list[str], argument("NET|PATH…", "One or more networks; several are also compared.",
                                        complete=complete_networks)],
    output: Annotated[str, option("--output", "-o", metavar="FILE", help="The HTML file to write.")],
    depth: Annotated[Optional[int], option("--depth", "-d", metavar="N", convert=depth_level,
                                           help="Fold the table and the diagram to this depth (default: every "
                                                "layer in the table; the diagram folded to 2 levels when it has "
                                                "over 120 nodes).")] = None,
    batch: BATCH = 1, dtype: DTYPE = "float32", optimizer: OPTIMIZER = "sgd",
) -> None:
    """Write one self-contained HTML file: per network its table (sortable), totals, plots and diagram; a comparison when there are several. Nothing in it is fetched from a network.

    Needs matplotlib for the plots (pip install matplotlib); the diagram is drawn by Graphviz's dot when it
    is installed, else its DOT text is included.

    Examples: archcalc report vgg16 -o vgg16.html · archcalc report alexnet vgg16 googlenet resnet50 -o networks.html
    """
    from .. import html

    out = _output(output, (".html", ".htm"))
    reports = [analyze(catalog.load(net), batch, dtype, optimizer=optimizer) for net in nets]
    for report in reports:
        needs_numbers(report, "report")
    page = html.document(reports, depth)
    _write(out, lambda path: path.write_text(page, encoding="utf-8"))
