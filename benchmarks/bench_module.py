"""archcalc's generated torch module against a hand-written one: forward time ratio and build time.

    python benchmarks/bench_module.py [--runs 15] [--batches 1 8] [--nets vgg16 resnet50 googlenet]

For each network and batch: both modules in eval mode under inference_mode,
warmed up, then timed in alternation (so drift in clock speed or load hits
both alike); prints each median and archcalc / reference (target ≤ 1.05×).
The reference is torchvision's model where torchvision is importable (then
against the bundled `-tv` spec that matches it), else the plain modules
written below after the papers, matching the bundled paper specs; the script
checks that both have the same parameter count before timing. Last, the
time to build vgg16 both ways (parameter initialisation included).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import archcalc  # noqa: E402

# ── hand-written references, after the papers (as the bundled specs) ─────────


def vgg16() -> nn.Module:
    layers: list[nn.Module] = []
    c = 3
    for out, n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(n):
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(inplace=True)]
            c = out
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(), nn.Linear(4096, 1000),
                         nn.Softmax(dim=1))


def conv_bn(c: int, out: int, k: int, s: int = 1, p: int = 0, relu: bool = True) -> nn.Sequential:
    parts = [nn.Conv2d(c, out, k, s, p, bias=False), nn.BatchNorm2d(out)]
    return nn.Sequential(*parts, nn.ReLU(inplace=True)) if relu else nn.Sequential(*parts)


class Bottleneck(nn.Module):
    """ResNet v1: the stride on the first 1×1 (He et al. 2015, Figure 5)."""

    def __init__(self, c: int, mid: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, mid, 1, stride), conv_bn(mid, mid, 3, 1, 1), conv_bn(mid, mid * 4, 1, relu=False))
        self.shortcut = None if (c, stride) == (mid * 4, 1) else conv_bn(c, mid * 4, 1, stride, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + (x if self.shortcut is None else self.shortcut(x)))


def resnet50() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for n, mid, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
        for i in range(n):
            layers.append(Bottleneck(c, mid, stride if i == 0 else 1))
            c = mid * 4
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000), nn.Softmax(dim=1))


def conv_relu(c: int, out: int, k: int, s: int = 1, p: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, out, k, s, p), nn.ReLU(inplace=True))


class Inception(nn.Module):
    def __init__(self, c: int, c1: int, r3: int, c3: int, r5: int, c5: int, pp: int):
        super().__init__()
        self.b1 = conv_relu(c, c1, 1)
        self.b2 = nn.Sequential(conv_relu(c, r3, 1), conv_relu(r3, c3, 3, p=1))
        self.b3 = nn.Sequential(conv_relu(c, r5, 1), conv_relu(r5, c5, 5, p=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_relu(c, pp, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


def googlenet() -> nn.Module:
    """Szegedy et al. 2014, Table 1 and Figure 3, with the Caffe model's LRN and ceil pools."""
    table = {"3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64), "4a": (192, 96, 208, 16, 48, 64),
             "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
             "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128)}

    def block(c: int, name: str) -> tuple[Inception, int]:
        cols = table[name]
        return Inception(c, *cols), cols[0] + cols[2] + cols[4] + cols[5]

    layers: list[nn.Module] = [conv_relu(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
                               nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), conv_relu(64, 64, 1), conv_relu(64, 192, 3, p=1),
                               nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), nn.MaxPool2d(3, 2, ceil_mode=True)]
    c = 192
    for name in ("3a", "3b", "pool", "4a", "4b", "4c", "4d", "4e", "pool", "5a", "5b"):
        if name == "pool":
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            continue
        module, c = block(c, name)
        layers.append(module)
    return nn.Sequential(*layers, nn.AvgPool2d(7, 1), nn.Flatten(), nn.Dropout(0.4), nn.Linear(1024, 1000), nn.Softmax(dim=1))


def references() -> tuple[str, dict[str, tuple[str, Callable[[], nn.Module]]]]:
    """network → (archcalc spec, reference factory): torchvision's where importable."""
    try:
        import torchvision.models as tv
    except Exception:  # not installed, or built for another torch
        return "hand-written (this script)", {"vgg16": ("vgg16", vgg16), "resnet50": ("resnet50", resnet50),
                                              "googlenet": ("googlenet", googlenet)}
    return "torchvision", {
        "vgg16": ("vgg16", lambda: nn.Sequential(tv.vgg16(), nn.Softmax(dim=1))),
        "resnet50": ("resnet50-tv", tv.resnet50),
        "googlenet": ("googlenet-tv", lambda: tv.googlenet(aux_logits=False, init_weights=False)),
    }


# ── timing ───────────────────────────────────────────────────────────────────


def interleaved(a: nn.Module, b: nn.Module, x: torch.Tensor, warmup: int, runs: int) -> tuple[float, float]:
    """Median seconds of a(x) and b(x), timed in alternation after `warmup` passes of each."""
    times: tuple[list[float], list[float]] = ([], [])
    with torch.inference_mode():
        for _ in range(warmup):
            a(x)
            b(x)
        for i in range(runs):
            for index, module in ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a)):
                began = time.perf_counter()
                module(x)
                times[index].append(time.perf_counter() - began)
    return statistics.median(times[0]), statistics.median(times[1])


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["vgg16", "resnet50", "googlenet"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    kind, refs = references()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; reference: {kind}")
    print(f"{'network':<12}{'batch':>6}{'archcalc':>12}{'reference':>12}{'ratio':>8}")
    for net in args.nets:
        spec, factory = refs[net]
        ours, theirs = archcalc.build_torch(spec).eval(), factory().eval()
        if count(ours) != count(theirs):
            raise SystemExit(f"{net}: archcalc {count(ours):,} parameters, reference {count(theirs):,}: not the same network")
        for batch in args.batches:
            x = torch.randn(batch, *ours.input_shape)
            a, b = interleaved(ours, theirs, x, args.warmup, args.runs)
            print(f"{spec:<12}{batch:>6}{a * 1000:>10.2f}ms{b * 1000:>10.2f}ms{a / b:>7.3f}×", flush=True)
    builds: tuple[list[float], list[float]] = ([], [])
    for _ in range(3):
        for index, make in ((0, lambda: archcalc.build_torch("vgg16")), (1, refs["vgg16"][1])):
            began = time.perf_counter()
            make()
            builds[index].append(time.perf_counter() - began)
    ours_s, theirs_s = statistics.median(builds[0]), statistics.median(builds[1])
    print(f"build vgg16 (median of 3, initialisation included): archcalc {ours_s:.2f} s, reference {theirs_s:.2f} s "
          f"({ours_s / theirs_s:.2f}×)")


if __name__ == "__main__":
    main()
