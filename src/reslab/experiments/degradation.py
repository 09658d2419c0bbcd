"""The degradation problem (He et al. 2015, section 4.2 and Figure 6).

Plain nets get *worse* at fitting their own training data as they get deeper; the same nets with
identity shortcuts do not. We train plain and residual nets of each depth with one recipe, over
several seeds, and compare final training error (measured on the whole training split, eval mode,
no augmentation) between the shallowest and the deepest net of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from reslab.experiments.common import (
    ExperimentResult,
    final_err_pct,
    finished,
    gap_and_threshold,
    mean_std,
    provenance,
    run_curves,
    scalar_rows,
)
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import (
    net_for,
    pick_preset,
    recipe_config,
    require_at_least_one,
    run_all,
)
from reslab.models.cifar import blocks_per_stage
from reslab.training import fit
from reslab.training.config import TrainConfig
from reslab.training.precision import resolve_device

Kind = Literal["plain", "residual"]
KINDS: tuple[Kind, ...] = ("plain", "residual")
SHORTCUT = {"plain": "none", "residual": "A"}  # option A: the comparison adds no parameters (4.2)
# He et al. 2015, Table 6: CIFAR-10 test error (%) of ResNet-20/32/44/56/110 (best of 5 for 110).
PAPER_TEST_ERR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}


@dataclass
class DegradationConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depths: tuple[int, ...] = (20, 56)
    seeds: int = 3
    preset: str = "quick"
    recipe: str = "paper"
    epochs: int | None = 20
    steps: int | None = None
    batch_size: int = 128
    # Fraction of the run over which the lr rises linearly to its peak, for every net alike
    # (Goyal et al. 2017, 2.2). The quick preset's 620 iterations cannot afford He et al.'s slow
    # start at lr 0.1: without it one seed of residual-56 sat at 81% training error for 3 of
    # 20 epochs and ended at 6.2% (vs 0.0% for residual-20); with 2 epochs of warm-up all three
    # ended below 0.3%, while plain-56 still stalled near 55% (measured; docs/experiments.md).
    warmup: float = 0.1
    overrides: tuple[str, ...] = ()  # extra "section.field=value" training overrides
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    log_every: int = 10

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> DegradationConfig:
        return pick_preset(PRESETS, name, changes)


PRESETS: dict[str, DegradationConfig] = {
    # Minutes on 2 CPU cores: MNIST-1D (offline), 1-D nets, the paper's recipe (lr 0.1, step
    # decay at 50% and 75% of the run, wd 1e-4, batch 128) shortened to 20 epochs, with a
    # 2-epoch linear warm-up (see ``warmup``).
    "quick": DegradationConfig(),
    # He et al. 2015, 4.2: CIFAR-10, 64k iterations, depths 20-56 (hours on one GPU).
    "paper": DegradationConfig(
        data="cifar10",
        depths=(20, 32, 44, 56),
        preset="paper",
        epochs=None,
        steps=64000,
        warmup=0.0,  # the paper starts at lr 0.1 (its 0.01 warm-up is for 110 layers only)
        log_every=100,
    ),
}


@dataclass
class RunRecord:
    kind: Kind
    depth: int
    seed: int
    steps: list[int]  # iteration of each training-error point
    train_err: list[float]  # running training error (%) over the last log interval
    epoch_steps: list[int]
    test_err: list[float]  # test error (%) after each epoch
    final_train_err: float  # %, whole training split, eval mode
    final_test_err: float
    status: str
    diverged_step: int | None
    wall_s: float


@dataclass
class Verdict:
    degradation_observed: bool
    residual_ok: bool
    plain_gap: float  # deep minus shallow final training error, percentage points
    residual_gap: float
    text: str


@dataclass
class DegradationResult(ExperimentResult):
    experiment = "degradation"
    config: DegradationConfig
    provenance: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None
    training: dict[str, Any] = field(default_factory=dict)  # the resolved recipe (seed 0's)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {"summary": self.summary, "runs": scalar_rows(self.runs)}

    def arrays(self) -> dict[str, np.ndarray]:
        return run_curves(
            self.runs, {"train": ("steps", "train_err"), "test": ("epoch_steps", "test_err")}
        )


def train_config(config: DegradationConfig, seed: int) -> TrainConfig:
    return recipe_config(
        config,
        seed,
        ("train.eval_every", 1),
        ("train.eval_train", True),
        ("schedule.warmup", config.warmup),
        # Same schedule for every depth: the paper's lr 0.01 warm-up for 110 layers is opt-in here.
        ("schedule.error_warmup", "never"),
    )


def train_one(task: tuple[DegradationConfig, Kind, int, int]) -> RunRecord:
    config, kind, depth, seed = task
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)  # the initial weights are part of what the seed reproduces
    model = net_for(bundle, depth, shortcut=SHORTCUT[kind])
    result = fit(model, bundle, train_config(config, seed), device=config.device)
    return RunRecord(
        kind=kind,
        depth=depth,
        seed=seed,
        steps=[h["step"] for h in result.history],
        train_err=[100 * h["train_err"] for h in result.history],
        epoch_steps=[e["step"] for e in result.epochs],
        test_err=[100 * e["test_err"] for e in result.epochs],
        final_train_err=final_err_pct(result, "train_err", bundle.num_classes),
        final_test_err=final_err_pct(result, "test_err", bundle.num_classes),
        status=result.status,
        diverged_step=result.diverged_step,
        wall_s=result.wall_s,
    )


def run(config: DegradationConfig, *, progress: bool = False) -> DegradationResult:
    check_config(config)
    seeds = list(range(config.seeds))
    cached_data(config.data, config.data_dir)  # fail fast on missing data, before any training
    prov = provenance(resolve_device(config.device), seeds)
    tasks = [(config, k, d, s) for s in seeds for d in config.depths for k in KINDS]
    runs = run_all(
        train_one, tasks, workers=config.workers, device=config.device,
        progress=progress, desc="degradation runs", unit="run",
    )  # fmt: skip
    result = DegradationResult(config, finished(prov), runs)
    result.training = train_config(config, seeds[0]).to_dict()
    result.summary = summarize(runs, config)
    result.verdict = judge(runs, config.depths)
    return result


def check_config(config: DegradationConfig) -> None:
    if len(config.depths) < 2:
        raise ValueError(f"depths={config.depths} needs at least two depths to compare")
    for depth in config.depths:
        blocks_per_stage(depth, "basic")  # raises with the accepted form 6n+2
    require_at_least_one(config, "seeds")


def summarize(runs: list[RunRecord], config: DegradationConfig) -> list[dict[str, Any]]:
    rows = []
    for kind in KINDS:
        for depth in config.depths:
            group = [r for r in runs if r.kind == kind and r.depth == depth]
            train_m, train_s = mean_std([r.final_train_err for r in group])
            test_m, test_s = mean_std([r.final_test_err for r in group])
            paper = (
                PAPER_TEST_ERR.get(depth)
                if kind == "residual" and config.data == "cifar10"
                else None
            )
            rows.append(
                {
                    "kind": kind,
                    "depth": depth,
                    "seeds": len(group),
                    "train_err_mean": train_m,
                    "train_err_std": train_s,
                    "test_err_mean": test_m,
                    "test_err_std": test_s,
                    "diverged": sum(r.status == "diverged" for r in group),
                    "paper_test_err": paper,
                }
            )
    return rows


def judge(runs: list[RunRecord], depths: tuple[int, ...]) -> Verdict:
    """Deepest vs shallowest net of each kind, on final training error (percentage points).

    A gap counts beyond ``common.gap_and_threshold``'s threshold (1 point, or twice its standard
    error over seeds).
    """
    shallow, deep = min(depths), max(depths)

    def gap(kind: Kind) -> tuple[float, float]:
        return gap_and_threshold(
            [r.final_train_err for r in runs if r.kind == kind and r.depth == deep],
            [r.final_train_err for r in runs if r.kind == kind and r.depth == shallow],
        )

    plain_gap, plain_threshold = gap("plain")
    res_gap, res_threshold = gap("residual")
    observed = plain_gap > plain_threshold
    residual_ok = res_gap <= res_threshold
    text = (
        f"degradation observed: {'yes' if observed else 'no'} — plain-{deep} ends "
        f"{plain_gap:+.1f} points of training error vs plain-{shallow}; residual-{deep} "
        f"{res_gap:+.1f} vs residual-{shallow} "
        f"({'no degradation with shortcuts' if residual_ok else 'residual nets degrade too'})"
    )
    return Verdict(observed, residual_ok, plain_gap, res_gap, text)
