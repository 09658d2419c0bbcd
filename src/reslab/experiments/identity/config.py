"""What an identity run trains and continues, with the two presets (minutes on a CPU; the
paper's), and the two training configs: the shallow net's and the continued runs'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reslab.experiments.setup import (
    pick_preset,
    recipe_config,
    require_at_least_one,
    require_residual_shortcut,
)
from reslab.models.cifar import blocks_per_stage
from reslab.training import set_field
from reslab.training.config import TrainConfig, validate
from reslab.training.precision import resolve_device

CONTINUE_SEED = 10_000  # continued runs draw other batches than the shallow run's first epoch


@dataclass
class IdentityConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depth: int = 20  # the trained shallow net
    deep_depth: int = 32  # the net it is copied into (2 new blocks per stage)
    block: str = "basic"
    shortcut: str = "A"
    seeds: int = 3
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = 10  # training of the shallow net (the mnist1d recipe's own)
    steps: int | None = None
    continue_steps: int = 100  # continued training of each variant, from the same point
    continue_lr: float = 0.02  # constant: the continued runs compare from one point, no schedule
    batch_size: int = 128
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    log_every: int = 10

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> IdentityConfig:
        return pick_preset(PRESETS, name, changes)


PRESETS: dict[str, IdentityConfig] = {
    # Minutes on 2 CPU cores: 1-D ResNet-20 -> ResNet-32 on MNIST-1D (mnist1d recipe, 10
    # epochs), then 100 more steps at 1/10 of the recipe's peak learning rate.
    "quick": IdentityConfig(),
    # He et al. 2015, 4.2: CIFAR-10 ResNet-20 trained 64k iterations, copied into ResNet-56, and
    # continued at the schedule's last learning rate (0.001) for 8k iterations.
    "paper": IdentityConfig(
        data="cifar10", deep_depth=56, preset="paper", recipe="paper", epochs=None,
        steps=64000, continue_steps=8000, continue_lr=0.001, log_every=100,
    ),
}  # fmt: skip


def shallow_config(config: IdentityConfig, seed: int) -> TrainConfig:
    return recipe_config(config, seed, ("train.checkpoint_every", 0), ("train.eval_train", False))


def continue_config(config: IdentityConfig, seed: int) -> TrainConfig:
    """The recipe's optimiser at a constant learning rate, every step logged."""
    cfg = shallow_config(config, CONTINUE_SEED + seed)
    for key, value in (
        ("train.epochs", None), ("train.steps", config.continue_steps), ("train.log_every", 1),
        ("train.eval_train", True), ("optim.lr", config.continue_lr),
        ("schedule.kind", "constant"), ("schedule.warmup", 0.0), ("schedule.error_warmup", "never"),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return cfg


def check(config: IdentityConfig) -> None:
    """Every error a config can hold, raised before any data is loaded or net trained."""
    shallow = blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    deep = blocks_per_stage(config.deep_depth, config.block)
    step = (config.depth - 2) // shallow  # layers added by one more block per stage
    if deep <= shallow:
        raise ValueError(
            f"deep_depth={config.deep_depth} must be deeper than depth={config.depth}; "
            f"accepted: a larger depth of the same form, e.g. {config.depth + step}"
        )
    require_residual_shortcut(config.shortcut)
    require_at_least_one(config, "seeds", "continue_steps")
    resolve_device(config.device)  # ConfigError for an unknown device
    validate(shallow_config(config, 0))  # ConfigError for a bad recipe or override
    validate(continue_config(config, 0))
