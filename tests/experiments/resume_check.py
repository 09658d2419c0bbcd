"""A resumed run restores every record of a finished one and gives the same result: the same
check for every experiment, on its own tiny run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.experiments.driver import execute
from reslab.experiments.registry import load_result


class NoRuns:
    """An executor that fails if asked to run anything: every record must be restored."""

    def run(self, fn: Any, tasks: Any, on_result: Any) -> None:
        assert not tasks, f"re-ran {list(tasks)}"


def assert_resume_restores_everything(spec: Any, config: Any, run_dir: Path) -> None:
    saved = load_result(run_dir)
    again = execute(spec, config, out=run_dir, resume=True, executor=NoRuns())
    assert again.records == saved.records and again.verdict == saved.verdict
