"""``reslab.run_experiment``: the Python twin of ``reslab run NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.experiments.driver import Log, execute, make_config
from reslab.experiments.registry import get_experiment
from reslab.experiments.result import Result
from reslab.training.distributed import launched


def run_experiment(
    name: str,
    preset: str = "quick",
    out: Path | str | None = None,
    *,
    resume: bool = False,
    progress: bool = False,
    log: Log | None = None,
    **changes: Any,
) -> Result[Any, Any]:
    """Run experiment ``name`` from its ``preset`` with ``changes`` (config fields, e.g.
    ``seeds=2, depths=(20, 56)``). With ``out``, every finished run is kept there at once, the
    result is saved and report.html written; ``resume=True`` continues a run ``out`` holds."""
    config = make_config(name, preset, **changes)
    result = execute(get_experiment(name), config, out=out, resume=resume, progress=progress,
                     log=log)  # fmt: skip
    if out is not None and launched().is_main:
        from reslab.reporting import build_report

        build_report(out)
    return result
