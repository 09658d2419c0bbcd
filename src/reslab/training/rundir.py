"""The run directory (see docs/training.md) and the checks made on it before training starts."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reslab.io import atomic_write
from reslab.training.errors import ConfigError


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def env(self) -> Path:
        return self.root / "env.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.safetensors"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.safetensors"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def check_run_dir(out_dir: str | Path, resume: bool) -> RunDir:
    """Create ``out_dir`` and prove it writable; refuse to overwrite a run unless resuming it."""
    run = RunDir(Path(out_dir))
    try:
        run.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run.root):
            pass
    except OSError as err:
        raise ConfigError(f"out_dir={str(run.root)!r} is not writable: {err.strerror}") from None
    if resume and not run.latest.is_file():
        raise ConfigError(
            f"resume=True but {run.root} has no checkpoint to resume from ({run.latest} is missing)"
        )
    if not resume and run.config.exists():
        raise ConfigError(
            f"out_dir={str(run.root)!r} already holds a run; pass resume=True (--resume) to "
            "continue it, or choose another directory"
        )
    return run


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, yaml.safe_dump(data, sort_keys=False).encode())


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(data, indent=2).encode())
