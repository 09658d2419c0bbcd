"""Experiment name -> report builder, and `build_report(run_dir)` that dispatches on results.json.

An experiment's report lives in `reslab/reporting/<experiment>.py` and registers itself with
`@register_report("<experiment>")`; `build_report` imports that module on first use, so the
registry does not have to import every experiment up front.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reslab.reporting.html import Report

ReportBuilder = Callable[[Path], Report]

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"
# Modules of this package that are machinery, not experiment reports.
_CORE_MODULES = frozenset({"html", "figures", "registry", "index"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_REPORTS: dict[str, ReportBuilder] = {}


class ReportError(ValueError):
    """A run directory cannot be turned into a report; the message says why and what to do."""


def register_report(experiment: str) -> Callable[[ReportBuilder], ReportBuilder]:
    """Decorator: `fn(run_dir) -> Report` builds the report of runs of `experiment`."""
    if not _NAME.match(experiment) or experiment in _CORE_MODULES:
        raise ValueError(
            f"experiment name {experiment!r} is invalid; accepted: lower-case letters, digits "
            f"and '_', starting with a letter, not one of {sorted(_CORE_MODULES)}"
        )

    def decorate(fn: ReportBuilder) -> ReportBuilder:
        if _REPORTS.get(experiment, fn) is not fn:
            raise ValueError(f"a report for experiment {experiment!r} is already registered")
        _REPORTS[experiment] = fn
        return fn

    return decorate


def list_reports() -> list[str]:
    """Experiments with a report: those registered plus those whose module is not loaded yet."""
    import reslab.reporting as package

    modules = {
        m.name
        for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_") and m.name not in _CORE_MODULES
    }
    return sorted(modules | set(_REPORTS))


def get_report_builder(experiment: str) -> ReportBuilder:
    if experiment not in _REPORTS and _NAME.match(experiment):
        _import_report_module(experiment)
    try:
        return _REPORTS[experiment]
    except KeyError:
        raise ReportError(
            f"experiment={experiment!r} has no report; accepted: {', '.join(list_reports())}"
            " (an experiment adds one with @register_report, see docs/reporting.md)"
        ) from None


def _import_report_module(experiment: str) -> None:
    module = f"reslab.reporting.{experiment}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but one of its own imports is missing
            raise


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """The parsed results.json of a run, checked to name its experiment."""
    path = Path(run_dir) / RESULTS_FILE
    if not Path(run_dir).is_dir():
        raise ReportError(f"run directory {str(run_dir)!r} does not exist or is not a directory")
    if not path.is_file():
        raise ReportError(
            f"{str(path)!r} is missing: not a finished run (an experiment's Result.save writes it)"
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
            f"the experiment, one of {', '.join(list_reports()) or '(none registered)'}"
        )
    return results


def build_report(run_dir: str | Path) -> Path:
    """Rebuild `run_dir/report.html` from the saved results; returns the path written."""
    run_dir = Path(run_dir)
    experiment = load_results(run_dir)["experiment"]
    report = get_report_builder(experiment)(run_dir)
    if not isinstance(report, Report):
        raise ReportError(
            f"the report builder of {experiment!r} returned {type(report).__name__}; "
            "accepted: reslab.reporting.Report"
        )
    return report.write(run_dir / REPORT_FILE)
