"""What the figures count, in words: the one text of each convention that every output quotes.

The table's footer, compare's note, the HTML report, the plots and bench say
what a MAC is with these constants, and docs/conventions.md quotes them
(docs/make_docs.py writes them in), so the convention is written once.
"""

from __future__ import annotations

MACS = "multiply-accumulates of conv, fc, linear, attention and recurrent layers"  # what every output calls a MAC
ZERO_MACS = "bias adds, norms, pooling, interpolation, sums and products count 0 MACs"
FLOPS = "FLOPs = 2 × MACs"
FUSED = "Activation functions and dropout are fused into the layer before"  # outside the activation sum
UNITS = "MiB = 2²⁰ bytes"
