"""Training throughput (images/s) of reslab's ``fit`` against the same step written by hand.

reslab: ``fit`` on an in-memory dataset of random uint8 images (its loader, normalisation,
lr schedule, autocast context, loss bookkeeping, SGD), timed by a callback from the end of the
warm-up steps to the end of the last step, so setup and the final evaluation are not counted.
Reference: the textbook loop on the same data (index a batch, normalise, forward, cross-entropy,
backward, SGD with momentum and weight decay) with torchvision's resnet50 or the plain-PyTorch
CIFAR ResNet of ``bench_models.py`` (3 or 9 blocks per stage for ResNet-20 / ResNet-56).
The hand-written loop also runs reslab's own model, which separates the engine's overhead
(fit vs by hand, same model) from the model's (reslab vs reference model, same loop).
All in channels_last fp32, in one process, in interleaved repetitions (median reported).

    .venv/bin/python benchmarks/bench_train.py              # a few minutes on 2 cores
    .venv/bin/python benchmarks/bench_train.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision
from bench_models import RefBasicBlock, RefResNet20  # this folder is on sys.path when run
from torch import nn

from reslab.data import DataBundle, Split
from reslab.models import create_model
from reslab.training import Callback, StepState, apply_overrides, fit, load_recipe, validate
from reslab.training.env import device_name


def reference_cifar(blocks_per_stage: int) -> nn.Module:
    net = RefResNet20()
    blocks, in_planes = [], 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(blocks_per_stage):
            blocks.append(RefBasicBlock(in_planes, planes, stride if i == 0 else 1))
            in_planes = planes
    net.layers = nn.Sequential(*blocks)
    return net


@dataclass(frozen=True)
class Case:
    name: str
    reference: Callable[[], nn.Module]
    batch: int
    side: int


CASES = (
    Case("resnet20", lambda: reference_cifar(3), batch=128, side=32),
    Case("resnet56", lambda: reference_cifar(9), batch=128, side=32),
    Case("resnet50", lambda: torchvision.models.resnet50(num_classes=10), batch=32, side=64),
)


def random_images(n: int, side: int) -> DataBundle:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    small = Split(x[:64], y[:64])
    return DataBundle(
        name="random", train=Split(x, y), test=small, val=None, num_classes=10, in_channels=3,
        dims=2, input_size=(3, side, side), mean=(0.5,) * 3, std=(0.25,) * 3, source="random",
    )  # fmt: skip


class Clock(Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_step_end(self, state: StepState) -> None:
        if state.step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def reslab_rate(case: Case, data: DataBundle, warmup: int, steps: int) -> float:
    config = validate(apply_overrides(load_recipe("paper"), [
        f"train.steps={warmup + steps}", f"data.batch_size={case.batch}", "data.augment=false",
        "train.channels_last=true", "train.eval_train=false", "train.checkpoint_every=0",
        f"train.log_every={warmup + steps}", "schedule.error_warmup=never",
    ]))  # fmt: skip
    clock = Clock(warmup)
    fit(create_model(case.name, num_classes=10), data, config, device="cpu", callbacks=[clock])
    return steps * case.batch / (clock.end - clock.start)


def by_hand_rate(case: Case, data: DataBundle, warmup: int, steps: int, reference: bool) -> float:
    build = case.reference if reference else lambda: create_model(case.name, num_classes=10)
    model = build().train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x_all, y_all = data.train.x, data.train.y
    mean = torch.tensor(data.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(data.std).view(1, 3, 1, 1) * 255
    order = torch.randperm(len(y_all))
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        index = order[step * case.batch : (step + 1) * case.batch]
        x = ((x_all[index].float() - mean) / std).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), y_all[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    loss.item()
    return steps * case.batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per repetition")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=[c.name for c in CASES])
    parser.add_argument("--quick", action="store_true", help="2 repetitions of 3 steps")
    args = parser.parse_args()
    reps, steps = (2, 3) if args.quick else (args.reps, args.steps)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {device_name(torch.device('cpu'))}, fp32 channels_last, "
        f"median of {reps} interleaved repetitions x {steps} steps (+{args.warmup} warm-up)"
    )
    print("img/s: (a) reslab fit, (b) by hand with reslab's model, (c) by hand with the reference")
    print(f"{'model':<10}{'input':<13}{'(a)':>8}{'(b)':>8}{'(c)':>8}{'a/c':>8}{'a/b':>8}{'b/c':>8}")
    runs: dict[str, Callable[[Case, DataBundle, int, int], float]] = {
        "fit": reslab_rate,
        "hand": lambda *a: by_hand_rate(*a, reference=False),
        "reference": lambda *a: by_hand_rate(*a, reference=True),
    }
    for case in (c for c in CASES if c.name in args.models):
        data = random_images(case.batch * (args.warmup + steps), case.side)
        rates: dict[str, list[float]] = {label: [] for label in runs}
        for r in range(reps):
            order = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for label in order:
                torch.manual_seed(r)
                rates[label].append(runs[label](case, data, args.warmup, steps))
        a, b, c = (statistics.median(rates[label]) for label in runs)
        shape = f"{case.batch}x3x{case.side}x{case.side}"
        print(f"{case.name:<10}{shape:<13}{a:>8.1f}{b:>8.1f}{c:>8.1f}{a / c:>8.3f}{a / b:>8.3f}"
              f"{b / c:>8.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
