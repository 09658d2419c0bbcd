"""Time for ResNet-20 to reach 91.25% CIFAR-10 test accuracy (He et al. 2015, Table 6: 8.75%
error) with the ``fast`` recipe, over several trials (airbench-style: device, torch version and
trial count in the header; mean ± std; timing covers training steps only, not setup, data loading
into memory or the per-epoch test evaluations).

    .venv/bin/python benchmarks/time_to_accuracy.py --data cifar10 --data-dir ~/datasets
    .venv/bin/python benchmarks/time_to_accuracy.py \\
        --data imagefolder:/work/shared/data/cifar10-subset --epochs 10 --trials 1

A run that never reaches the target reports its best test accuracy instead.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass

import torch

from reslab.data import DataBundle, load_data
from reslab.experiments.common import mean_std
from reslab.training import Callback, StepState, build_model, fit, resolve_config
from reslab.training.env import device_name
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything


class Reached(Exception):
    """Raised by the tracker to end a trial as soon as it reaches the target."""


@dataclass
class Trial:
    best_acc: float = 0.0
    epochs: int | None = None  # epochs to the target
    seconds: float | None = None  # training seconds to the target
    images: int = 0  # images trained on, to the target or to the end
    train_seconds: float = 0.0


class Tracker(Callback):
    """Training time = wall time of the steps; each epoch's evaluation is cut out."""

    def __init__(self, target: float, batch: int, stop: bool) -> None:
        self.target, self.batch, self.stop = target, batch, stop
        self.trial = Trial()
        self.start = self.last = self.excluded = 0.0

    def on_train_start(self, state: StepState) -> None:
        self.start = self.last = time.perf_counter()

    def on_step_end(self, state: StepState) -> None:
        self.last = time.perf_counter()
        self.trial.images = state.step * self.batch
        self.trial.train_seconds = self.last - self.start - self.excluded

    def on_epoch_end(self, state: StepState, metrics: dict) -> None:
        self.excluded += time.perf_counter() - self.last  # this epoch's evaluation
        acc = 1.0 - metrics.get("test_err", 1.0)
        self.trial.best_acc = max(self.trial.best_acc, acc)
        if acc >= self.target and self.trial.epochs is None:
            self.trial.epochs, self.trial.seconds = metrics["epoch"], self.trial.train_seconds
            if self.stop:
                raise Reached


def run_trial(args: argparse.Namespace, seed: int, device: torch.device, data: DataBundle) -> Trial:
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    config = resolve_config(
        "fast", model_name="resnet20", data_name=args.data, overrides=args.set or (),
        epochs=args.epochs, seed=seed, precision=precision,
    )  # fmt: skip
    seed_everything(seed)
    model = build_model(config.model, data)
    tracker = Tracker(args.target, config.data.batch_size, stop=not args.full)
    with contextlib.suppress(Reached):
        fit(model, data, config, device=device, callbacks=[tracker])
    return tracker.trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar10", help="cifar10, or imagefolder:PATH")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.9125)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's 40")
    parser.add_argument("--set", action="append", help="recipe override, e.g. optim.lr=0.2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default=None, help="default: bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch default)")
    parser.add_argument("--full", action="store_true", help="train every epoch, past the target")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}; {args.trials} trial(s); "
          f"ResNet-20, recipe fast, data {args.data}; target {100 * args.target:.2f}%")  # fmt: skip
    data = load_data(args.data, data_dir=args.data_dir)  # once: not part of any trial's time
    trials = []
    for seed in range(args.trials):
        t = run_trial(args, seed, device, data)
        trials.append(t)
        rate = t.images / t.train_seconds if t.train_seconds else float("nan")
        reached = (f"reached in {t.epochs} epochs, {t.seconds:.1f} s"
                   if t.epochs is not None else "target not reached")  # fmt: skip
        print(f"trial {seed}: {reached}; best test accuracy {100 * t.best_acc:.2f}%; "
              f"{rate:.0f} img/s over {t.train_seconds:.1f} s of training", flush=True)  # fmt: skip
    hits = [t for t in trials if t.epochs is not None]
    acc_mean, acc_std = mean_std([100 * t.best_acc for t in trials])
    print(f"best test accuracy: {acc_mean:.2f} ± {acc_std:.2f}% over {len(trials)} trial(s)")
    if hits:
        s_mean, s_std = mean_std([t.seconds for t in hits])
        e_mean, e_std = mean_std([t.epochs for t in hits])
        print(
            f"time to {100 * args.target:.2f}%: {s_mean:.1f} ± {s_std:.1f} s, "
            f"{e_mean:.1f} ± {e_std:.1f} epochs ({len(hits)}/{len(trials)} trials reached it)"
        )
    else:
        print(f"no trial reached {100 * args.target:.2f}%")


if __name__ == "__main__":
    main()
