"""Small, fast ingredients shared by the training tests."""

from __future__ import annotations

from torch import nn

from reslab.models import create_model
from reslab.training import TrainConfig, apply_overrides, load_recipe, validate


def seq_model(depth: int = 20, **kwargs: object) -> nn.Module:
    """A CIFAR ResNet built for (N, 1, 40) sequences, as synthetic1d / mnist1d hold."""
    return create_model(f"resnet{depth}", dims=1, in_channels=1, num_classes=10, **kwargs)


def tiny_config(*overrides: str, recipe: str = "mnist1d") -> TrainConfig:
    """A recipe cut to 6 steps of batch 32, logged every 2 steps, no periodic checkpoints."""
    base = [
        "train.epochs=null", "train.steps=6", "data.batch_size=32", "data.eval_batch_size=256",
        "train.log_every=2", "train.checkpoint_every=0",
    ]  # fmt: skip
    return validate(apply_overrides(load_recipe(recipe), [*base, *overrides]))
