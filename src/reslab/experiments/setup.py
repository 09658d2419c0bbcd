"""How the train-then-measure experiments set up their runs, where they do it the same way: a
preset with changes, the recipe a run trains with, a CIFAR-style net sized for the data, the
config checks they share, and a pool of runs behind a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from reslab.data import DataBundle
from reslab.experiments.runner import default_workers, map_runs
from reslab.models import cifar_resnet
from reslab.models.resnet import ResNet
from reslab.training import apply_overrides, load_recipe, set_field
from reslab.training.config import TrainConfig

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")
RESIDUAL_SHORTCUTS = ("A", "B", "C")


class RecipeSettings(Protocol):
    recipe: str
    data: str
    batch_size: int
    epochs: int | None
    steps: int | None
    log_every: int
    overrides: tuple[str, ...]


def pick_preset(presets: Mapping[str, C], name: str, changes: Mapping[str, Any]) -> C:
    """The preset ``name`` with ``changes``; a change of None keeps the preset's value (the CLI
    passes every option, given or not)."""
    if name not in presets:
        raise ValueError(f"preset={name!r} is unknown; accepted: {', '.join(presets)}")
    return replace(presets[name], **{k: v for k, v in changes.items() if v is not None})


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


def run_all(
    fn: Callable[[T], R], tasks: Sequence[T], *, workers: int, device: str,
    progress: bool, desc: str, unit: str, fresh_process: bool = False,
) -> list[R]:  # fmt: skip
    """``map_runs`` on ``workers`` processes (0: the default for ``device``), with a bar;
    ``fresh_process`` as in ``map_runs`` (every run in a new process of its own)."""
    bar = _bar(len(tasks), desc, unit) if progress else None
    try:
        return map_runs(
            fn, tasks, workers=workers or default_workers(device),
            on_done=(lambda _: bar.update()) if bar else None, fresh_process=fresh_process,
        )  # fmt: skip
    finally:
        if bar:
            bar.close()


def _bar(total: int, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
