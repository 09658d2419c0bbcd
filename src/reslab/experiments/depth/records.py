"""What a depth run records: each run's curves, errors, memory and time, the verdict, and the
saved result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reslab.experiments.common import ExperimentResult, run_curves, scalar_rows
from reslab.experiments.depth.config import DepthConfig, Kind


@dataclass
class RunRecord:
    kind: Kind
    depth: int
    seed: int
    params: int
    checkpointed: bool
    steps: list[int]  # iteration of each training point
    train_err: list[float]  # running training error (%) over the last log interval
    train_loss: list[float]
    epoch_steps: list[int]
    test_err: list[float]  # test error (%) after each epoch
    final_train_err: float  # %, whole training split, eval mode
    final_test_err: float
    status: str
    diverged_step: int | None
    wall_s: float  # training and evaluation, model construction excluded
    cpu_s: float  # CPU time of the process over the same span (all threads): on a shared
    # machine wall time also counts waiting for a core, CPU time does not
    base_mem_mb: float  # before the model was built (interpreter, torch, data)
    peak_mem_mb: float  # during the run: peak RSS on CPU, peak allocated on CUDA


@dataclass
class Verdict:
    depth: int  # the deepest net, where the two kinds are compared
    postact_train_err: float  # mean over seeds, %
    preact_train_err: float
    postact_test_err: float
    preact_test_err: float
    train_gap: float  # post-activation minus pre-activation, percentage points
    threshold: float  # a gap counts above this (1 point, or twice its standard error)
    preact_better: bool | None  # None: no difference beyond the threshold
    text: str


@dataclass
class DepthResult(ExperimentResult):
    experiment = "depth"
    config: DepthConfig
    provenance: dict[str, Any]
    memory: str = ""  # what peak_mem_mb measures on this device
    runs: list[RunRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {"summary": self.summary, "runs": scalar_rows(self.runs)}

    def arrays(self) -> dict[str, np.ndarray]:
        return run_curves(self.runs, {
            "train": ("steps", "train_err"), "loss": ("steps", "train_loss"),
            "test": ("epoch_steps", "test_err"),
        })  # fmt: skip
