"""Hooks into the training loop for experiments (gradient statistics, early stops, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class StepState:
    """What a callback sees after each optimizer step. ``model`` is the bare model (not the DDP or
    compiled wrapper); ``loss`` is that step's training loss as a device tensor (reading it with
    ``.item()`` costs a host sync on a GPU)."""

    step: int  # updates done so far
    epoch: int
    lr: float
    loss: torch.Tensor
    model: nn.Module
    optimizer: torch.optim.Optimizer
    total_steps: int = 0  # updates the run will make (0 where the caller did not say)


class Callback:
    """Subclass and override what you need; raising stops training (the exception propagates,
    and the last checkpoint written stays resumable)."""

    def on_train_start(self, state: StepState) -> None:
        """After setup (and after restoring a checkpoint), before the first step."""
        return None

    def on_step_end(self, state: StepState) -> None:
        return None

    def on_epoch_end(self, state: StepState, metrics: dict[str, Any]) -> None:
        return None
