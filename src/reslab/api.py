"""``reslab.run_experiment``: the Python twin of ``reslab run NAME``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reslab.experiments.driver import Log, execute, make_config
from reslab.experiments.registry import get_experiment
from reslab.experiments.result import Result
from reslab.experiments.spec import ExperimentConfig
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


def run_all(
    out: Path | str, *, preset: str = "quick", resume: bool = False, progress: bool = False,
    log: Log | None = None, configs: Mapping[str, ExperimentConfig] | None = None,
) -> dict[str, Result[Any, Any]]:
    """Every registered experiment's ``preset`` (or the config ``configs`` gives for it), one
    after another, each into ``out/<name>``, then the index page ``out/index.html``. Resumable:
    with ``resume=True`` an experiment whose results are saved is read back, and one that was
    cut short continues from its records."""
    from reslab.experiments.registry import list_experiments, load_result
    from reslab.experiments.result import RESULTS_FILE
    from reslab.reporting import build_report, write_index

    out, configs = Path(out), dict(configs or {})
    if out.exists() and any(out.iterdir()) and not resume:
        raise ValueError(
            f"out={str(out)!r} is not empty; give --resume (resume=True) to continue the runs "
            "it holds, or another output directory"
        )
    specs = list_experiments()
    bar = _bar(len(specs)) if progress else None
    results = {}
    try:
        for spec in specs:
            run_dir = out / spec.name
            if bar is not None:
                bar.set_postfix_str(spec.name)
            if resume and (run_dir / RESULTS_FILE).is_file():
                results[spec.name] = load_result(run_dir)
            else:
                config = configs.get(spec.name) or make_config(spec.name, preset)
                again = resume and run_dir.exists()
                results[spec.name] = execute(spec, config, out=run_dir, resume=again, log=log)
                build_report(run_dir)
            if log is not None:
                verdict = results[spec.name].verdict
                log(f"{verdict.symbol} {spec.name}: {verdict.text}")
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    write_index(out)
    return results


def _bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="experiments", unit="exp", dynamic_ncols=True)
