"""Experiments: each claim of the papers as registered tasks, a summary and a computed verdict.

``list_experiments()`` / ``get_experiment(name)`` are the registry; ``reslab.run_experiment``
runs one and writes its report. ``spec`` says what an experiment is, ``driver`` how it runs.
"""

from reslab.experiments.registry import get_experiment, list_experiments, register
from reslab.experiments.result import Result
from reslab.experiments.spec import Experiment, ExperimentConfig, Verdict, option

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "Result",
    "Verdict",
    "get_experiment",
    "list_experiments",
    "option",
    "register",
]
