"""What a lesion run trains and deletes, with the two presets (minutes on a CPU; the paper's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reslab.experiments.lesion.lesions import same_shape_blocks
from reslab.experiments.setup import (
    pick_preset,
    recipe_config,
    require_at_least_one,
    require_residual_shortcut,
)
from reslab.models import cifar_resnet
from reslab.models.cifar import blocks_per_stage
from reslab.training.config import TrainConfig, validate
from reslab.training.precision import resolve_device

Kind = Literal["plain", "residual"]
KINDS: tuple[Kind, ...] = ("residual", "plain")


@dataclass
class LesionConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depth: int = 56
    block: str = "basic"
    shortcut: str = "A"  # the residual net's; its twin has "none"
    seeds: int = 2
    draws: int = 5  # random sets of blocks per k (and per seed)
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = 10
    steps: int | None = None
    batch_size: int = 128
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    log_every: int = 10

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> LesionConfig:
        return pick_preset(PRESETS, name, changes)


PRESETS: dict[str, LesionConfig] = {
    # Minutes on 2 CPU cores: 1-D ResNet-56 (27 blocks) on MNIST-1D with the mnist1d recipe
    # (10 epochs; at 6, ResNet-56 still had 10-20% test error).
    "quick": LesionConfig(),
    # Veit et al. 2016, 4.1: a 110-layer (54-block) pre-activation ResNet on CIFAR-10, trained as
    # He et al. 2016 do (64k iterations); projection shortcuts where the shape changes.
    "paper": LesionConfig(
        data="cifar10", depth=110, block="preact_basic", shortcut="B", preset="paper",
        recipe="preact", epochs=None, steps=64000, log_every=100,
    ),
}  # fmt: skip


def train_config(config: LesionConfig, seed: int) -> TrainConfig:
    return recipe_config(config, seed, ("train.checkpoint_every", 0))


def check(config: LesionConfig) -> None:
    """Every error a config can hold, raised before any data is loaded or net trained."""
    blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    require_at_least_one(config, "seeds", "draws")
    require_residual_shortcut(config.shortcut)
    net = cifar_resnet(config.depth, block=config.block, shortcut=config.shortcut)
    if not same_shape_blocks(net):
        raise ValueError(
            f"depth={config.depth} with {config.block} blocks has no same-shape block to delete; "
            "accepted: a depth with at least two blocks per stage"
        )
    resolve_device(config.device)  # ConfigError for an unknown device
    validate(train_config(config, 0))  # ConfigError for a bad recipe or override
