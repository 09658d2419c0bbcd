"""What the train-then-measure experiments share beyond their config base: a CIFAR-style net
sized for the data, the error a diverged run counts at, and the config checks they share (the
data cache is ``data/cache.py``, the recipe ``spec.TrainedConfig.train_config``)."""

from __future__ import annotations

from reslab.data import DataBundle
from reslab.models import cifar_resnet
from reslab.models.resnet import ResNet

RESIDUAL_SHORTCUTS = ("A", "B", "C")


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
