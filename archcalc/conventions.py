"""What the figures count, in words: the one text of each convention that every output quotes.

The table's footer, compare's note, the HTML report, the plots and bench say
what a MAC is with these constants, and docs/conventions.md quotes them
(docs/make_docs.py writes them in), so the convention is written once.
"""

from __future__ import annotations

MACS = "multiply-accumulates of conv, fc, linear, attention and recurrent layers"  # what every output calls a MAC
ZERO_MACS = "bias adds, norms, pooling, interpolation, sums and products count 0 MACs"
FLOPS = "FLOPs = 2 × MACs"
# Rows of their own, but nothing in the activation sum: each runs in place on the layer before's output.
FUSED = "Activation functions and dropout are fused into the layer before (their rows add 0 B)"
# The memory figures, one name and one definition each: the table's footer, check's budgets (--max-…-memory),
# compare and the docs say them alike.
ACTIVATION_MEMORY = "activation memory"
INFERENCE_MEMORY = "inference memory"
TRAINING_MEMORY = "training memory"
MEMORY = {
    ACTIVATION_MEMORY: "every layer's output once, the activation sum",
    INFERENCE_MEMORY: "a forward pass: the peak of the activations alive at once, parameters and buffers",
    TRAINING_MEMORY: "a training step: what autograd saves for backward, parameters, gradients, optimizer state "
                     "and buffers",
}
# Activation memory × 2 for forward + backward: the CS231n notes' VGG-16 table ("only forward! ~*2 for bwd").
RULE_OF_THUMB = "CS231n's rule of thumb"
UNITS = "MiB = 2²⁰ bytes"
