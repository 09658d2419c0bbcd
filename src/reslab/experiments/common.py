"""What the experiments share in their measurements: provenance, seed statistics, run records as
CSV rows and curves."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from reslab.experiments.protocol import chance_err
from reslab.experiments.spec import Task
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


def gap_and_threshold(a: Any, b: Any) -> tuple[float, float]:
    """Mean of ``a`` minus mean of ``b`` (seeds' values, e.g. training error in points), and the
    size a gap must exceed to count: 1 point or twice its standard error over seeds, whichever is
    larger, so a single lucky or unlucky seed cannot decide a verdict."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(a.mean() - b.mean()), max(1.0, 2 * diff_standard_error(a, b))


def compare(errs: Sequence[float], reference: Sequence[float]) -> tuple[float, float, str]:
    """Test error of a variant minus the reference's (points), the gap that counts
    (``gap_and_threshold``), and the outcome: "worse", "tied" or "better"."""
    gap, threshold = gap_and_threshold(errs, reference)
    outcome = "worse" if gap > threshold else "better" if gap < -threshold else "tied"
    return gap, threshold, outcome


def diff_standard_error(a: Any, b: Any) -> float:
    """Standard error of mean(a) - mean(b), two independent groups of seeds (0 for one seed
    each: a single seed has no spread to estimate)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return math.sqrt(_sample_var(a) / len(a) + _sample_var(b) / len(b))


def _sample_var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if len(x) > 1 else 0.0


def finished(prov: dict[str, Any]) -> dict[str, Any]:
    """``prov`` (taken before the work) with when the work ended and its wall-clock seconds."""
    end = _dt.datetime.now(_dt.timezone.utc)
    start = _dt.datetime.fromisoformat(prov["started"])
    return {**prov, "finished": end.isoformat(timespec="seconds"),
            "wall_s": round((end - start).total_seconds())}  # fmt: skip


def mean_std(values: Any) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


@dataclass(frozen=True)
class RunTask(Task):
    """One net of ``kind`` and ``depth`` trained (or measured) from ``seed``."""

    KEY = "{kind}{depth}_seed{seed}"
    config: Any
    kind: str
    depth: int
    seed: int


@dataclass(frozen=True)
class KindTask(Task):
    """One net of ``kind`` (at the experiment's one depth) trained and measured from ``seed``."""

    KEY = "{kind}_seed{seed}"
    config: Any
    kind: str
    seed: int


@dataclass(frozen=True)
class SeedTask(Task):
    """Everything one seed measures, in one task (a net trained once, then measured many ways)."""

    KEY = "seed{seed}"
    config: Any
    seed: int


def run_curves(runs: list[Any], curves: dict[str, tuple[str, str]]) -> dict[str, np.ndarray]:
    """``<RunTask key>_<name>`` -> the (2, n) array of a run's (x, y) fields, for each
    ``name: (x field, y field)`` of ``curves``: the layout the reports read back."""
    out = {}
    for r in runs:
        for name, (x, y) in curves.items():
            xy = [getattr(r, x), getattr(r, y)]
            out[f"{RunTask.key_of(r)}_{name}"] = np.array(xy, dtype=float)
    return out


def final_err_pct(result: Any, key: str, num_classes: int) -> float:
    """``result.final[key]`` of a ``TrainResult`` in percent; a diverged run counts at chance
    level (it has learned nothing), not as missing."""
    value = result.final.get(key)
    if result.status == "diverged" or value is None or not np.isfinite(value):
        return chance_err(num_classes)
    return 100 * value
