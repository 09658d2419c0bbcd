"""One run of the depth experiment, as a worker process runs it: one net built from its seed and
trained, with its errors, peak memory and CPU time."""

from __future__ import annotations

import time

from reslab.data import DataBundle
from reslab.experiments.common import final_err_pct
from reslab.experiments.depth.config import BLOCKS, SHORTCUT, DepthConfig, Kind, train_config
from reslab.experiments.depth.records import RunRecord
from reslab.experiments.memory import memory_peak, memory_start
from reslab.experiments.runner import cached_data
from reslab.models import ResNet, cifar_resnet, count_params
from reslab.training import fit
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything


def build_model(config: DepthConfig, kind: Kind, depth: int, bundle: DataBundle) -> ResNet:
    return cifar_resnet(
        depth, block=BLOCKS[config.block][kind], shortcut=SHORTCUT, width=config.width,
        dims=bundle.dims, in_channels=bundle.in_channels, num_classes=bundle.num_classes,
    )  # fmt: skip


def train_one(task: tuple[DepthConfig, Kind, int, int]) -> RunRecord:
    config, kind, depth, seed = task
    bundle = cached_data(config.data, config.data_dir)
    device = resolve_device(config.device)
    base = memory_start(device)
    seed_everything(seed)  # the initial weights depend on the seed only, not on the process
    model = build_model(config, kind, depth, bundle)
    cfg = train_config(config, depth, seed)
    cpu = time.process_time()
    result = fit(model, bundle, cfg, device=device)
    cpu = time.process_time() - cpu
    # At least what was resident at the start: Linux updates VmHWM and VmRSS from per-CPU
    # counters at different moments, and they can disagree by a few pages (seen: 0.07 MB).
    peak = max(memory_peak(device), base)
    evals = [e for e in result.epochs if "test_err" in e]  # epochs with a test evaluation
    return RunRecord(
        kind=kind, depth=depth, seed=seed, params=count_params(model),
        checkpointed=cfg.train.checkpoint_blocks,
        steps=[h["step"] for h in result.history],
        train_err=[100 * h["train_err"] for h in result.history],
        train_loss=[h["train_loss"] for h in result.history],
        epoch_steps=[e["step"] for e in evals],
        test_err=[100 * e["test_err"] for e in evals],
        final_train_err=final_err_pct(result, "train_err", bundle.num_classes),
        final_test_err=final_err_pct(result, "test_err", bundle.num_classes),
        status=result.status, diverged_step=result.diverged_step, wall_s=result.wall_s,
        cpu_s=cpu, base_mem_mb=base, peak_mem_mb=peak,
    )  # fmt: skip
