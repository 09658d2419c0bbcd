from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_degradation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved degradation run on tiny settings: plain/residual depth 8 and 14, 2 seeds, and a
    cost task per depth."""
    from reslab.experiments.degradation import DegradationConfig
    from reslab.experiments.driver import execute
    from reslab.experiments.registry import get_experiment

    config = DegradationConfig(
        data="synthetic1d", depths=(8, 14), seeds=2, epochs=2, workers=1, cost_steps=1
    )
    run_dir = tmp_path_factory.mktemp("degradation") / "run"
    execute(get_experiment("degradation"), config, out=run_dir)
    return run_dir
