"""Small, fast ingredients shared by the training tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from torch import nn

from reslab.models import create_model
from reslab.training import (
    Callback,
    StepState,
    TrainConfig,
    apply_overrides,
    load_recipe,
    validate,
)


def seq_model(depth: int = 20, **kwargs: object) -> nn.Module:
    """A CIFAR ResNet built for (N, 1, 40) sequences, as synthetic1d / mnist1d hold."""
    return create_model(f"resnet{depth}", dims=1, in_channels=1, num_classes=10, **kwargs)


def tiny_config(*overrides: str, recipe: str = "mnist1d") -> TrainConfig:
    """A recipe cut to 6 steps of batch 32, logged every 2 steps, no periodic checkpoints."""
    base = [
        "train.epochs=null", "train.steps=6", "data.batch_size=32", "data.eval_batch_size=256",
        "train.log_every=2", "train.checkpoint_every=0",
    ]  # fmt: skip
    return validate(apply_overrides(load_recipe(recipe), [*base, *overrides]))


class Interrupt(Exception):
    """What ``StopAt`` raises: a run killed mid-way, for the resume tests."""


class StopAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state: StepState) -> None:
        if state.step == self.step:
            raise Interrupt


def torchrun(
    worker: Path | str, *args: str, cache: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``worker`` as two gloo ranks under torchrun, one thread each; fail with its stderr
    unless it succeeds (``check``), and return what it did."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if cache is not None:
        env["RESLAB_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(worker), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done
