"""Training 1000-layer nets (He et al. 2016, "Identity Mappings in Deep Residual Networks",
Table 3 and Figure 6; He et al. 2015, 4.2, ResNet-1202).

The original (post-activation) ResNet gets harder to optimise past a few hundred layers: on
CIFAR-10 the 1001-layer net ends at 7.61% test error, worse than its 164-layer sibling, while the
pre-activation 1001-layer net reaches 4.92%. We train both kinds at increasing depth with one
recipe and report final training and test error, parameters, peak memory and wall time per run.
The deepest nets train with gradient checkpointing, whose cost in time and saving in memory are
measured, not assumed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from reslab.data import DataBundle
from reslab.data.cache import cached_data
from reslab.experiments.common import (
    RunTask,
    final_err_pct,
    mean_std,
    run_curves,
)
from reslab.experiments.protocol import require_at_least_one
from reslab.experiments.registry import register
from reslab.experiments.spec import Summary, TrainedConfig, Verdict, default, define, option
from reslab.experiments.stats import Threshold, compare
from reslab.models import ResNet, cifar_resnet, count_params
from reslab.models.cifar import blocks_per_stage
from reslab.probes.memory import memory_kind, memory_peak, memory_start
from reslab.training import fit
from reslab.training.config import TrainConfig
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything

TITLE = "Training 1000-layer ResNets"
CLAIM = (
    "pre-activation trains a 1001-layer ResNet better than the original "
    "(post-activation) one"
)
PAPER = "He et al. 2016, Identity Mappings in Deep Residual Networks, Table 3 and Figure 6"
QUICK_TIME = "3 min"

# Pre-activation must end the deepest net's training error at least 1 point below post-activation
# (He et al. 2016, Table 3: 1001 layers, 7.61% vs 4.92% test error), declared before any run.
THRESHOLDS = {"preact_better": Threshold(absolute=1.0)}
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
# He et al. 2016, Table 3: test error (%) of the original and pre-activation ResNets.
PAPER_TEST_ERR = {
    "cifar10": {("postact", 164): 5.93, ("preact", 164): 5.46,
                ("postact", 1001): 7.61, ("preact", 1001): 4.92},
    "cifar100": {("postact", 164): 25.16, ("preact", 164): 24.33,
                 ("postact", 1001): 27.82, ("preact", 1001): 22.71},
}  # fmt: skip


@dataclass(kw_only=True)
class DepthConfig(TrainedConfig):
    depths: tuple[int, ...] = option(
        (20, 164, 1001), "Depths to train: 9n+2 for bottleneck blocks (20,164,1001), 6n+2 for "
        "basic (20,110,1202)."
    )  # fmt: skip
    block: str = option(
        "bottleneck", "Block family: bottleneck (depth 9n+2) or basic (6n+2; ResNet-1202 is "
        "basic, n=200)."
    )  # fmt: skip
    width: int = option(4, "Channels of the first stage (16 in the papers).")
    seeds: int = option(2, "Number of seeds (0..N-1).")
    deepest_seeds: int | None = option(1, "Seeds of the deepest net only (none: --seeds).")
    recipe: str = default("recipe", "mnist1d")
    steps: int | None = default("steps", 100)
    batch_size: int = default("batch_size", 64)
    checkpoint_from: int | None = option(
        500, "Gradient checkpointing for depths >= this (0: every net; none: no checkpointing "
        "at any depth)."
    )  # fmt: skip
    isolate: bool = option(
        True, "Every run in a fresh process, so its peak memory is its own; --no-isolate "
        "reuses worker processes (faster start; the peak is then reset per run instead)."
    )  # fmt: skip
    log_every: int = default("log_every", 5)

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (("train.eval_every", 1), ("train.eval_train", True))


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


@dataclass
class RunRecord:
    kind: Kind
    depth: int
    seed: int
    params: int
    checkpointed: bool
    steps: list[int]  # iteration of each training point
    train_err: list[float]  # running training error (%) over the last log interval
    train_loss: list[float]
    epoch_steps: list[int]
    test_err: list[float]  # test error (%) after each epoch
    final_train_err: float  # %, whole training split, eval mode
    final_test_err: float
    status: str
    diverged_step: int | None
    wall_s: float  # training and evaluation, model construction excluded
    cpu_s: float  # CPU time of the process over the same span (all threads): on a shared
    # machine wall time also counts waiting for a core, CPU time does not
    base_mem_mb: float  # before the model was built (interpreter, torch, data)
    peak_mem_mb: float  # during the run: peak RSS on CPU, peak allocated on CUDA


def uses_checkpointing(config: DepthConfig, depth: int) -> bool:
    return config.checkpoint_from is not None and depth >= config.checkpoint_from


def train_config(config: DepthConfig, depth: int, seed: int) -> TrainConfig:
    return config.train_config(seed, ("train.checkpoint_blocks", uses_checkpointing(config, depth)))


def build_model(config: DepthConfig, kind: Kind, depth: int, bundle: DataBundle) -> ResNet:
    return cifar_resnet(
        depth, block=BLOCKS[config.block][kind], shortcut=SHORTCUT, width=config.width,
        dims=bundle.dims, in_channels=bundle.in_channels, num_classes=bundle.num_classes,
    )  # fmt: skip


def train_one(task: RunTask) -> RunRecord:
    """One net built from its seed and trained, with its errors, peak memory and CPU time."""
    config, kind, depth, seed = task.config, task.kind, task.depth, task.seed
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


def seeds_of(config: DepthConfig, depth: int) -> int:
    if depth == max(config.depths) and config.deepest_seeds:
        return config.deepest_seeds
    return config.seeds


def tasks(config: DepthConfig, workdir: Path | None) -> list[RunTask]:
    # Deepest first: the longest runs start at once and the short ones fill in around them.
    return [
        RunTask(config, kind, depth, seed=seed)
        for depth in sorted(config.depths, reverse=True)
        for seed in range(config.first_seed, config.first_seed + seeds_of(config, depth))
        for kind in KINDS
    ]


def fresh_process(config: DepthConfig) -> bool:
    # A process's peak RSS never goes down: a run in a process of its own measures its own peak.
    return config.isolate


def check(config: DepthConfig) -> None:
    """Every bad setting fails here, before any training."""
    if config.block not in BLOCKS:
        raise ValueError(f"block={config.block!r} is unknown; accepted: {', '.join(BLOCKS)}")
    if not config.depths or len(set(config.depths)) != len(config.depths):
        raise ValueError(f"depths={config.depths} must be one or more distinct depths")
    for depth in config.depths:
        blocks_per_stage(depth, config.block)  # raises with the accepted form (9n+2 or 6n+2)
    require_at_least_one(config, "width", "batch_size")
    if config.deepest_seeds is not None and config.deepest_seeds < 1:
        raise ValueError(f"deepest_seeds={config.deepest_seeds} must be >= 1 (or none: seeds)")
    if config.checkpoint_from is not None and config.checkpoint_from < 0:
        raise ValueError(
            f"checkpoint_from={config.checkpoint_from} must be >= 0 (0: every net), or none for "
            "no checkpointing"
        )
    train_config(config, max(config.depths), 0)  # a bad recipe or override fails now


def summarize(config: DepthConfig, runs: list[RunRecord]) -> Summary:
    """Per kind and depth, errors, memory and time over seeds, beside He et al. 2016's Table 3;
    the per-seed errors of the deepest nets, which the verdict compares."""
    same_nets = config.width == 16 and config.block == "bottleneck"  # the nets of Table 3
    paper = PAPER_TEST_ERR.get(config.data, {}) if same_nets else {}
    runs = sorted(runs, key=lambda r: r.seed)  # each net's seeds in ascending order
    rows = []
    for kind in KINDS:
        for depth in sorted(config.depths):
            group = [r for r in runs if r.kind == kind and r.depth == depth]
            train_m, train_s = mean_std([r.final_train_err for r in group])
            test_m, test_s = mean_std([r.final_test_err for r in group])
            rows.append({
                "kind": kind, "depth": depth, "seeds": len(group), "params": group[0].params,
                "train_err_mean": train_m, "train_err_std": train_s,
                "test_err_mean": test_m, "test_err_std": test_s,
                "peak_mem_mb": max(r.peak_mem_mb for r in group),
                "run_mem_mb": max(r.peak_mem_mb - r.base_mem_mb for r in group),
                "wall_s_mean": float(np.mean([r.wall_s for r in group])),
                "cpu_s_mean": float(np.mean([r.cpu_s for r in group])),
                "diverged": sum(r.status == "diverged" for r in group),
                "checkpointed": group[0].checkpointed,
                "paper_test_err": paper.get((kind, depth)),
            })  # fmt: skip
    per_seed = {}  # the deepest nets' per-seed values: what the verdict compares
    for kind in KINDS:
        group = [r for r in runs if r.kind == kind and r.depth == max(config.depths)]
        per_seed[kind] = {
            "final_train_err": [r.final_train_err for r in group],
            "final_test_err": [r.final_test_err for r in group],
            "diverged_seeds": [r.seed for r in group if r.status == "diverged"],
        }
    device = resolve_device(config.device)
    return {"nets": rows, "deepest": per_seed, "memory": memory_kind(device, fresh_process(config))}


def judge(config: DepthConfig, summary: Summary) -> Verdict:
    """Post- vs pre-activation at the deepest depth, on final training error, by
    ``stats.compare`` against ``THRESHOLDS["preact_better"]``."""
    depth = max(config.depths)
    post, pre = summary["deepest"]["postact"], summary["deepest"]["preact"]
    a, b = np.array(post["final_train_err"]), np.array(pre["final_train_err"])
    comparison = compare(a, b, threshold=THRESHOLDS["preact_better"])
    gap, threshold = comparison.effect, comparison.threshold
    reverse = compare(b, a, threshold=THRESHOLDS["preact_better"]).outcome == "reproduced"
    better = True if comparison.outcome == "reproduced" else False if reverse else None
    post_test = float(np.mean(post["final_test_err"]))
    pre_test = float(np.mean(pre["final_test_err"]))
    outcome = {
        True: f"pre-activation trains the {depth}-layer net better by {gap:.1f} points",
        False: f"post-activation trains the {depth}-layer net better by {-gap:.1f} points",
        None: f"no difference beyond {threshold:.1f} points of training error "
        f"({comparison.describe(' pt')})",
    }[better]
    diverged = [
        f"{KIND_LABEL[k]} seed {s}" for k in KINDS for s in summary["deepest"][k]["diverged_seeds"]
    ]
    text = (
        f"pre-activation {depth}: {b.mean():.1f}% train error (test {pre_test:.1f}%) vs "
        f"post-activation {depth}: {a.mean():.1f}% (test {post_test:.1f}%) — {outcome}"
        + (" (one seed each: no estimate of seed noise)" if len(a) == len(b) == 1 else "")
        + (f"; diverged: {', '.join(diverged)}" if diverged else "")
    )
    numbers = {
        "depth": depth, "postact_train_err": float(a.mean()), "preact_train_err": float(b.mean()),
        "postact_test_err": post_test, "preact_test_err": pre_test, "train_gap": gap,
        "threshold": threshold, "gap_se": comparison.se, "preact_better": better,
    }  # fmt: skip
    return Verdict.of({"preact_better": comparison.outcome}, text, numbers)


def arrays(config: DepthConfig, runs: list[RunRecord]) -> dict[str, np.ndarray]:
    return run_curves(runs, {
        "train": ("steps", "train_err"), "loss": ("steps", "train_loss"),
        "test": ("epoch_steps", "test_err"),
    })  # fmt: skip


EXPERIMENT = register(define(__name__, record=RunRecord, run_task=train_one))
