"""Each reader (backends/torch/*.py READERS) against the module it reads: the spec items it returns, built by
the engine, hold the module's parameters and give its output shape."""

from __future__ import annotations

import pytest

from conftest import module_or_fail, torch_or_fail

torch = torch_or_fail()
module_or_fail("torchvision", "pip install torchvision")
from torch import nn  # noqa: E402

from archcalc import Builder, analyze  # noqa: E402
from archcalc.backends.torch import elementwise, layout, norm  # noqa: E402
from archcalc.backends.torch.base import ReadError, reader_of  # noqa: E402
from archcalc.backends.torch.kinds import READERS  # noqa: E402

from torchvision.models.convnext import LayerNorm2d  # noqa: E402
from torchvision.models.swin_transformer import PatchMerging, ShiftedWindowAttention  # noqa: E402
from torchvision.ops import StochasticDepth  # noqa: E402
from torchvision.ops.misc import Permute  # noqa: E402


def first(module, x):
    return module(x)[0]


def self_attention(module, x):
    return module(x, x, x, need_weights=False)[0]


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.Hardswish, nn.Hardsigmoid)

# (module, input per sample, how it is called; an int64 input for ids)
CASES = [
    (lambda: nn.Conv1d(4, 8, 3, stride=2, padding=1), (4, 16), None),
    (lambda: nn.Conv2d(3, 16, (3, 5), stride=(1, 2), padding=(1, 2), bias=False), (3, 20, 20), None),
    (lambda: nn.Conv2d(8, 8, 3, padding="same", dilation=2, groups=4), (8, 9, 9), None),
    (lambda: nn.Conv2d(8, 4, 3, padding="valid"), (8, 9, 9), None),
    (lambda: nn.Conv3d(3, 4, 3), (3, 6, 8, 8), None),
    (lambda: nn.ConvTranspose1d(4, 2, 4, stride=2), (4, 10), None),
    (lambda: nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), (8, 7, 7), None),
    (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2, bias=False), (2, 3, 4, 4), None),
    (lambda: nn.Linear(12, 5), (12,), None),
    (lambda: nn.Linear(12, 5, bias=False), (7, 12), None),
    (lambda: nn.Flatten(), (2, 3, 4), None),
    (lambda: nn.Flatten(2), (2, 3, 4), None),
    (lambda: nn.BatchNorm1d(6), (6, 10), None),
    (lambda: nn.BatchNorm2d(6, eps=1e-3), (6, 5, 5), None),
    (lambda: nn.BatchNorm3d(2), (2, 3, 4, 4), None),
    (lambda: nn.LayerNorm(10, eps=1e-6), (7, 10), None),
    (lambda: nn.RMSNorm(10, eps=1e-6), (7, 10), None),
    (lambda: nn.GroupNorm(2, 8), (8, 4, 4), None),
    (lambda: nn.LocalResponseNorm(5), (8, 4, 4), None),
    (lambda: LayerNorm2d(8, eps=1e-6), (8, 4, 4), None),
    (lambda: norm.LayerNorm2d(8), (8, 4, 4), None),
    *((cls, (4, 5, 5), None) for cls in ACTIVATIONS),
    (lambda: nn.GELU(), (4, 5), None),
    (lambda: nn.GELU(approximate="tanh"), (4, 5), None),
    (lambda: nn.Softmax(dim=1), (10,), None),
    (lambda: nn.Dropout(0.3), (10,), None),
    (lambda: nn.Dropout(0.0), (10,), None),
    (lambda: nn.Identity(), (3, 4), None),
    (lambda: StochasticDepth(0.2, "row"), (4, 5), None),
    (lambda: elementwise.StochasticDepth(0.1), (4, 5), None),
    (lambda: nn.MaxPool1d(2), (4, 10), None),
    (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), (4, 10, 10), None),
    (lambda: nn.MaxPool3d(2), (2, 4, 4, 4), None),
    (lambda: nn.AvgPool1d(3, 2), (4, 11), None),
    (lambda: nn.AvgPool2d(2), (4, 9, 9), None),
    (lambda: nn.AvgPool3d(2, padding=1), (2, 4, 4, 4), None),
    (lambda: nn.AdaptiveAvgPool1d(3), (4, 9), None),
    (lambda: nn.AdaptiveAvgPool2d((7, 7)), (4, 14, 14), None),
    (lambda: nn.AdaptiveAvgPool3d(1), (2, 4, 4, 4), None),
    (lambda: nn.AdaptiveMaxPool1d(2), (4, 8), None),
    (lambda: nn.AdaptiveMaxPool2d(1), (4, 5, 5), None),
    (lambda: nn.AdaptiveMaxPool3d(1), (2, 4, 4, 4), None),
    (lambda: Permute([0, 2, 3, 1]), (4, 5, 6), None),
    (lambda: layout.Permute((2, 0, 1)), (4, 5, 6), None),
    (lambda: nn.Upsample(scale_factor=2), (4, 5, 5), None),
    (lambda: nn.Upsample(scale_factor=(2.0, 3.0)), (4, 5, 5), None),
    (lambda: nn.Upsample(size=(8, 8), mode="bilinear", align_corners=True), (4, 5, 5), None),
    (lambda: nn.ChannelShuffle(2), (4, 5, 5), None),
    (lambda: nn.MultiheadAttention(16, 4, batch_first=True), (7, 16), self_attention),
    (lambda: ShiftedWindowAttention(16, [4, 4], [2, 2], 2), (8, 8, 16), None),
    (lambda: PatchMerging(16), (8, 8, 16), None),
    (lambda: nn.Embedding(100, 8, padding_idx=0), (5,), "ids"),
    (lambda: nn.Embedding(100, 8), (5,), "ids"),
    (lambda: nn.LSTM(10, 16, 2, batch_first=True), (7, 10), first),
    (lambda: nn.GRU(10, 16, bidirectional=True, batch_first=True), (7, 10), first),
]


