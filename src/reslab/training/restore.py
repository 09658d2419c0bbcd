"""Models back from checkpoints: ``evaluate_checkpoint`` for ``reslab eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.data import DataBundle, load_data
from reslab.training.api import build_model
from reslab.training.checkpoint import load_model_state, read_checkpoint
from reslab.training.config import DataConfig, ModelConfig
from reslab.training.errors import CheckpointError
from reslab.training.evaluate import evaluate
from reslab.training.precision import resolve_device
from reslab.training.prepare import check_compatible, eval_loader
from reslab.training.rundir import RunDir


def checkpoint_path(run_dir_or_checkpoint: str | Path) -> Path:
    """A checkpoint file as given, or a run directory's ``checkpoints/latest.safetensors``."""
    path = Path(run_dir_or_checkpoint)
    return RunDir(path).latest if path.is_dir() else path


def _model_from(
    tensors: dict[str, torch.Tensor], state: dict[str, Any], path: Path, data: DataBundle
) -> nn.Module:
    name = state.get("model")
    if not isinstance(name, str):
        raise CheckpointError(f"{path} does not name the model it holds")
    saved = state.get("config", {}).get("model", {})
    model = build_model(
        ModelConfig(name=name, zero_init_residual=saved.get("zero_init_residual")), data
    )
    load_model_state(model, tensors, path)
    check_compatible(model, data)
    return model


def evaluate_checkpoint(
    path: str | Path,
    data_name: str | None = None,
    *,
    split: str = "test",
    data_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    batch_size: int = 1000,
) -> dict[str, float]:
    """``evaluate`` a saved model on a split; ``data_name`` defaults to the data it trained on."""
    path = checkpoint_path(path)
    tensors, state = read_checkpoint(path)
    config = state.get("config", {})
    name = data_name or config.get("data", {}).get("name")
    if not name:
        raise CheckpointError(f"{path} does not record its dataset; pass the data name")
    val_size = config.get("data", {}).get("val_size", 0) if split == "val" else 0
    data = load_data(name, data_dir=data_dir, val_size=val_size,
                     seed=config.get("train", {}).get("seed", 0))  # fmt: skip
    dev = resolve_device(device)
    model = _model_from(tensors, state, path, data).to(dev)
    loader = eval_loader(data, split, DataConfig(eval_batch_size=batch_size), dev)
    return evaluate(model, loader, device=dev, precision=precision)
