"""One run of the lesion study: train a net with the experiment's recipe, then measure its test
error intact, with each block deleted (Veit et al. 2016, Fig. 3) and with k random blocks deleted
(their Fig. 5)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from reslab.data import DataBundle, make_loader
from reslab.experiments.lesion.config import Kind, LesionConfig, train_config
from reslab.experiments.lesion.lesions import (
    lesionable,
    lesioned,
    random_lesions,
    same_shape_blocks,
)
from reslab.experiments.lesion.records import LesionRecord
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import chance_err, net_for
from reslab.models.resnet import ResNet
from reslab.training import evaluate, fit


def build_net(config: LesionConfig, kind: Kind, bundle: DataBundle) -> ResNet:
    shortcut = config.shortcut if kind == "residual" else "none"
    return net_for(bundle, config.depth, block=config.block, shortcut=shortcut)


def train_and_lesion(task: tuple[LesionConfig, Kind, int]) -> LesionRecord:
    config, kind, seed = task
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)  # the initial weights are a function of the seed
    model = build_net(config, kind, bundle)
    result = fit(model, bundle, train_config(config, seed), device=config.device)
    if result.status == "diverged":
        chance = chance_err(bundle.num_classes)
        return _diverged(kind, seed, model, config.draws, chance, result.wall_s)
    baseline, single, random_err = measure_lesions(model, bundle, draws=config.draws, seed=seed)
    return LesionRecord(
        kind=kind, seed=seed, baseline_err=baseline, train_err=100 * result.final["train_err"],
        single_err=single, random_err=random_err, status=result.status, wall_s=result.wall_s,
    )  # fmt: skip


def measure_lesions(
    model: ResNet, bundle: DataBundle, *, draws: int, seed: int
) -> tuple[float, list[float | None], list[list[float]]]:
    """Test error (%), on the device the model is on: intact; with each block deleted (None:
    cannot be); with k random same-shape blocks deleted, ``[k - 1][draw]`` for k = 1..n."""
    measure = _tester(model, bundle)
    single = [measure([i]) if lesionable(b) else None for i, b in enumerate(model.blocks)]
    pool = same_shape_blocks(model)
    random_err = [
        [measure(s) for s in random_lesions(pool, k, draws, seed)] for k in range(1, len(pool) + 1)
    ]
    return measure([]), single, random_err


def _diverged(
    kind: Kind, seed: int, model: ResNet, draws: int, chance: float, wall_s: float
) -> LesionRecord:
    # A net that diverged has learned nothing: every measurement counts at chance level.
    single = [chance if lesionable(b) else None for b in model.blocks]
    random_err = [[chance] * draws for _ in same_shape_blocks(model)]
    return LesionRecord(kind, seed, chance, chance, single, random_err, "diverged", wall_s)


def _tester(model: ResNet, bundle: DataBundle) -> Callable[[list[int]], float]:
    dev = next(model.parameters()).device
    loader = make_loader(bundle, "test", batch_size=1000, train=False, device=dev)

    def test_err(indices: list[int]) -> float:
        with lesioned(model, indices):
            return 100 * evaluate(model, loader, device=dev)["err"]

    return test_err
