"""The training engine: recipes, ``fit``/``train``/``evaluate``, checkpoints, run directories.

See docs/training.md for the run directory layout and the recipes' sources.
"""

from __future__ import annotations

from reslab.training.api import build_model, resolve_config, train
from reslab.training.callbacks import Callback, StepState
from reslab.training.checkpoint import read_checkpoint
from reslab.training.config import (
    DataConfig,
    LoopConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    validate,
)
from reslab.training.errors import CheckpointError, ConfigError
from reslab.training.evaluate import evaluate
from reslab.training.overrides import apply_overrides, config_from_dict, set_field
from reslab.training.recipes import RECIPES, load_recipe
from reslab.training.result import TrainResult
from reslab.training.schedule import lr_at
from reslab.training.trainer import fit

__all__ = [
    "RECIPES",
    "Callback",
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "LoopConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "StepState",
    "TrainConfig",
    "TrainResult",
    "apply_overrides",
    "build_model",
    "config_from_dict",
    "evaluate",
    "fit",
    "load_recipe",
    "lr_at",
    "read_checkpoint",
    "resolve_config",
    "set_field",
    "train",
    "validate",
]
