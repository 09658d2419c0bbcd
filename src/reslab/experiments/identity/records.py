"""What an identity run records: each variant's step-0 and continued losses, the verdict, and the
saved result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reslab.experiments.common import ExperimentResult
from reslab.experiments.identity.config import IdentityConfig
from reslab.experiments.identity.deepen import Variant


@dataclass
class VariantRecord:
    variant: Variant
    seed: int
    max_abs_diff: float  # max |logit change| vs the trained shallow net, test split, eval mode
    eval_loss0: float  # cross-entropy on the whole training split, eval mode, before any step
    train_loss0: float  # training loss of the first continued step (train mode, first batch)
    steps: list[int]
    train_loss: list[float]  # training loss of each continued step
    final_train_loss: float  # whole training split, eval mode
    final_train_err: float  # %
    final_test_err: float  # %
    status: str


@dataclass
class IdentityVerdict:
    identity_exact: bool  # residual insertion: max |logit change| <= IDENTITY_TOL, every seed
    no_harm: bool  # residual insertion: step-0 losses never above the shallow net's
    plain_changes: bool  # He-initialised plain insertion changes the outputs, every seed
    residual_max_diff: float
    plain_max_diff: float
    text: str


@dataclass
class IdentityResult(ExperimentResult):
    experiment = "identity"
    config: IdentityConfig
    provenance: dict[str, Any]
    inserted_blocks: int = 0
    shallow_test_err: list[float] = field(default_factory=list)  # % per seed, after training
    variants: list[VariantRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: IdentityVerdict | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f"{v.variant}_seed{v.seed}_loss": np.array([v.steps, v.train_loss], dtype=float)
            for v in self.variants
        }

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        scalars = [
            {k: x for k, x in vars(v).items() if not isinstance(x, list)} for v in self.variants
        ]
        return {"summary": self.summary, "variants": scalars}
