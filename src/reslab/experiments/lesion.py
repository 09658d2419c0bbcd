"""Lesion study (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks", section 4, Figures 3 and 5).

A residual net and its plain twin are trained with one recipe; then, at test time only, residual
blocks are deleted and the test error measured: each block alone (their Fig. 3), and k random
blocks at once for k = 1..n (their Fig. 5). Deleted downsampling blocks are reported separately,
as Veit et al. do. ``lesions.py`` says what deleting a block means for each kind of block.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data import DataBundle, make_loader
from reslab.data.cache import cached_data
from reslab.experiments.common import Kind, KindTask, mean_std
from reslab.experiments.protocol import (
    chance_err,
    net_for,
    require_at_least_one,
    require_residual_shortcut,
)
from reslab.experiments.registry import register
from reslab.experiments.spec import Summary, TrainedConfig, Verdict, default, define, option
from reslab.experiments.stats import Threshold, combine, compare
from reslab.models import cifar_resnet
from reslab.models.cifar import blocks_per_stage
from reslab.models.resnet import ResNet
from reslab.probes.lesions import lesionable, lesioned, random_lesions, same_shape_blocks
from reslab.training import evaluate, fit

TITLE = "Lesion study: residual networks behave like ensembles"
CLAIM = "deleting one block barely hurts a residual net but breaks its plain twin"
PAPER = "Veit et al. 2016, section 4, Figures 3 and 5"
QUICK_TIME = "2 min"

KINDS: tuple[Kind, ...] = ("residual", "plain")  # its own order: the residual net first
NEAR_CHANCE = 10.0  # percentage points below chance error that still count as "at chance"
# Damage of a deletion = (error with it - intact error) / (chance error - intact error): 0 is no
# effect, 1 is chance. Veit et al. (4.1) find single deletions "do not noticeably affect" a
# residual net and send a plain one to chance; with few seeds and short training we call a
# typical (median) deletion tolerated below TOLERATED and a collapse above COLLAPSED.
TOLERATED, COLLAPSED = 0.2, 0.8
# Declared before any run: a residual net's typical deletion stays below TOLERATED (the margin
# is the constant's own), and its plain twin's typical deletion does at least 0.2 more damage.
THRESHOLDS = {"residual_tolerates": Threshold(absolute=0.0),
              "plain_hurt_more": Threshold(absolute=0.2)}  # fmt: skip


@dataclass(kw_only=True)
class LesionConfig(TrainedConfig):
    seeds: int = option(2, "Number of seeds (0..N-1); each trains a residual net and its twin.")
    depth: int = option(56, "Depth of both nets: 6n+2 (9n+2 for bottleneck blocks), e.g. 56.")
    block: str = option(
        "basic", "Block kind: basic, preact_basic (6n+2) or bottleneck, preact_bottleneck (9n+2)."
    )
    shortcut: str = option("A", "The residual net's shortcut: A, B or C (its twin has none).")
    draws: int = option(5, "Random sets of k blocks deleted per k and per seed.")
    recipe: str = default("recipe", "mnist1d")
    epochs: int | None = default("epochs", 10)

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (("train.checkpoint_every", 0),)


PRESETS: dict[str, LesionConfig] = {
    # Minutes on 2 CPU cores: 1-D ResNet-56 (27 blocks) on MNIST-1D with the mnist1d recipe
    # (10 epochs; at 6, ResNet-56 still had 10-20% test error).
    "quick": LesionConfig(),
    # Veit et al. 2016, 4.1: a 110-layer (54-block) pre-activation ResNet on CIFAR-10, trained as
    # He et al. 2016 do (64k iterations); projection shortcuts where the shape changes.
    "paper": LesionConfig(
        data="cifar10", depth=110, block="preact_basic", shortcut="B", preset="paper",
        recipe="preact", epochs=None, steps=64000, log_every=100,
    ),
}  # fmt: skip


@dataclass
class LesionRecord:
    kind: Kind
    seed: int
    baseline_err: float  # test error (%) of the intact net
    train_err: float  # final training error (%), whole split, eval mode
    single_err: list[float | None]  # test error (%) with block i deleted; None: cannot delete
    random_err: list[list[float]]  # [k - 1][draw]: test error (%) with k random blocks deleted
    status: str
    wall_s: float


def build_net(config: LesionConfig, kind: Kind, bundle: DataBundle) -> ResNet:
    shortcut = config.shortcut if kind == "residual" else "none"
    return net_for(bundle, config.depth, block=config.block, shortcut=shortcut)


def train_and_lesion(task: KindTask) -> LesionRecord:
    config, kind, seed = task.config, task.kind, task.seed
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)  # the initial weights are a function of the seed
    model = build_net(config, kind, bundle)
    result = fit(model, bundle, config.train_config(seed), device=config.device)
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


def tasks(config: LesionConfig, workdir: Path | None) -> list[KindTask]:
    return [KindTask(config, k, seed=s) for s in config.seed_range for k in KINDS]


def check(config: LesionConfig) -> None:
    blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    require_at_least_one(config, "draws")
    require_residual_shortcut(config.shortcut)
    net = cifar_resnet(config.depth, block=config.block, shortcut=config.shortcut)
    if not same_shape_blocks(net):
        raise ValueError(
            f"depth={config.depth} with {config.block} blocks has no same-shape block to delete; "
            "accepted: a depth with at least two blocks per stage"
        )


def summarize(config: LesionConfig, runs: list[LesionRecord]) -> Summary:
    bundle = cached_data(config.data, config.data_dir)
    shape = build_net(config, "residual", bundle)  # block layout only; both kinds share it
    downsampling = [b.changes_shape for b in shape.blocks]
    stage_of = [s + 1 for s, stage in enumerate(shape.stages) for _ in stage]
    blocks = []
    for i, down in enumerate(downsampling):
        row: dict[str, Any] = {"block": i, "stage": stage_of[i], "downsampling": down}
        for kind in KINDS:
            errs = [r.single_err[i] for r in runs if r.kind == kind]
            m, s = mean_std(errs) if None not in errs else (None, None)
            row.update({f"{kind}_err_mean": m, f"{kind}_err_std": s})
        blocks.append(row)
    intact = []
    for kind in KINDS:
        group = [r for r in runs if r.kind == kind]
        test_m, test_s = mean_std([r.baseline_err for r in group])
        train_m, train_s = mean_std([r.train_err for r in group])
        intact.append({
            "kind": kind, "seeds": len(group), "test_err_mean": test_m, "test_err_std": test_s,
            "train_err_mean": train_m, "train_err_std": train_s,
            "diverged": sum(r.status == "diverged" for r in group),
        })  # fmt: skip
    return {
        "intact_nets": intact,
        "blocks": blocks,
        "downsampling": downsampling,  # per block: changes shape
        "stage_of": stage_of,  # per block: its stage (1-based)
        "candidates": same_shape_blocks(shape),  # blocks drawn from for k deletions
        "chance_err": chance_err(bundle.num_classes),
        # Per kind, one list per seed (in seed order): what the verdict is computed from.
        "baseline_err": {k: [r.baseline_err for r in runs if r.kind == k] for k in KINDS},
        "single_err": {k: [r.single_err for r in runs if r.kind == k] for k in KINDS},
    }


def judge(config: LesionConfig, summary: Summary) -> Verdict:
    """Does the residual net tolerate the deletions its plain twin does not (Veit et al., 4.1)?"""
    same, chance, depth = summary["candidates"], summary["chance_err"], config.depth
    down = [i for i, d in enumerate(summary["downsampling"]) if d]
    res, res_damage = _rises(summary, "residual", same)
    plain, plain_damage = _rises(summary, "plain", same)
    plain_single = summary["single_err"]["plain"]
    plain_err = np.mean([[errs[i] for i in same] for errs in plain_single], axis=0)
    near = int(np.sum(plain_err >= chance - NEAR_CHANCE))
    down_rise = float(_rises(summary, "residual", down)[0].mean()) if down else math.nan
    base = {k: mean_std(summary["baseline_err"][k])[0] for k in KINDS}
    r_dmg, p_dmg = float(np.median(res_damage)), float(np.median(plain_damage))
    # Per seed, the median damage of a single deletion: the stats module's per-seed values.
    seeds = {k: _seed_damage(summary, k, same) for k in KINDS}
    tolerated = compare([TOLERATED] * len(seeds["residual"]), seeds["residual"],
                        threshold=THRESHOLDS["residual_tolerates"])  # fmt: skip
    less = compare(seeds["plain"], seeds["residual"], threshold=THRESHOLDS["plain_hurt_more"])
    parts = {"residual_tolerates": tolerated.outcome, "plain_hurt_more": less.outcome}
    ok = combine(parts.values()) == "reproduced"
    worst = same[int(np.argmax(res))]
    word = {"reproduced": "ensemble-like", "contradicted": "not ensemble-like"}.get(
        combine(parts.values()), "ensemble-like: unclear"
    )
    text = (
        f"{word}: deleting one non-downsampling block "
        f"of residual-{depth} raises test error by {np.median(res):+.1f} points in the median "
        f"({100 * r_dmg:.0f}% of the way to chance), at most {res.max():+.1f} (block "
        f"{worst + 1}); intact {base['residual']:.1f}%. Plain-{depth}: median "
        f"{np.median(plain):+.1f} points ({100 * p_dmg:.0f}% of the way to chance; {near} of "
        f"{len(same)} within {NEAR_CHANCE:.0f} points of chance, {chance:.0f}%); "
        f"intact {base['plain']:.1f}%"
    )
    if down:
        text += f". Residual downsampling blocks: {down_rise:+.1f} points on average"
    numbers = {
        "ensemble_like": ok,  # residual: typical deletion tolerated, and less damaging than plain's
        "plain_collapses": p_dmg > COLLAPSED,  # plain: a typical deletion goes most of the way
        "residual_median_rise": float(np.median(res)),  # points over the intact net, seed mean
        "residual_max_rise": float(res.max()),
        "worst_block": worst,  # the residual block whose deletion hurts most (0-based)
        "residual_median_damage": r_dmg,  # fraction of the way from the intact error to chance
        "plain_median_rise": float(np.median(plain)),
        "plain_median_damage": p_dmg,
        "plain_near_chance": near,  # single plain deletions within NEAR_CHANCE points of chance
        "candidates": len(same),  # deletable same-shape blocks
        "downsampling_rise": down_rise,  # residual net, mean over its shape-changing blocks
        "plain_minus_residual_damage": less.effect, "plain_minus_residual_se": less.se,
    }  # fmt: skip
    return Verdict.of(parts, text, numbers)


def _seed_damage(summary: Summary, kind: Kind, blocks: list[int]) -> list[float]:
    """Per seed, the median over ``blocks`` of a single deletion's damage (as defined above)."""
    out = []
    for errs, base in zip(summary["single_err"][kind], summary["baseline_err"][kind], strict=True):
        headroom = max(summary["chance_err"] - base, 1.0)
        out.append(float(np.median([(errs[i] - base) / headroom for i in blocks])))
    return out


def _rises(summary: Summary, kind: Kind, blocks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per block, mean over seeds: (rise in test error in points, damage as defined above)."""
    single = summary["single_err"][kind]
    errs = np.array([[errs[i] for i in blocks] for errs in single], dtype=float)
    base = np.array([[b] for b in summary["baseline_err"][kind]])
    # At least one point of headroom: a net already at chance (diverged) has nothing to lose.
    headroom = np.maximum(summary["chance_err"] - base, 1.0)
    return (errs - base).mean(axis=0), ((errs - base) / headroom).mean(axis=0)


def arrays(config: LesionConfig, runs: list[LesionRecord]) -> dict[str, np.ndarray]:
    out = {}
    for r in runs:
        key = KindTask.key_of(r)
        single = [math.nan if e is None else e for e in r.single_err]
        out[f"{key}_single"] = np.array(single, dtype=float)
        out[f"{key}_random"] = np.array(r.random_err, dtype=float)
        out[f"{key}_baseline"] = np.array([r.baseline_err])
    return out


EXPERIMENT = register(define(__name__, record=LesionRecord, run_task=train_and_lesion))