def _id(index, case):
    module = case[0]()
    return f"{index}-{type(module).__name__}-{'x'.join(map(str, case[1]))}"  # the same in every xdist worker


@pytest.mark.parametrize("make, shape, call", CASES, ids=[_id(i, case) for i, case in enumerate(CASES)])
def test_reader_holds_the_module_parameters_and_shape(make, shape, call):
    module = make().eval()
    ids = call == "ids"
    x = torch.randint(0, 10, (2, *shape)) if ids else torch.randn(2, *shape)
    with torch.no_grad():
        out = module(x) if call in (None, "ids") else call(module, x)
    reads = reader_of(module, READERS)(module, [shape])
    builder = Builder(input={"ids": shape[0]} if ids else list(shape), name="read")
    for read in reads or [None]:
        if read is None:  # the identity: nothing to build; the module keeps its input
            assert tuple(out.shape) == tuple(x.shape) and sum(p.numel() for p in module.parameters()) == 0
            return
        builder.add(read.kind, dict(read.args))
    report = analyze(builder.build())
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    assert report.rows[-1].output == tuple(out.shape[1:])


def _qualified(cls) -> str:
    return cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"


def test_every_reader_has_a_case():
    read = {_qualified(type(case[0]())) for case in CASES}
    assert {_qualified(cls) for cls in READERS} - read == set()


def test_attention_keeps_its_dropout():
    module = nn.MultiheadAttention(16, 4, batch_first=True, dropout=0.25)
    (read,) = reader_of(module, READERS)(module, [(7, 16)])
    assert read.args["dropout"] == module.dropout
    module = nn.MultiheadAttention(16, 4, batch_first=True)
    assert "dropout" not in reader_of(module, READERS)(module, [(7, 16)])[0].args  # none: the kind's default


def test_a_subclass_with_its_own_forward_is_not_read():
    class Doubled(nn.Conv2d):
        def forward(self, x):
            return 2 * super().forward(x)

    assert reader_of(Doubled(3, 4, 3), READERS) is None
    assert reader_of(nn.modules.linear.NonDynamicallyQuantizableLinear(3, 4), READERS) is READERS[nn.Linear]


@pytest.mark.parametrize("make, words", [
    (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    (lambda: nn.BatchNorm2d(4, affine=False), "without affine"),
    (lambda: nn.LayerNorm(4, bias=False), "layer norm over (4,)"),
    (lambda: nn.MaxPool2d(2, return_indices=True), "indices"),
    (lambda: nn.MultiheadAttention(8, 2), "batch-first"),
    (lambda: nn.Upsample(scale_factor=(1.5, 2.0)), "upsampling by (1.5, 2.0)"),  # one axis's scale is not whole
])
def test_a_module_no_kind_expresses_is_a_read_error(make, words):
    module = make()
    with pytest.raises(ReadError) as err:
        reader_of(module, READERS)(module, [(4, 6, 6)])
    assert words in str(err.value)
