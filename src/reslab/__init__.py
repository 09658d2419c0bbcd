"""reslab: a residual-network laboratory."""

from typing import Any

from reslab.models import create_model, list_models, load_pretrained, model_info
from reslab.version import __version__

__all__ = [
    "__version__",
    "create_model",
    "list_models",
    "load_pretrained",
    "model_info",
    "run_experiment",
    "run_probe",
]


def __getattr__(name: str) -> Any:
    # The experiment layer pulls in training and reporting: loaded on first use, so that
    # ``import reslab`` for the model library stays light.
    if name == "run_experiment":
        from reslab.api import run_experiment

        return run_experiment
    if name == "run_probe":
        from reslab.probe_api import run_probe

        return run_probe
    raise AttributeError(f"module 'reslab' has no attribute {name!r}")
