"""How the train-then-measure experiments set up a run, where they do it the same way: the data
(loaded once per process), the recipe a run trains with, a CIFAR-style net sized for the data,
and the config checks they share."""

from __future__ import annotations

import functools
from typing import Any, Protocol

from reslab.data import DataBundle, load_data
from reslab.models import cifar_resnet
from reslab.models.resnet import ResNet
from reslab.training import apply_overrides, load_recipe, set_field
from reslab.training.config import TrainConfig

RESIDUAL_SHORTCUTS = ("A", "B", "C")


@functools.lru_cache(maxsize=4)
def cached_data(name: str, data_dir: str | None) -> DataBundle:
    """The dataset, loaded once per process: a worker runs many tasks on the same data."""
    return load_data(name, data_dir=data_dir)


class RecipeSettings(Protocol):
    recipe: str
    data: str
    batch_size: int
    epochs: int | None
    steps: int | None
    log_every: int
    overrides: tuple[str, ...]


def recipe_config(config: RecipeSettings, seed: int, *extra: tuple[str, Any]) -> TrainConfig:
    """The experiment's recipe with its data, length, seed and logging, then ``extra`` fields;
    the user's overrides go last, so that they win over both."""
    cfg = load_recipe(config.recipe)
    for key, value in (
        ("data.name", config.data), ("data.batch_size", config.batch_size),
        ("train.epochs", config.epochs), ("train.steps", config.steps), ("train.seed", seed),
        ("train.log_every", config.log_every), *extra,
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return apply_overrides(cfg, config.overrides)


def net_for(bundle: DataBundle, depth: int, *, shortcut: str, block: str = "basic") -> ResNet:
    return cifar_resnet(
        depth, block=block, shortcut=shortcut, dims=bundle.dims,
        in_channels=bundle.in_channels, num_classes=bundle.num_classes,
    )  # fmt: skip


def chance_err(num_classes: int) -> float:
    """Test error (%) of a net that guesses: what a diverged run counts as."""
    return 100 * (1 - 1 / num_classes)


def require_at_least_one(config: object, *names: str) -> None:
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{name}={getattr(config, name)} must be >= 1")


def require_residual_shortcut(shortcut: str) -> None:
    if shortcut not in RESIDUAL_SHORTCUTS:
        accepted = ", ".join(RESIDUAL_SHORTCUTS)
        raise ValueError(f"shortcut={shortcut!r} has no residual net; accepted: {accepted}")
