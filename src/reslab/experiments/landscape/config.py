"""What a landscape run measures, with the two presets (minutes on a CPU; the paper's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reslab.experiments.landscape.nets import make_train_config
from reslab.experiments.landscape.surface import axis
from reslab.experiments.setup import pick_preset, require_at_least_one
from reslab.models.cifar import blocks_per_stage
from reslab.training import validate

Kind = Literal["plain", "residual"]
KINDS: tuple[Kind, ...] = ("plain", "residual")
# Option A adds no parameters, so both nets live in parameter spaces of the same shape and the
# same direction seeds draw the same Gaussian noise for both (He et al. 2015, 4.2). Li et al.'s
# code uses projection shortcuts (option B) at the stage changes instead.
SHORTCUT: dict[Kind, str] = {"plain": "none", "residual": "A"}


@dataclass
class LandscapeConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depth: int = 56  # both nets: the contrast is between kinds at one depth (Li et al., Fig. 5)
    seeds: int = 1  # each seed: its own initialisation, training run and pair of directions
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = 8
    steps: int | None = None
    overrides: tuple[str, ...] = ()  # extra "section.field=value" training overrides
    samples: int = 1000  # fixed subset of the training split the loss is measured on; 0: all
    span: tuple[float, float] = (-1.0, 1.0)  # both axes, in units of the filter-normalised d
    resolution: int = 21  # points per axis (odd, so that (0, 0) is a grid point)
    interp_span: tuple[float, float] = (-0.5, 1.5)  # alpha in (1 - alpha) theta0 + alpha theta1
    interp_points: int = 21
    eval_batch: int = 1000
    save_every: int = 21  # points per rank between atomic rewrites of the surface file
    device: str = "auto"
    workers: int = 0  # 0: automatic (one process per net on CPU, 1 on GPU or under torchrun)

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> LandscapeConfig:
        return pick_preset(PRESETS, name, changes)


PRESETS: dict[str, LandscapeConfig] = {
    # Minutes on 2 CPU cores: MNIST-1D, 1-D nets trained briefly with the mnist1d recipe, then
    # 21x21 grids of the loss on 1,000 training samples.
    "quick": LandscapeConfig(),
    # Li et al. 2018, section 6 and Figure 5: ResNet-56 with and without shortcuts on CIFAR-10,
    # 300 epochs, batch 128, lr 0.1 divided by 10 at epochs 150, 225 and 275, weight decay 5e-4;
    # 51x51 grids over [-1, 1]^2 of the loss on the whole training set (hours on one GPU).
    "paper": LandscapeConfig(
        data="cifar10",
        preset="paper",
        recipe="paper",
        epochs=300,
        samples=0,
        resolution=51,
        interp_points=51,
        save_every=51,
        overrides=(
            "schedule.milestones=[0.5,0.75,0.9166667]",
            "optim.weight_decay=0.0005",
            "train.log_every=100",
        ),
    ),
}


def check_config(config: LandscapeConfig) -> None:
    """Every bad value fails here, before any data is loaded or any net trained."""
    blocks_per_stage(config.depth, "basic")  # raises with the accepted form 6n+2
    require_at_least_one(config, "seeds", "eval_batch", "save_every")
    if config.samples < 0:
        raise ValueError(f"samples={config.samples} must be >= 0 (0: the whole training split)")
    if config.epochs is not None and config.steps is not None:
        raise ValueError("give epochs or steps, not both")
    if config.resolution < 3:
        raise ValueError(f"resolution={config.resolution} must be >= 3 (curvature needs 3x3)")
    axis(*config.span, config.resolution)  # raises unless (0, 0) is a grid point
    axis(*config.interp_span, config.interp_points, exact=(0.0, 1.0))
    # A bad recipe or --set override fails now, not in a worker after the data has loaded.
    validate(
        make_train_config(
            config.recipe, config.data, config.epochs, config.steps, 0, config.overrides
        )
    )
