"""What the experiments share in their measurements: provenance, seed statistics, run records as
CSV rows and curves."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import field
from typing import Any, Literal

import numpy as np
import torch

from reslab.experiments.protocol import chance_err
from reslab.experiments.spec import C, Task
from reslab.experiments.stats import Comparison, Threshold, compare
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


def direction(
    values: Sequence[float], reference: Sequence[float], threshold: Threshold
) -> tuple[Comparison, str]:
    """``values`` against ``reference`` (per-seed, e.g. test error in points) by
    ``stats.compare``: "worse" (higher beyond the threshold), "better" (lower beyond it), else
    "tied"; with the comparison of ``values`` over ``reference``."""
    higher = compare(values, reference, threshold=threshold)
    if higher.outcome == "reproduced":
        return higher, "worse"
    lower = compare(reference, values, threshold=threshold)
    return higher, "better" if lower.outcome == "reproduced" else "tied"


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


# The plain net and its residual twin that degradation, landscape and lesion compare. Option A
# shortcuts add no parameters (He et al. 2015, 4.2): the twins differ in the shortcuts alone, so
# their parameters also have the same shapes (landscape draws the same directions for both).
Kind = Literal["plain", "residual"]
KINDS: tuple[Kind, ...] = ("plain", "residual")
SHORTCUT: dict[Kind, str] = {"plain": "none", "residual": "A"}


class SeedTask(Task[C]):
    """Everything one seed measures, in one task (a net trained once, then measured many ways).
    The seed is a keyword at every call: it is an int beside other ints (a depth, a batch)."""

    KEY = "seed{seed}"
    seed: int = field(kw_only=True)


class KindTask(SeedTask[C]):
    """One net of ``kind`` (at the experiment's one depth) trained and measured from ``seed``."""

    KEY = "{kind}_seed{seed}"
    kind: str


class RunTask(KindTask[C]):
    """One net of ``kind`` and ``depth`` trained (or measured) from ``seed``."""

    KEY = "{kind}{depth}_seed{seed}"
    depth: int


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
