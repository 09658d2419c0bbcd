"""A resumed run restores every record of a finished one and gives the same verdict without
running anything: one check for every registered experiment, on its tiny run. An experiment
with no tiny configuration in tests/experiments/tiny.py fails here."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from reslab.experiments.driver import execute
from reslab.experiments.registry import get_experiment, list_experiments, load_result


class NoRuns:
    """An executor that fails if asked to run anything: every record must be restored."""

    def run(self, fn: Any, tasks: Any, on_result: Any) -> None:
        assert not tasks, f"re-ran {list(tasks)}"


@pytest.mark.parametrize("name", [spec.name for spec in list_experiments()])
def test_resume_restores_every_record_and_the_verdict(name: str, tiny_run, tmp_path: Path) -> None:
    # A copy: resuming saves the result again, with a new provenance, and the run is shared.
    run_dir = Path(shutil.copytree(tiny_run(name), tmp_path / "run"))
    saved = load_result(run_dir)
    again = execute(get_experiment(name), tiny_run.config(name), out=run_dir, resume=True,
                    executor=NoRuns())  # fmt: skip
    assert saved.records and again.records == saved.records and again.verdict == saved.verdict
