"""What a depth run trains, with the two presets (minutes on a CPU; the paper's), the nets of
each kind, the training config and the checks run before any training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reslab.experiments.runner import cached_data
from reslab.experiments.setup import pick_preset, recipe_config, require_at_least_one
from reslab.models.cifar import blocks_per_stage
from reslab.training.config import TrainConfig
from reslab.training.precision import resolve_device

Kind = Literal["postact", "preact"]
KINDS: tuple[Kind, ...] = ("postact", "preact")
KIND_LABEL = {"postact": "post-activation", "preact": "pre-activation"}
# The residual unit each kind uses for each block family; both use projection shortcuts where
# the shape changes (option B), so the two nets of a depth have the same parameters, as in
# He et al. 2016, Table 3 (1.7M for 164 layers, 10.2M for 1001, both kinds).
BLOCKS = {
    "bottleneck": {"postact": "bottleneck", "preact": "preact_bottleneck"},
    "basic": {"postact": "basic", "preact": "preact_basic"},
}
SHORTCUT = "B"


@dataclass
class DepthConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depths: tuple[int, ...] = (20, 164, 1001)
    block: str = "bottleneck"  # 9n+2 layers; "basic" is 6n+2 (ResNet-1202 is basic, n=200)
    width: int = 4  # channels of the first stage (16 in the papers)
    seeds: int = 2
    deepest_seeds: int | None = 1  # seeds of the deepest net only (None: `seeds`)
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = None
    steps: int | None = 100
    batch_size: int = 64
    checkpoint_from: int | None = 500  # depths >= this train with gradient checkpointing
    overrides: tuple[str, ...] = ()  # extra "section.field=value" training overrides
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    isolate: bool = True  # every run in a fresh process, so peak memory is its own
    log_every: int = 5

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> DepthConfig:
        return pick_preset(PRESETS, name, changes)


PRESETS: dict[str, DepthConfig] = {
    # A few minutes on 2 CPU cores: MNIST-1D, 1-D bottleneck nets at width 4 (a 1001-layer
    # net at width 16 takes seconds per step on a CPU), the same 100 steps (1.6 epochs) for
    # every depth, batch 64 (He et al. 2016 train their 1001-layer net with mini-batch 64 too).
    "quick": DepthConfig(),
    # He et al. 2016, Table 3 and appendix (the "preact" recipe): CIFAR-10, 164 and 1001
    # layers, batch 128, lr 0.01 for 400 iterations then 0.1, /10 at 32k and 48k, 64k
    # iterations (days on one GPU for the 1001-layer nets).
    "paper": DepthConfig(
        data="cifar10",
        depths=(164, 1001),
        width=16,
        seeds=1,
        deepest_seeds=None,
        preset="paper",
        recipe="preact",
        steps=64000,
        batch_size=128,
        log_every=100,
    ),
}


def uses_checkpointing(config: DepthConfig, depth: int) -> bool:
    return config.checkpoint_from is not None and depth >= config.checkpoint_from


def train_config(config: DepthConfig, depth: int, seed: int) -> TrainConfig:
    return recipe_config(
        config, seed, ("train.eval_every", 1), ("train.eval_train", True),
        ("train.checkpoint_blocks", uses_checkpointing(config, depth)),
    )  # fmt: skip


def check(config: DepthConfig) -> None:
    """Every bad setting fails here, before any training."""
    if config.block not in BLOCKS:
        raise ValueError(f"block={config.block!r} is unknown; accepted: {', '.join(BLOCKS)}")
    if not config.depths or len(set(config.depths)) != len(config.depths):
        raise ValueError(f"depths={config.depths} must be one or more distinct depths")
    for depth in config.depths:
        blocks_per_stage(depth, config.block)  # raises with the accepted form (9n+2 or 6n+2)
    require_at_least_one(config, "seeds", "width")
    if config.deepest_seeds is not None and config.deepest_seeds < 1:
        raise ValueError(f"deepest_seeds={config.deepest_seeds} must be >= 1 (or None: seeds)")
    resolve_device(config.device)
    train_config(config, max(config.depths), 0)  # a bad recipe or override fails now
    cached_data(config.data, config.data_dir)  # missing data fails now
