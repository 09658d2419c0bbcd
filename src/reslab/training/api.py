"""``train("resnet20", "mnist1d", recipe="mnist1d")``: resolve the config, load the data, build the
model to fit it, and ``fit``. The CLI's ``reslab train`` is a thin layer over this."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from reslab.data import DataBundle, load_data
from reslab.models import create_model, get_entry
from reslab.training.callbacks import Callback
from reslab.training.config import ModelConfig, TrainConfig, validate
from reslab.training.overrides import apply_overrides, set_field
from reslab.training.recipes import load_recipe
from reslab.training.result import TrainResult
from reslab.training.rng import seed_everything
from reslab.training.trainer import fit


def resolve_config(
    recipe: str = "paper",
    *,
    model_name: str | None = None,
    data_name: str | None = None,
    overrides: Sequence[str] = (),
    epochs: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    precision: str | None = None,
    channels_last: bool | None = None,
    compile: bool | None = None,
    deterministic: bool | None = None,
    checkpoint_blocks: bool | None = None,
) -> TrainConfig:
    """The recipe, then ``overrides`` ("section.field=value"), then the explicit arguments (None
    leaves a field as the recipe set it). ``epochs``/``steps`` each clear the other."""
    explicit: dict[str, object] = {
        "model.name": model_name, "data.name": data_name, "train.seed": seed,
        "train.precision": precision, "train.channels_last": channels_last,
        "train.compile": compile, "train.deterministic": deterministic,
        "train.checkpoint_blocks": checkpoint_blocks,
    }  # fmt: skip
    config = apply_overrides(load_recipe(recipe), overrides)
    for key, value in explicit.items():
        if value is not None:
            config = set_field(config, key, value)
    if epochs is not None:
        config = set_field(set_field(config, "train.epochs", epochs), "train.steps", None)
    if steps is not None:
        config = set_field(set_field(config, "train.steps", steps), "train.epochs", None)
    return validate(config)


def build_model(config: ModelConfig, data: DataBundle) -> nn.Module:
    """The named model, built for the data's channels, classes and dimensionality (where the
    builder takes them; the compatibility check of ``fit`` catches the rest)."""
    accepted = get_entry(config.name).accepted_overrides
    fitted = {
        "num_classes": data.num_classes, "in_channels": data.in_channels, "dims": data.dims,
        # A language model is sized by its vocabulary and context instead.
        "vocab_size": data.num_classes, "block_size": data.input_size[0],
    }  # fmt: skip
    kwargs = {k: v for k, v in fitted.items() if k in accepted}
    kwargs.update(
        zero_init_residual=config.zero_init_residual,
        drop_path_rate=config.drop_path_rate,
        dropout=config.dropout,
    )
    return create_model(config.name, **kwargs)


def train(
    model_name: str | None = None,
    data_name: str | None = None,
    recipe: str = "paper",
    *,
    overrides: Sequence[str] = (),
    epochs: int | None = None,
    steps: int | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    seed: int | None = None,
    device: str | torch.device = "auto",
    precision: str | None = None,
    channels_last: bool | None = None,
    compile: bool | None = None,
    deterministic: bool | None = None,
    checkpoint_blocks: bool | None = None,
    quiet: bool = False,
    data_dir: str | Path | None = None,
    download: bool = False,
    callbacks: Sequence[Callback] | None = None,
) -> TrainResult:
    """Train a registered model on a named dataset. ``None`` keeps the recipe's choice. A progress
    bar is shown on an interactive terminal unless ``quiet``."""
    config = resolve_config(
        recipe, model_name=model_name, data_name=data_name, overrides=overrides, epochs=epochs,
        steps=steps, seed=seed, precision=precision, channels_last=channels_last,
        compile=compile, deterministic=deterministic, checkpoint_blocks=checkpoint_blocks,
    )  # fmt: skip
    data = load_data(
        config.data.name, data_dir=data_dir, download=download, val_size=config.data.val_size,
        seed=config.train.seed, block_size=config.data.block_size,
    )  # fmt: skip
    seed_everything(config.train.seed)  # the initial weights are a function of the seed
    model = build_model(config.model, data)
    progress = not quiet and sys.stderr.isatty()
    return fit(
        model, data, config, out_dir=out_dir, device=device, progress=progress, resume=resume,
        callbacks=callbacks,
    )  # fmt: skip
