"""Typed training configuration: one dataclass per section, the resolved whole saved per run.

A recipe (``reslab/recipes/*.yaml``) sets some fields; the defaults below fill the rest; every
field can then be overridden with ``--set section.field=value`` (see ``overrides.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from reslab.training.errors import ConfigError

Precision = Literal["fp32", "bf16", "fp16"]


@dataclass
class ModelConfig:
    # Defaults only: ``train(model_name, data_name)`` and the CLI's MODEL argument replace it.
    name: str = "resnet20"
    zero_init_residual: bool | None = None  # None keeps the model's own default
    drop_path_rate: float | None = None
    dropout: float | None = None  # a Transformer's dropout (nanoGPT's); None: the model's own


@dataclass
class DataConfig:
    name: str = "cifar10"
    batch_size: int = 128  # global: each of N ranks takes batch_size / N
    eval_batch_size: int = 1000
    val_size: int = 0  # e.g. 5000 for He et al.'s 45k/5k split (2015, 4.2)
    augment: bool = True  # False: no crop, no flip, whatever the dataset's default
    crop_padding: int | None = None  # None: the dataset's default (4 for CIFAR, 0 for digits)
    flip: bool | None = None  # None: the dataset's default
    num_workers: int = 0  # only for image folders too large to hold as tensors
    block_size: int | None = None  # context of a text dataset (None: 256, nanoGPT's)


@dataclass
class OptimConfig:
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1  # peak learning rate, for the global batch
    momentum: float = 0.9  # SGD momentum; AdamW's beta1
    beta2: float = 0.999  # AdamW only
    nesterov: bool = False
    weight_decay: float = 1e-4
    # He et al. decay every weight; "bag of tricks" (He et al. 2019, 3.1) exempts BN and biases.
    decay_norm_and_bias: bool = True
    # Clip the global gradient norm to this before each step (0: off), as nanoGPT's grad_clip.
    grad_clip: float = 0.0


@dataclass
class ScheduleConfig:
    kind: Literal["step", "cosine", "linear", "constant"] = "step"
    # Fractions of the run, so --epochs/--steps rescale the schedule: 32k/64k and 48k/64k
    # iterations in He et al. 2015 (4.2) are 0.5 and 0.75.
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])
    gamma: float = 0.1  # lr multiplier at each milestone
    warmup: float = 0.0  # fraction of the run spent rising linearly from warmup_start * lr
    warmup_start: float = 0.0
    final_lr: float = 0.0  # cosine/linear end point, as a fraction of lr
    low_lr: float = 0.01  # the lr of He et al.'s two warm-ups below
    # He et al. 2016 (appendix) start every CIFAR run with 400 iterations at lr 0.01.
    low_lr_steps: int = 0
    # He et al. 2015 (4.2) train ResNet-110 at lr 0.01 "until the training error is below 80%
    # (about 400 iterations), and then go back to 0.1". "auto": only for depth >= 110.
    error_warmup: Literal["auto", "always", "never"] = "never"
    error_warmup_until: float = 0.8  # training error below which the warm-up ends
    error_warmup_window: int = 20  # steps the running training error is measured over


@dataclass
class LoopConfig:
    epochs: int | None = None  # exactly one of epochs / steps
    steps: int | None = None
    seed: int = 0
    label_smoothing: float = 0.0
    precision: Precision = "fp32"
    channels_last: bool = False  # ignored for 1-D models, where it has no meaning
    compile: bool = False
    deterministic: bool = False
    checkpoint_blocks: bool = False  # gradient checkpointing per residual block
    sync_bn: bool = False  # BatchNorm statistics over the global batch (CUDA + DDP only)
    log_every: int = 50  # steps per history entry
    eval_every: int = 1  # epochs between test evaluations (the last epoch always evaluates)
    checkpoint_every: int = 1000  # steps between checkpoints (0: only at epoch ends)
    eval_train: bool = True  # final loss/error on the whole train split, eval mode, no augment


@dataclass
class TrainConfig:
    recipe: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: LoopConfig = field(default_factory=LoopConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "train": LoopConfig,
}


def validate(config: TrainConfig) -> TrainConfig:
    """Checks between fields that a type alone cannot express."""
    loop, sched = config.train, config.schedule
    if (loop.epochs is None) == (loop.steps is None):
        raise ConfigError(
            f"train.epochs={loop.epochs} and train.steps={loop.steps}: set exactly one "
            "(e.g. --set train.steps=null --set train.epochs=10)"
        )
    _positive(
        ("train.epochs", loop.epochs), ("train.steps", loop.steps),
        ("data.batch_size", config.data.batch_size), ("optim.lr", config.optim.lr),
        ("data.eval_batch_size", config.data.eval_batch_size),
        ("train.log_every", loop.log_every), ("train.eval_every", loop.eval_every),
        ("schedule.error_warmup_window", sched.error_warmup_window),
    )  # fmt: skip
    if sorted(sched.milestones) != sched.milestones or any(not 0 < m < 1 for m in sched.milestones):
        raise ConfigError(
            f"schedule.milestones={sched.milestones} must be increasing fractions of the run, "
            "each in (0, 1)"
        )
    for name, value in (
        ("schedule.warmup", sched.warmup),
        ("train.label_smoothing", loop.label_smoothing),
    ):
        if not 0 <= value < 1:
            raise ConfigError(f"{name}={value} must be in [0, 1)")
    for name, count in (
        ("train.checkpoint_every", loop.checkpoint_every),
        ("schedule.low_lr_steps", sched.low_lr_steps),
    ):
        if count < 0:
            raise ConfigError(f"{name}={count} must be >= 0 (0 turns it off)")
    if not config.optim.grad_clip >= 0:
        raise ConfigError(f"optim.grad_clip={config.optim.grad_clip} must be >= 0 (0 turns it off)")
    return config


def _positive(*pairs: tuple[str, float | None]) -> None:
    for name, value in pairs:
        if value is not None and value <= 0:
            raise ConfigError(f"{name}={value} must be > 0")
