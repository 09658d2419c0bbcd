"""`build_report(run_dir)`: the one report of every experiment, with the experiment's figures.

The report is generic (``reporting.summary``): verdict banner, the experiment's figures, the
summary tables with the paper's numbers beside ours, the numbers the verdict used, provenance.
An experiment supplies only its figure function, in `reslab/reporting/<experiment>.py`:

    @register_figures("lesion")
    def figures(result: Result, report: Report, run_dir: Path) -> None: ...

imported on first use, so the registry does not import every experiment's plotting up front.
An experiment without one still gets the generic report.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reslab.experiments.registry import get_experiment
from reslab.experiments.result import RESULTS_FILE, Result
from reslab.reporting.html import Report

FigureFn = Callable[[Result[Any, Any], Report, Path], None]

REPORT_FILE = "report.html"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FIGURES: dict[str, FigureFn] = {}


class ReportError(ValueError):
    """A run directory cannot be turned into a report; the message says why and what to do."""


def register_figures(experiment: str) -> Callable[[FigureFn], FigureFn]:
    """Decorator: ``fn(result, report, run_dir)`` adds the figures of ``experiment``'s runs."""
    if not _NAME.match(experiment):
        raise ValueError(
            f"experiment name {experiment!r} is invalid; accepted: lower-case letters, digits "
            "and '_', starting with a letter"
        )

    def decorate(fn: FigureFn) -> FigureFn:
        if _FIGURES.get(experiment, fn) is not fn:
            raise ValueError(f"figures for experiment {experiment!r} are already registered")
        _FIGURES[experiment] = fn
        return fn

    return decorate


def get_figures(experiment: str) -> FigureFn | None:
    if experiment not in _FIGURES and _NAME.match(experiment):
        module = f"reslab.reporting.{experiment}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but one of its own imports is missing
                raise
    return _FIGURES.get(experiment)


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """The parsed results.json of a run, checked to name its experiment."""
    path = Path(run_dir) / RESULTS_FILE
    if not Path(run_dir).is_dir():
        raise ReportError(f"run directory {str(run_dir)!r} does not exist or is not a directory")
    if not path.is_file():
        raise ReportError(
            f"{str(path)!r} is missing: not a finished run (`reslab run NAME --out "
            f"{run_dir} --resume` finishes it)"
        )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(results, dict):
        raise ReportError(
            f"{str(path)!r} holds a JSON {type(results).__name__}; accepted: an object"
        )
    experiment = results.get("experiment")
    if not isinstance(experiment, str) or not experiment:
        raise ReportError(
            f"{str(path)!r} has experiment={experiment!r}; accepted: a non-empty string naming "
            f"the experiment, one of {', '.join(_experiment_names())}"
        )
    return results


def _experiment_names() -> list[str]:
    from reslab.experiments import list_experiments

    return [e.name for e in list_experiments()]


def build_report(run_dir: str | Path) -> Path:
    """Rebuild `run_dir/report.html` from the saved results; returns the path written."""
    from reslab.reporting.summary import experiment_report

    run_dir = Path(run_dir)
    if (run_dir / "probe.json").is_file() and not (run_dir / RESULTS_FILE).is_file():
        from reslab.reporting.probe import write_probe_report  # a `reslab probe` folder

        return write_probe_report(run_dir)
    results = load_results(run_dir)
    try:
        spec = get_experiment(results["experiment"])
    except ValueError as exc:  # names the experiment and the accepted ones
        raise ReportError(str(exc)) from None
    try:
        result = Result.from_json(results, spec)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"{str(run_dir / RESULTS_FILE)!r} cannot be read back: {exc}") from None
    report = experiment_report(result, run_dir, get_figures(spec.name))
    return report.write(run_dir / REPORT_FILE)
