"""The tiny configuration of every registered experiment: seconds on a CPU, yet every task, record,
table and verdict of the real thing. The ``tiny_run`` fixture (tests/conftest.py) runs each once
per session; the registry-wide resume test fails for an experiment that has none here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from reslab.experiments.degradation import DegradationConfig
from reslab.experiments.densenet import DenseNetConfig
from reslab.experiments.depth import DepthConfig
from reslab.experiments.gradients import GradientsConfig
from reslab.experiments.highway import HighwayConfig
from reslab.experiments.identity import IdentityConfig
from reslab.experiments.landscape import LandscapeConfig
from reslab.experiments.lesion import LesionConfig
from reslab.experiments.paths import PathsConfig
from reslab.experiments.placement import PlacementConfig
from reslab.experiments.shortcuts import ShortcutsConfig
from reslab.experiments.transformer import TransformerConfig
from reslab.experiments.unet import UnetConfig

DEGRADATION = DegradationConfig(
    data="synthetic1d", depths=(8, 14), seeds=2, epochs=2, workers=1, cost_steps=1
)

# DenseNet-BC-22 (3 layers per block, 40,006 parameters in 1-D) against ResNet-8 of width 20
# (1-D, 39,870): matched within 0.4%.
DENSENET = DenseNetConfig(
    data="synthetic1d", dense_depth=22, resnet_depth=8, resnet_width=20, seeds=2, epochs=None,
    steps=3, batch_size=32, batches=1, memory_batches=(8, 32), isolate=False, workers=1,
    device="cpu", first_seed=0,
)  # fmt: skip

# Bottleneck nets are 9n+2 layers: 11 (n=1) and 20 (n=2); width 4 keeps them tiny.
DEPTH = DepthConfig(
    data="synthetic1d", depths=(11, 20), width=4, seeds=2, deepest_seeds=1, steps=8,
    batch_size=32, checkpoint_from=20, workers=1, isolate=False, log_every=2, device="cpu",
)  # fmt: skip

# The fields every gradients test shares; the tiny run adds depths, seeds and training below.
GRADIENTS_FIELDS: dict[str, Any] = {
    "data": "synthetic1d", "seeds": 1, "batches": 1, "batch_size": 32, "workers": 1,
    "device": "cpu", "variants": (),
}  # fmt: skip
# Depths 8 and 14, two seeds, depth 8 also trained 2 steps, one shortcut variant.
GRADIENTS = GradientsConfig(
    **{**GRADIENTS_FIELDS, "seeds": 2, "batches": 2, "variants": ("scale",)},
    depths=(8, 14), train_max_depth=8, steps=2,
)  # fmt: skip

HIGHWAY = HighwayConfig(
    data="synthetic", depths=(3, 5), seeds=2, lrs=(0.01, 0.03), epochs=None, steps=6, batch_size=32,
    highway_width=6, plain_width=8, log_every=2, workers=1, device="cpu", calibration_seeds=1,
    first_seed=0,
)  # fmt: skip

IDENTITY = IdentityConfig(
    data="synthetic1d", depth=8, deep_depth=14, seeds=1, epochs=None, steps=20,
    continue_steps=6, batch_size=64, workers=1, device="cpu",
)  # fmt: skip

LANDSCAPE = LandscapeConfig(
    data="synthetic1d", depth=8, epochs=None, steps=8, samples=64, resolution=5,
    interp_span=(-0.5, 1.5), interp_points=5, eval_batch=64, save_every=4, device="cpu",
    workers=1, trajectory_points=4, trajectory_resolution=5,
)  # fmt: skip

LESION = LesionConfig(
    data="synthetic1d", depth=14, seeds=1, draws=2, epochs=None, steps=60, batch_size=64,
    workers=1, device="cpu",
)  # fmt: skip

PATHS = PathsConfig(
    data="synthetic1d", depth=14, seeds=1, draws=2, epochs=None, steps=20, batch_size=64,
    workers=1, device="cpu",
)  # fmt: skip

PLACEMENT = PlacementConfig(
    data="synthetic1d", depth=8, seeds=1, epochs=None, steps=3, batch_size=32, batches=1,
    workers=1, device="cpu",
)  # fmt: skip

SHORTCUTS = ShortcutsConfig(
    data="synthetic1d", depth=8, seeds=2, epochs=None, steps=4, batch_size=32, batches=1,
    variants=("identity", "scale", "exclusive_gate_b-6"), workers=1, device="cpu",
)  # fmt: skip

UNET = UnetConfig(
    levels=2, width=4, seeds=2, epochs=None, steps=3, batch_size=16, skips=("concat", "none"),
    blocks=("plain",), examples=2, workers=1, device="cpu",
)  # fmt: skip

# 3,000 characters: the driver's fail-fast load cuts the default 256-character windows, which the
# 10% held out must hold at least one of.
TEXT = "".join(f"{w} " for _ in range(120) for w in ("now", "is", "the", "winter", "of", "our"))


def write_text(folder: Path) -> Path:
    """``TEXT`` as a text file in ``folder``: the transformer's corpus."""
    path = folder / "richard.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def transformer(text_file: Path, **kw: object) -> TransformerConfig:
    base = TransformerConfig(
        data=f"text:{text_file}", depths=(1, 2), calibration_lrs=(1e-3, 1e-2), seeds=1,
        calibration_seeds=1, first_seed=0, steps=3,
        n_embd=8, n_head=2, block_size=8, batch_size=4, batches=1, val_windows=8, log_every=1,
        workers=1, device="cpu",
    )  # fmt: skip
    return replace(base, **kw)


CONFIGS: dict[str, Any] = {
    "degradation": DEGRADATION, "densenet": DENSENET, "depth": DEPTH, "gradients": GRADIENTS,
    "highway": HIGHWAY, "identity": IDENTITY, "landscape": LANDSCAPE, "lesion": LESION,
    "paths": PATHS, "placement": PLACEMENT, "shortcuts": SHORTCUTS, "unet": UNET,
}  # fmt: skip
NAMES = sorted([*CONFIGS, "transformer"])


def tiny_config(name: str, folder: Path) -> Any:
    """Experiment ``name``'s tiny configuration; ``folder`` takes any file it reads."""
    if name == "transformer":
        return transformer(write_text(folder))
    if name not in CONFIGS:
        raise LookupError(
            f"experiment {name!r} has no tiny configuration; add one to tests/experiments/tiny.py"
        )
    return CONFIGS[name]
