"""What a gradients run records: each net's per-block norm profiles, the verdict, and the saved
result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reslab.experiments.common import ExperimentResult
from reslab.experiments.gradients.config import FLAT, GradientsConfig, Kind


@dataclass
class GradientRecord:
    kind: Kind
    depth: int
    seed: int
    # "<part>_<phase>" -> one value per block (model.blocks order), mean over the measurement
    # batches; parts: PARTS. Phases not measured (a net measured at init only) are absent.
    profiles: dict[str, list[float]] = field(default_factory=dict)
    status: str = "init-only"  # or fit's status: "completed" | "diverged"
    diverged_step: int | None = None
    train_loss: float | None = None  # last logged training loss
    test_err: float | None = None  # % after training
    wall_s: float = 0.0

    def profile(self, part: str, phase: str) -> np.ndarray:
        return np.asarray(self.profiles.get(f"{part}_{phase}", []), dtype=float)


@dataclass
class Verdict:
    highway_holds: bool  # residual and pre-activation: no vanishing, no exponential law, at init
    plain_breaks: bool  # plain at init: exponential in depth, vanishing, or overflowing
    text: str
    laws: dict[str, dict[str, str]] = field(default_factory=dict)  # phase -> kind -> growth_law
    flat: float = FLAT  # the band used, kept with the run


@dataclass
class GradientsResult(ExperimentResult):
    experiment = "gradients"
    config: GradientsConfig
    provenance: dict[str, Any]
    records: list[GradientRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f"{r.kind}{r.depth}_seed{r.seed}_{name}": np.asarray(values, dtype=float)
            for r in self.records for name, values in r.profiles.items()
        }  # fmt: skip

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        runs = [{k: v for k, v in vars(r).items() if k != "profiles"} for r in self.records]
        return {"summary": self.summary, "runs": runs}
