"""What every experiment shares: provenance, seed statistics and saving results as data."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.training.env import environment


def provenance(
    device: torch.device | str = "cpu", seeds: list[int] | None = None
) -> dict[str, Any]:
    """Versions, device, git commit and seeds: what every result records beside its numbers."""
    env = environment(torch.device(device), seed=seeds[0] if seeds else 0)
    env.pop("seed")
    return {
        **env,
        "numpy": np.__version__,
        "seeds": seeds,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def mean_std(values: Any) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(data), indent=2, allow_nan=False))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def default_run_dir(experiment: str, root: Path | str = "runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{experiment}-{stamp}"
    suffix = 1
    while path.exists():  # two runs in the same second must not share a directory
        suffix += 1
        path = Path(root) / f"{experiment}-{stamp}-{suffix}"
    return path


def check_writable(run_dir: Path) -> Path:
    """Fail before any computation if results could not be saved."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"output directory {str(run_dir)!r} is not writable: {err.strerror}"
        ) from None
    return run_dir


class ExperimentResult:
    """Base for experiment results: dataclass fields go to results.json, arrays to raw.npz.

    Subclasses are dataclasses with an ``experiment`` class attribute; they override ``arrays()``
    for bulky numeric data and ``tables()`` for CSV files a spreadsheet can open.
    """

    experiment: str = ""

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {}

    def save(self, run_dir: Path | str) -> Path:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        data = {"experiment": self.experiment, **to_jsonable(self)}
        write_json(run_dir / "config.json", data.get("config", {}))
        if arrays := self.arrays():
            tmp = run_dir / "raw.tmp.npz"
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, run_dir / "raw.npz")
        for name, rows in self.tables().items():
            _write_csv(run_dir / f"{name}.csv", rows)
        write_json(run_dir / "results.json", data)  # last: its presence marks a complete run
        return run_dir


def load_arrays(run_dir: Path | str) -> dict[str, np.ndarray]:
    path = Path(run_dir) / "raw.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as npz:  # never unpickle: plain arrays only
        return {k: npz[k] for k in npz.files}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    if not rows:
        return
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(to_jsonable(rows))
    os.replace(tmp, path)


def final_err_pct(result: Any, key: str, num_classes: int) -> float:
    """``result.final[key]`` of a ``TrainResult`` in percent; a diverged run counts at chance
    level (it has learned nothing), not as missing."""
    value = result.final.get(key)
    if result.status == "diverged" or value is None or not np.isfinite(value):
        return 100 * (1 - 1 / num_classes)
    return 100 * value
