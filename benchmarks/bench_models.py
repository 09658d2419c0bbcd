"""Training-step speed of reslab's models against reference implementations.

Times one forward + backward (cross-entropy on random labels, train mode, fp32) of
  - reslab ``resnet50`` vs torchvision ``resnet50`` (batch 16 at 224x224), and
  - reslab ``resnet20`` vs the classic plain-PyTorch CIFAR ResNet-20 written below (option-A
    shortcut as a lambda, ``out += shortcut(x)``; batch 128 at 32x32),
in one process, in both memory formats (channels_last and contiguous), on the CPU or with
``--device cuda`` on a GPU (batches 8x larger there, 20 steps per repetition, bf16 autocast with
``--bf16``). The two models of a pair
are timed in interleaved repetitions, alternating which goes first, so drifts in machine load hit
both alike. Reported per model: the median and the best throughput over repetitions; and two
ratios reslab / reference: the median of the within-repetition ratios (robust to load drifting
between repetitions) and the ratio of the best throughputs (on a shared machine, the run least
disturbed by other processes, as timeit recommends).

    .venv/bin/python benchmarks/bench_models.py            # full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_models.py --quick    # smoke run
    python benchmarks/bench_models.py --device cuda --bf16   # one GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import reslab

# ---------------------------------------------------------------------------------------------
# Reference CIFAR ResNet-20 (He et al. 2015, 4.2), written the way the widely used plain-PyTorch
# reimplementations write it: option-A shortcut as a lambda, in-place add, functional ReLU.


class LambdaLayer(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class RefBasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or in_planes != planes:
            pad = planes // 4
            self.shortcut = LambdaLayer(
                lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class RefResNet20(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks: list[nn.Module] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(RefBasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*blocks)
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.flatten(1))


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    label: str
    ours: Callable[[], nn.Module]
    reference: Callable[[], nn.Module]
    batch: int
    side: int


PAIRS = (
    Pair(
        "resnet50 vs torchvision", lambda: reslab.create_model("resnet50"),
        torchvision.models.resnet50, batch=16, side=224,
    ),
    Pair(
        "resnet20 vs reference", lambda: reslab.create_model("resnet20"), RefResNet20,
        batch=128, side=32,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Setting:
    device: torch.device
    bf16: bool
    batch_scale: int


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, setting: Setting) -> None:
    model.zero_grad(set_to_none=True)
    with torch.autocast(setting.device.type, torch.bfloat16, enabled=setting.bf16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()


def time_steps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, setting: Setting
) -> float:
    sync = torch.cuda.synchronize if setting.device.type == "cuda" else (lambda: None)
    sync()  # CUDA kernels run asynchronously: time from an empty queue to an empty queue
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, x, y, setting)
    sync()
    return steps * x.shape[0] / (time.perf_counter() - start)


def bench_pair(
    pair: Pair, fmt: torch.memory_format, reps: int, steps: int, setting: Setting
) -> tuple[list[float], list[float]]:
    torch.manual_seed(0)
    dev = setting.device
    models = [pair.ours().train(), pair.reference().train()]
    models = [m.to(dev, memory_format=fmt) for m in models]
    num_classes = models[0].fc.out_features
    batch = pair.batch * setting.batch_scale
    x = torch.randn(batch, 3, pair.side, pair.side, device=dev).to(memory_format=fmt)
    y = torch.randint(0, num_classes, (batch,), device=dev)
    for m in models:  # warm-up: oneDNN primitives / cuDNN autotuning, allocator growth
        for _ in range(3):
            train_step(m, x, y, setting)
    rates: list[list[float]] = [[], []]
    for r in range(reps):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            rates[i].append(time_steps(models[i], x, y, steps, setting))
    return rates[0], rates[1]


def summary_line(label: str, ours: list[float], ref: list[float]) -> str:
    med, best = statistics.median, max
    ratio = med(a / b for a, b in zip(ours, ref, strict=True))
    return (
        f"{label:<42}{med(ours):>8.2f}{best(ours):>8.2f}{med(ref):>8.2f}{best(ref):>8.2f}"
        f"{ratio:>8.3f}{best(ours) / best(ref):>8.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions per model")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per repetition (default: 1 on CPU, 20 on CUDA)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default fp32)")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, smoke run")
    parser.add_argument("--only", choices=["resnet50", "resnet20"], help="time one pair only")
    args = parser.parse_args()
    reps = 3 if args.quick else args.reps
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    setting = Setting(dev, args.bf16, batch_scale=8 if gpu else 1)
    steps = args.steps or (20 if gpu else 1)
    if gpu:
        torch.backends.cudnn.benchmark = True  # both models get the fastest kernels alike
    where = (
        torch.cuda.get_device_name(dev) if gpu
        else f"{platform.processor() or platform.machine()}, {args.threads} threads"
    )  # fmt: skip
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{where}, {'bf16 autocast' if args.bf16 else 'fp32'}, batch x{setting.batch_scale}, "
        f"forward+backward, {reps} interleaved repetitions x {steps} step(s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at start"
    )
    print(f"{'':<42}{'reslab img/s':>16}{'ref img/s':>16}{'reslab / ref':>16}")
    print(f"{'pair, format':<42}" + "".join(f"{h:>8}" for h in ("median", "best") * 2)
          + f"{'median':>8}{'best':>8}")  # fmt: skip
    formats = (("channels_last", torch.channels_last), ("contiguous", torch.contiguous_format))
    for pair in PAIRS:
        if args.only and not pair.label.startswith(args.only):
            continue
        for fmt_name, fmt in formats:
            ours, ref = bench_pair(pair, fmt, reps, steps, setting)
            print(summary_line(f"{pair.label}, {fmt_name}", ours, ref), flush=True)


if __name__ == "__main__":
    main()
