"""Lesion study (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks", section 4, Figures 3 and 5).

A residual net and its plain twin are trained with one recipe; then, at test time only, residual
blocks are deleted and the test error measured: each block alone (their Fig. 3), and k random
blocks at once for k = 1..n (their Fig. 5). Deleted downsampling blocks are reported separately,
as Veit et al. do. ``lesions.py`` says what deleting a block means for each kind of block.
"""

from __future__ import annotations

from reslab.experiments.lesion.config import (
    KINDS,
    PRESETS,
    Kind,
    LesionConfig,
    check,
    train_config,
)
from reslab.experiments.lesion.experiment import run
from reslab.experiments.lesion.lesions import (
    lesionable,
    lesioned,
    random_lesions,
    same_shape_blocks,
)
from reslab.experiments.lesion.records import LesionRecord, LesionResult, LesionVerdict
from reslab.experiments.lesion.train import build_net, measure_lesions, train_and_lesion
from reslab.experiments.lesion.verdict import (
    COLLAPSED,
    NEAR_CHANCE,
    TOLERATED,
    judge,
    summarize,
)

__all__ = [
    "COLLAPSED",
    "KINDS",
    "NEAR_CHANCE",
    "PRESETS",
    "TOLERATED",
    "Kind",
    "LesionConfig",
    "LesionRecord",
    "LesionResult",
    "LesionVerdict",
    "build_net",
    "check",
    "judge",
    "lesionable",
    "lesioned",
    "measure_lesions",
    "random_lesions",
    "run",
    "same_shape_blocks",
    "summarize",
    "train_and_lesion",
    "train_config",
]
