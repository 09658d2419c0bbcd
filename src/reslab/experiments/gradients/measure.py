"""One net of the gradients experiment, as a worker process runs it: built from its seed,
measured at initialisation, trained and measured again."""

from __future__ import annotations

import time

import numpy as np

from reslab.data import DataBundle
from reslab.experiments.gradients.config import ARCHS, GradientsConfig, Kind, train_config
from reslab.experiments.gradients.norms import block_gradient_norms, measurement_batches
from reslab.experiments.gradients.records import GradientRecord
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import net_for
from reslab.models.resnet import ResNet
from reslab.training import fit
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything


def build_net(kind: Kind, depth: int, family: str, bundle: DataBundle) -> ResNet:
    block, shortcut = ARCHS[family][kind]
    return net_for(bundle, depth, shortcut=shortcut, block=block)


def measure_one(task: tuple[GradientsConfig, Kind, int, int]) -> GradientRecord:
    """One net: built from its seed, measured, trained by ``fit``, measured again."""
    config, kind, depth, seed = task
    started = time.perf_counter()
    bundle = cached_data(config.data, config.data_dir)
    device = resolve_device(config.device)
    batches = measurement_batches(bundle, config.batches, config.batch_size, device)
    seed_everything(seed)  # the initial weights are a function of the seed
    model = build_net(kind, depth, config.block, bundle).to(device)
    record = GradientRecord(kind, depth, seed)
    _store(record, "init", block_gradient_norms(model, batches))
    if config.trains(depth):
        result = fit(model, bundle, train_config(config, seed), device=config.device)
        # A diverged net is measured too: its non-finite norms are the record of the divergence.
        _store(record, "trained", block_gradient_norms(model, batches))
        record.status, record.diverged_step = result.status, result.diverged_step
        record.train_loss = result.history[-1]["train_loss"] if result.history else None
        test_err = result.final.get("test_err")
        record.test_err = 100 * test_err if test_err is not None else None
    record.wall_s = time.perf_counter() - started
    return record


def _store(record: GradientRecord, phase: str, norms: dict[str, np.ndarray]) -> None:
    for part, values in norms.items():
        record.profiles[f"{part}_{phase}"] = values.tolist()
