"""Training 1000-layer nets (He et al. 2016, "Identity Mappings in Deep Residual Networks",
Table 3 and Figure 6; He et al. 2015, 4.2, ResNet-1202).

The original (post-activation) ResNet gets harder to optimise past a few hundred layers: on
CIFAR-10 the 1001-layer net ends at 7.61% test error, worse than its 164-layer sibling, while the
pre-activation 1001-layer net reaches 4.92%. We train both kinds at increasing depth with one
recipe and report final training and test error, parameters, peak memory and wall time per run.
The deepest nets train with gradient checkpointing, whose cost in time and saving in memory are
measured, not assumed.
"""

from __future__ import annotations

from reslab.experiments.depth.config import (
    BLOCKS,
    KIND_LABEL,
    KINDS,
    PRESETS,
    SHORTCUT,
    DepthConfig,
    Kind,
    check,
    train_config,
    uses_checkpointing,
)
from reslab.experiments.depth.experiment import make_tasks, run
from reslab.experiments.depth.records import DepthResult, RunRecord, Verdict
from reslab.experiments.depth.train import build_model, train_one
from reslab.experiments.depth.verdict import PAPER_TEST_ERR, judge, summarize

__all__ = [
    "BLOCKS",
    "KINDS",
    "KIND_LABEL",
    "PAPER_TEST_ERR",
    "PRESETS",
    "SHORTCUT",
    "DepthConfig",
    "DepthResult",
    "Kind",
    "RunRecord",
    "Verdict",
    "build_model",
    "check",
    "judge",
    "make_tasks",
    "run",
    "summarize",
    "train_config",
    "train_one",
    "uses_checkpointing",
]
