"""What a gradients run measures, with the two presets (minutes on a CPU; the paper's), the nets
of each kind, the training config and the checks run before any net is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reslab.experiments.setup import pick_preset
from reslab.models.cifar import blocks_per_stage
from reslab.training import apply_overrides, load_recipe, set_field
from reslab.training.config import TrainConfig

Kind = Literal["plain", "residual", "preact"]
KINDS: tuple[Kind, ...] = ("plain", "residual", "preact")
PHASES = ("init", "trained")
# Per block: ||dL/dx_l|| (the block's input), ||dL/dtheta_l|| (its parameters) and ||x_l||.
PARTS = ("input", "weight", "activation")
# (block, shortcut) of each kind, per block family. Residual basic nets use option A, as the
# CIFAR nets of He et al. 2015 (4.2); bottleneck nets and every pre-activation net project where
# the shape changes (option B), as in He et al. 2016 (ResNet-164/1001). Plain: no shortcut.
ARCHS: dict[str, dict[Kind, tuple[str, str]]] = {
    "basic": {"plain": ("basic", "none"), "residual": ("basic", "A"),
              "preact": ("preact_basic", "B")},
    "bottleneck": {"plain": ("bottleneck", "none"), "residual": ("bottleneck", "B"),
                   "preact": ("preact_bottleneck", "B")},
}  # fmt: skip
# A first/last ratio within [1/FLAT, FLAT] counts as flat: an exponential trend over 50 or more
# blocks leaves this band by orders of magnitude, while a ratio of a few is a gentle slope.
FLAT = 10.0


@dataclass
class GradientsConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    block: str = "basic"  # block family: "basic" (depth 6n+2) or "bottleneck" (9n+2)
    depths: tuple[int, ...] = (20, 56, 110, 1202)
    # Nets up to this depth are also trained `steps` steps and measured again (None: all). On 2
    # CPU cores one step of a 1202-layer 1-D net takes seconds: quick measures it at init only.
    train_max_depth: int | None = 110
    steps: int = 50  # 0: measure at initialisation only
    seeds: int = 2
    batches: int = 2  # measurement batches, the first ones of the train split in order
    batch_size: int = 128
    preset: str = "quick"
    recipe: str = "mnist1d"
    overrides: tuple[str, ...] = ()  # extra "section.field=value" training overrides
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> GradientsConfig:
        return pick_preset(PRESETS, name, changes)

    def trains(self, depth: int) -> bool:
        return self.steps > 0 and (self.train_max_depth is None or depth <= self.train_max_depth)


PRESETS: dict[str, GradientsConfig] = {
    # Minutes on 2 CPU cores: MNIST-1D, 1-D nets, the MNIST-1D recipe cut to 50 steps.
    "quick": GradientsConfig(),
    # CIFAR-10, 2-D nets up to ResNet-1202 (He et al. 2015, 4.2), every depth trained 2000
    # iterations of the paper's recipe, its schedule compressed to that length (hours on a GPU).
    "paper": GradientsConfig(
        data="cifar10",
        depths=(20, 56, 110, 1202),
        train_max_depth=None,
        steps=2000,
        seeds=3,
        batches=8,
        preset="paper",
        recipe="paper",
    ),
}


def train_config(config: GradientsConfig, seed: int) -> TrainConfig:
    cfg = load_recipe(config.recipe)
    for key, value in (
        ("data.name", config.data), ("data.batch_size", config.batch_size),
        ("train.epochs", None), ("train.steps", max(1, config.steps)), ("train.seed", seed),
        ("train.log_every", max(1, min(10, config.steps))), ("train.eval_train", False),
        ("train.checkpoint_every", 0),
        # Only the test error at the end is reported: skip the evaluations of earlier epochs.
        ("train.eval_every", 10**9),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return apply_overrides(cfg, config.overrides)


def check(config: GradientsConfig) -> None:
    if config.block not in ARCHS:
        raise ValueError(f"block={config.block!r} is unknown; accepted: {', '.join(ARCHS)}")
    if not config.depths:
        raise ValueError("depths=() is empty; accepted: one or more depths, e.g. 20,56,110")
    for depth in config.depths:
        blocks_per_stage(depth, config.block)  # raises with the accepted form 6n+2 / 9n+2
    for name, value, low in (
        ("seeds", config.seeds, 1), ("steps", config.steps, 0), ("batches", config.batches, 1),
        ("batch_size", config.batch_size, 1),
    ):  # fmt: skip
        if value < low:
            raise ValueError(f"{name}={value} must be >= {low}")
    if config.train_max_depth is not None and config.train_max_depth < 1:
        raise ValueError(
            f"train_max_depth={config.train_max_depth} must be >= 1, or None to train every depth"
        )
