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


class _Under:
    """A path under the run directory's root, read as an attribute of the ``RunDir``."""

    def __init__(self, relative: str) -> None:
        self.relative = relative

    def __get__(self, run: RunDir | None, owner: type[RunDir]) -> Path:
        if run is None:  # looked up on the class (help(), introspection): the relative path
            return Path(self.relative)
        return run.root / self.relative


@dataclass(frozen=True)
class RunDir:
    root: Path
    config = _Under("config.yaml")
    env = _Under("env.json")
    metrics = _Under("metrics.jsonl")
    tensorboard = _Under("tb")
    checkpoints = _Under("checkpoints")
    latest = _Under("checkpoints/latest.safetensors")
    best = _Under("checkpoints/best.safetensors")
    summary = _Under("summary.json")


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
