"""Experiments on a CUDA device: the same numbers flow through as on the CPU (skips without one)."""

from __future__ import annotations

import pytest
import torch

from reslab.experiments.degradation import EXPERIMENT, CostRecord, DegradationConfig, RunRecord
from reslab.experiments.driver import execute

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_degradation_runs_on_cuda_one_process() -> None:
    config = DegradationConfig(data="synthetic1d", depths=(8, 14), seeds=2, epochs=2)
    result = execute(EXPERIMENT, config)  # one process pinned to each visible GPU
    assert result.provenance["cuda"] and "cpu" not in result.provenance["device"]
    runs = [r for r in result.records if isinstance(r, RunRecord)]
    assert len(runs) == 8 and all(r.status == "completed" for r in runs)
    assert all(0 <= r.final_train_err <= 100 for r in runs)
    costs = [r for r in result.records if isinstance(r, CostRecord)]
    assert len(costs) == 2 and all(c.device.startswith("cuda") for c in costs)
    assert result.verdict.text
