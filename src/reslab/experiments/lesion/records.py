"""What a lesion run records: each trained net's errors, the verdict, and the saved result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reslab.experiments.common import ExperimentResult, scalar_rows
from reslab.experiments.lesion.config import Kind, LesionConfig


@dataclass
class LesionRecord:
    kind: Kind
    seed: int
    baseline_err: float  # test error (%) of the intact net
    train_err: float  # final training error (%), whole split, eval mode
    single_err: list[float | None]  # test error (%) with block i deleted; None: cannot delete
    random_err: list[list[float]]  # [k - 1][draw]: test error (%) with k random blocks deleted
    status: str
    wall_s: float


@dataclass
class LesionVerdict:
    ensemble_like: bool  # residual: typical deletion tolerated, and less damaging than plain's
    plain_collapses: bool  # plain: a typical deletion goes most of the way to chance
    residual_median_rise: float  # percentage points over the intact net, mean over seeds
    residual_max_rise: float
    worst_block: int  # the residual block whose deletion hurts most (0-based)
    residual_median_damage: float  # fraction of the way from the intact error to chance
    plain_median_rise: float
    plain_median_damage: float
    plain_near_chance: int  # single plain deletions within NEAR_CHANCE points of chance
    candidates: int  # deletable same-shape blocks
    downsampling_rise: float  # residual net, mean over its shape-changing blocks
    text: str


@dataclass
class LesionResult(ExperimentResult):
    experiment = "lesion"
    config: LesionConfig
    provenance: dict[str, Any]
    downsampling: list[bool] = field(default_factory=list)  # per block: changes shape
    stage_of: list[int] = field(default_factory=list)  # per block: its stage (1-based)
    candidates: list[int] = field(default_factory=list)  # blocks drawn from for k deletions
    chance_err: float = 90.0
    runs: list[LesionRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: LesionVerdict | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for r in self.runs:
            key = f"{r.kind}_seed{r.seed}"
            single = [math.nan if e is None else e for e in r.single_err]
            out[f"{key}_single"] = np.array(single, dtype=float)
            out[f"{key}_random"] = np.array(r.random_err, dtype=float)
            out[f"{key}_baseline"] = np.array([r.baseline_err])
        return out

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {"blocks": self.summary, "runs": scalar_rows(self.runs)}
