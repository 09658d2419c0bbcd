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

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from reslab.data import DataBundle
from reslab.experiments.common import (
    ExperimentResult,
    final_err_pct,
    finished,
    mean_std,
    provenance,
)
from reslab.experiments.memory import memory_kind, memory_peak, memory_start
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import pick_preset, recipe_config, require_at_least_one, run_all
from reslab.models import ResNet, cifar_resnet, count_params
from reslab.models.cifar import blocks_per_stage
from reslab.training import fit
from reslab.training.config import TrainConfig
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything

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


@dataclass
class DepthConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depths: tuple[int, ...] = (20, 164, 1001)
    block: str = "bottleneck"  # 9n+2 layers; "basic" is 6n+2 (ResNet-1202 is basic, n=200)
    width: int = 4  # channels of the first stage (16 in the papers)
    seeds: int = 2
    deepest_seeds: int | None = 1  # seeds of the deepest net only (None: `seeds`)
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = None
    steps: int | None = 100
    batch_size: int = 64
    checkpoint_from: int | None = 500  # depths >= this train with gradient checkpointing
    overrides: tuple[str, ...] = ()  # extra "section.field=value" training overrides
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    isolate: bool = True  # every run in a fresh process, so peak memory is its own
    log_every: int = 5

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> DepthConfig:
        return pick_preset(PRESETS, name, changes)


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


@dataclass
class Verdict:
    depth: int  # the deepest net, where the two kinds are compared
    postact_train_err: float  # mean over seeds, %
    preact_train_err: float
    postact_test_err: float
    preact_test_err: float
    train_gap: float  # post-activation minus pre-activation, percentage points
    threshold: float  # a gap counts above this (1 point, or twice its standard error)
    preact_better: bool | None  # None: no difference beyond the threshold
    text: str


@dataclass
class DepthResult(ExperimentResult):
    experiment = "depth"
    config: DepthConfig
    provenance: dict[str, Any]
    memory: str = ""  # what peak_mem_mb measures on this device
    runs: list[RunRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        runs = [{k: v for k, v in vars(r).items() if not isinstance(v, list)} for r in self.runs]
        return {"summary": self.summary, "runs": runs}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for r in self.runs:
            key = f"{r.kind}{r.depth}_seed{r.seed}"
            out[f"{key}_train"] = np.array([r.steps, r.train_err], dtype=float)
            out[f"{key}_loss"] = np.array([r.steps, r.train_loss], dtype=float)
            out[f"{key}_test"] = np.array([r.epoch_steps, r.test_err], dtype=float)
        return out


# -- one run ------------------------------------------------------------------------------------


def uses_checkpointing(config: DepthConfig, depth: int) -> bool:
    return config.checkpoint_from is not None and depth >= config.checkpoint_from


def train_config(config: DepthConfig, depth: int, seed: int) -> TrainConfig:
    return recipe_config(
        config, seed, ("train.eval_every", 1), ("train.eval_train", True),
        ("train.checkpoint_blocks", uses_checkpointing(config, depth)),
    )  # fmt: skip


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


# -- the sweep ----------------------------------------------------------------------------------


def run(config: DepthConfig, *, progress: bool = False) -> DepthResult:
    check(config)
    device = resolve_device(config.device)
    tasks = make_tasks(config)
    seeds = list(range(max(config.seeds, config.deepest_seeds or 0)))
    prov = provenance(device, seeds)
    # Deepest first: the longest runs start at once and the short ones fill in around them.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][2])
    done = run_all(
        train_one, [tasks[i] for i in order], workers=config.workers, device=config.device,
        progress=progress, desc="depth runs", unit="run", fresh_process=config.isolate,
    )  # fmt: skip
    runs = [done[order.index(i)] for i in range(len(tasks))]
    result = DepthResult(config, finished(prov), memory_kind(device, config.isolate))
    result.runs = runs
    result.summary = summarize(runs, config)
    result.verdict = judge(runs, max(config.depths))
    return result


def make_tasks(config: DepthConfig) -> list[tuple[DepthConfig, Kind, int, int]]:
    deepest = max(config.depths)
    tasks = []
    for depth in sorted(config.depths):
        n = config.deepest_seeds if depth == deepest and config.deepest_seeds else config.seeds
        tasks += [(config, kind, depth, seed) for seed in range(n) for kind in KINDS]
    return tasks


def check(config: DepthConfig) -> None:
    """Every bad setting fails here, before any training."""
    if config.block not in BLOCKS:
        raise ValueError(f"block={config.block!r} is unknown; accepted: {', '.join(BLOCKS)}")
    if not config.depths or len(set(config.depths)) != len(config.depths):
        raise ValueError(f"depths={config.depths} must be one or more distinct depths")
    for depth in config.depths:
        blocks_per_stage(depth, config.block)  # raises with the accepted form (9n+2 or 6n+2)
    require_at_least_one(config, "seeds", "width")
    if config.deepest_seeds is not None and config.deepest_seeds < 1:
        raise ValueError(f"deepest_seeds={config.deepest_seeds} must be >= 1 (or None: seeds)")
    resolve_device(config.device)
    train_config(config, max(config.depths), 0)  # a bad recipe or override fails now
    cached_data(config.data, config.data_dir)  # missing data fails now


# -- summary and verdict ------------------------------------------------------------------------


def summarize(runs: list[RunRecord], config: DepthConfig) -> list[dict[str, Any]]:
    same_nets = config.width == 16 and config.block == "bottleneck"  # the nets of Table 3
    paper = PAPER_TEST_ERR.get(config.data, {}) if same_nets else {}
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
    return rows


def judge(runs: list[RunRecord], depth: int) -> Verdict:
    """Post- vs pre-activation at the deepest depth, on final training error.

    A gap counts when it exceeds both 1 point and twice its standard error over seeds, so a
    single lucky or unlucky seed cannot decide the verdict.
    """
    post = [r for r in runs if r.kind == "postact" and r.depth == depth]
    pre = [r for r in runs if r.kind == "preact" and r.depth == depth]
    a = np.array([r.final_train_err for r in post])
    b = np.array([r.final_train_err for r in pre])
    gap = float(a.mean() - b.mean())
    threshold = max(1.0, 2 * math.sqrt(_var(a) / len(a) + _var(b) / len(b)))
    better = None if abs(gap) <= threshold else gap > 0
    post_test = float(np.mean([r.final_test_err for r in post]))
    pre_test = float(np.mean([r.final_test_err for r in pre]))
    outcome = {
        True: f"pre-activation trains the {depth}-layer net better by {gap:.1f} points",
        False: f"post-activation trains the {depth}-layer net better by {-gap:.1f} points",
        None: f"no difference beyond {threshold:.1f} points of training error",
    }[better]
    diverged = [f"{KIND_LABEL[r.kind]} seed {r.seed}" for r in post + pre if r.status == "diverged"]
    text = (
        f"pre-activation {depth}: {b.mean():.1f}% train error (test {pre_test:.1f}%) vs "
        f"post-activation {depth}: {a.mean():.1f}% (test {post_test:.1f}%) — {outcome}"
        + (" (one seed each: no estimate of seed noise)" if len(a) == len(b) == 1 else "")
        + (f"; diverged: {', '.join(diverged)}" if diverged else "")
    )
    return Verdict(depth, float(a.mean()), float(b.mean()), post_test, pre_test, gap, threshold,
                   better, text)  # fmt: skip


def _var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if len(x) > 1 else 0.0
