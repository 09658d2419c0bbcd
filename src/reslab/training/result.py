"""``TrainResult``: what a run measured, as plain data (``summary.json`` in a run directory)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from reslab.io import atomic_write

Status = Literal["completed", "diverged"]


@dataclass
class TrainResult:
    # Per log interval: step, epoch (fractional), lr, train_loss, train_err, img_s.
    history: list[dict[str, Any]] = field(default_factory=list)
    # Per epoch: epoch, step, train_loss, train_err, test_loss, test_err (val_* with a val split),
    # time (seconds since the start of training).
    epochs: list[dict[str, Any]] = field(default_factory=list)
    # test_loss/err, val_*, and train_loss/err over the whole train split in eval mode.
    final: dict[str, float] = field(default_factory=dict)
    status: Status = "completed"
    diverged_step: int | None = None  # first step (1-based) whose training loss was not finite
    wall_s: float = 0.0
    steps: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite floats (a diverged loss) become null."""
        return _finite(asdict(self))

    def save(self, path: str | Path) -> None:
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        atomic_write(Path(path), text.encode())

    @classmethod
    def load(cls, path: str | Path) -> TrainResult:
        return cls(**json.loads(Path(path).read_text()))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
