"""Draw the README's pictures: VGG-16's plot and GoogLeNet's diagram, into docs/images/.

    python docs/make_images.py            # rewrite docs/images/
    python docs/make_images.py --out DIR  # somewhere else (tests/test_images.py compares the two)

Needs matplotlib (pip install 'archcalc[plot]') and Graphviz's dot. The
output is deterministic: the same archcalc, matplotlib and Graphviz write the
same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import archcalc
from archcalc import diagram, plot

IMAGES = Path(__file__).resolve().parent / "images"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plot.save(plot.layers_figure(archcalc.analyze("vgg16")), out / "vgg16.svg")
    (out / "googlenet.svg").write_bytes(diagram.draw(diagram.dot(archcalc.analyze("googlenet")), "svg"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="the folder to write (default: docs/images)")
    main(parser.parse_args().out)
