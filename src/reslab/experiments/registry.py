"""The experiments by name: the one list the CLI, the reports, the docs and the tests iterate.

An experiment registers itself when its module is imported (``register(Experiment(...))``, as
timm's ``@register_model`` does); ``list_experiments`` imports every module of this package once,
so a new experiment is found without being listed anywhere else.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import Any

from reslab.experiments.jsonable import read_json
from reslab.experiments.result import RESULTS_FILE, Result
from reslab.experiments.spec import Experiment

_EXPERIMENTS: dict[str, Experiment[Any, Any, Any]] = {}


def register(experiment: Experiment[Any, Any, Any]) -> Experiment[Any, Any, Any]:
    known = _EXPERIMENTS.get(experiment.name)
    if known is not None and known.run_task is not experiment.run_task:
        raise ValueError(f"an experiment named {experiment.name!r} is already registered")
    for needed in ("quick", "paper"):
        if needed not in experiment.presets:
            raise ValueError(f"experiment {experiment.name!r} has no {needed!r} preset")
    _EXPERIMENTS[experiment.name] = experiment
    return experiment


@functools.cache
def _discover() -> None:
    import reslab.experiments as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def list_experiments() -> list[Experiment[Any, Any, Any]]:
    _discover()
    return [_EXPERIMENTS[name] for name in sorted(_EXPERIMENTS)]


def get_experiment(name: str) -> Experiment[Any, Any, Any]:
    _discover()
    try:
        return _EXPERIMENTS[name]
    except KeyError:
        accepted = ", ".join(sorted(_EXPERIMENTS))
        raise ValueError(f"experiment={name!r} is unknown; accepted: {accepted}") from None


def load_result(run_dir: Path | str) -> Result[Any, Any]:
    """The saved result in ``run_dir``, read back with the types of the experiment it names."""
    data = read_json(Path(run_dir) / RESULTS_FILE)
    return Result.from_json(data, get_experiment(data.get("experiment", "")))
