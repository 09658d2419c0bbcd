"""Learning-rate schedules as pure functions of the step (as nanoGPT's ``get_lr``), plus the
error-triggered warm-up of He et al. 2015, whose small state lives in checkpoints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from reslab.training.config import ScheduleConfig


def lr_at(step: int, total: int, base_lr: float, schedule: ScheduleConfig) -> float:
    """The lr of update ``step`` (0-based) out of ``total``."""
    if step < schedule.low_lr_steps:
        return schedule.low_lr
    t = step / total
    if t < schedule.warmup:
        start = schedule.warmup_start
        return base_lr * (start + (1.0 - start) * t / schedule.warmup)
    if schedule.kind == "step":
        return base_lr * schedule.gamma ** sum(t >= m for m in schedule.milestones)
    if schedule.kind == "constant":
        return base_lr
    u = (t - schedule.warmup) / (1.0 - schedule.warmup)  # progress through the decay, in [0, 1)
    shape = 0.5 * (1.0 + math.cos(math.pi * u)) if schedule.kind == "cosine" else 1.0 - u
    return base_lr * (schedule.final_lr + (1.0 - schedule.final_lr) * shape)


def uses_error_warmup(schedule: ScheduleConfig, depth: int) -> bool:
    if schedule.error_warmup == "auto":
        # He et al. 2015 (4.2) found lr 0.1 "slightly too large to start converging" at 110 layers.
        return depth >= 110
    return schedule.error_warmup == "always"


@dataclass
class ErrorWarmup:
    """lr ``lr`` until the mean training error of the last ``window`` steps is below ``until``."""

    lr: float
    until: float
    window: int
    active: bool = True
    recent: list[float] = field(default_factory=list)

    def update(self, batch_err: float) -> None:
        if not self.active:
            return
        self.recent = [*self.recent, batch_err][-self.window :]
        if len(self.recent) == self.window and sum(self.recent) / self.window < self.until:
            self.active = False
            self.recent = []

    def state(self) -> dict[str, Any]:
        return {"active": self.active, "recent": list(self.recent)}

    def load(self, state: dict[str, Any]) -> None:
        self.active, self.recent = bool(state["active"]), [float(e) for e in state["recent"]]
