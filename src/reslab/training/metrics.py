"""Per-step and per-epoch metrics to ``metrics.jsonl`` and TensorBoard event files (``tb/``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from reslab.io import atomic_write


class MetricsLog:
    """One JSON object per line: ``{"kind": "step" | "epoch", "step": ..., ...}``.

    On resume, the lines written after the checkpoint are dropped first (they will be logged
    again) and TensorBoard purges its events past the checkpoint's step, so both read as one
    uninterrupted run. ``lines`` is what a checkpoint records.
    """

    def __init__(self, path: Path, tb_dir: Path, resume: tuple[int, int] | None = None) -> None:
        """``resume``: (step, lines) of the checkpoint being resumed."""
        # TensorBoard's import costs about a second: only runs that write files pay for it.
        from torch.utils.tensorboard import SummaryWriter

        self.path = path
        self.lines = 0
        if resume is not None:
            self.lines = _keep_first(path, resume[1])
        elif path.exists():
            path.unlink()
        purge = resume[0] + 1 if resume is not None else None
        self.writer = SummaryWriter(str(tb_dir), purge_step=purge)
        self.file = path.open("a")

    def log(self, kind: str, entry: dict[str, Any]) -> None:
        row = {"kind": kind, **{k: _clean(v) for k, v in entry.items()}}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        self.lines += 1
        prefix = "train" if kind == "step" else "epoch"
        for key, value in entry.items():
            if (
                key not in ("step", "epoch")
                and isinstance(value, (int, float))
                and value is not None
            ):
                self.writer.add_scalar(f"{prefix}/{key}", value, entry["step"])

    def close(self) -> None:
        self.file.close()
        self.writer.close()


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _keep_first(path: Path, count: int) -> int:
    lines = path.read_text().splitlines(keepends=True)[:count] if path.exists() else []
    atomic_write(path, "".join(lines).encode())
    return len(lines)
