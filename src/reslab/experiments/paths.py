"""Effective paths (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks", section 5 and Figure 6).

A residual net of n blocks is a collection of 2^n paths; C(n, k) of them go through k residual
branches (the path length k is binomial, mean n/2). After training, Veit et al. measure the
gradient that a single path of length k carries to the input (``backward.py``: forward as usual,
backward through the branches of k random blocks and the shortcuts of the others) and find that
it shrinks exponentially with k. Weighted by how many paths have each length, almost all of the
gradient comes from paths far shorter than the net: 5-17 of 54 blocks in their ResNet-110, which
are 0.45% of all paths. We train the net with one recipe, measure the gradient magnitude of
``draws`` random paths per length k = 0..n on random training batches, and report the smallest
window of path lengths that carries 90% of the total gradient magnitude.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data.cache import cached_data
from reslab.experiments.common import SeedTask, final_err_pct, mean_std
from reslab.experiments.protocol import net_for, require_at_least_one, require_residual_shortcut
from reslab.experiments.registry import register
from reslab.experiments.spec import Summary, TrainedConfig, Verdict, default, define, option
from reslab.experiments.stats import Threshold, compare
from reslab.models.cifar import blocks_per_stage
from reslab.probes.lesions import random_lesions
from reslab.probes.paths import path_gradients, training_batches
from reslab.training import fit

TITLE = "Effective paths: residual nets train through short paths"
CLAIM = "almost all gradient comes from paths much shorter than the net"
PAPER = "Veit et al. 2016, section 5 and Figure 6"
QUICK_TIME = "3 min"

MASS = 0.9  # the share of the total gradient magnitude the reported window holds
# Veit et al. 2016, section 5 (ResNet-110 = 54 blocks, CIFAR-10): "almost all of the gradient
# updates during training come from paths between 5 and 17 modules long", "only 0.45% of all
# paths through this network" (the binomial gives 0.4537%).
PAPER_VEIT = {"blocks": 54, "k_lo": 5, "k_hi": 17, "paths_pct": 0.45}


# Declared before any run: every seed's 90% window ends below n/2 (the margin is n/2 itself).
THRESHOLDS = {"short_paths": Threshold(absolute=0.0)}


@dataclass(kw_only=True)
class PathsConfig(TrainedConfig):
    depth: int = option(56, "Depth of the net: 6n+2 (9n+2 for bottleneck blocks), e.g. 56.")
    block: str = option(
        "basic", "Block kind: basic, preact_basic (6n+2) or bottleneck, preact_bottleneck (9n+2)."
    )
    shortcut: str = option("A", "Shortcut: A, B or C (a plain net has a single path).")
    draws: int = option(
        30, "Random paths per path length k and per seed, each on its own random training "
        "batch (Veit et al.: 1,000)."
    )  # fmt: skip
    recipe: str = default("recipe", "mnist1d")
    epochs: int | None = default("epochs", 10)  # batch_size: of training and of measurement

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (("train.checkpoint_every", 0),)


PRESETS: dict[str, PathsConfig] = {
    # Minutes on 2 CPU cores: 1-D ResNet-56 (27 blocks) on MNIST-1D, trained as the lesion study
    # trains it (mnist1d recipe, 10 epochs), 30 paths per length instead of Veit et al.'s 1,000.
    "quick": PathsConfig(),
    # Veit et al. 2016, 4.1 and 5: a 110-layer (54-block) pre-activation ResNet on CIFAR-10,
    # trained as He et al. 2016 do (64k iterations), 1,000 paths per length.
    "paper": PathsConfig(
        data="cifar10", depth=110, block="preact_basic", shortcut="B", draws=1000,
        preset="paper", recipe="preact", epochs=None, steps=64000, log_every=100,
    ),
}  # fmt: skip


@dataclass
class PathsRecord:
    seed: int
    blocks: int  # n
    grad_norm: list[list[float]]  # [k][draw], k = 0..n: ||dL/dx|| of one path; [] if diverged
    test_err: float  # % after training
    train_err: float  # %, whole training split, eval mode
    status: str
    train_s: float
    measure_s: float


def path_fractions(n: int) -> np.ndarray:
    """C(n, k) / 2^n for k = 0..n: the share of the 2^n paths that have length k."""
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    return np.array([math.comb(n, k) / 2**n for k in range(n + 1)])  # exact ints, then divide


def effective_window(weights: Any, mass: float = MASS) -> tuple[int, int]:
    """The shortest run of consecutive indices [lo, hi] whose weights sum to at least ``mass``
    of the total; of equally short runs, the one holding the most."""
    w = np.asarray(weights, dtype=float)
    if not 0 < mass <= 1:
        raise ValueError(f"mass={mass} is out of range; accepted: 0 < mass <= 1")
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights={w.tolist()} must be a non-empty list of finite values >= 0")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights sum to 0: no window holds a share of nothing")
    # A relative tolerance, so that a window summing to exactly 90% in decimal counts as 90%.
    need = mass * total * (1 - 1e-12)
    cum = np.concatenate([[0.0], np.cumsum(w)])
    for width in range(1, w.size + 1):
        sums = cum[width:] - cum[:-width]  # sums[lo] = w[lo : lo + width]
        if sums.max() >= need:
            lo = int(np.argmax(sums))
            return lo, lo + width - 1
    raise AssertionError("unreachable: the whole range holds the total")


def decay_per_block(means: Any) -> float:
    """exp(slope) of the least-squares line through log(mean |g_k|) vs k: the factor by which one
    more branch on a path multiplies its gradient (Veit et al.: an exponential decrease)."""
    m = np.asarray(means, dtype=float)
    k = np.arange(m.size)
    ok = np.isfinite(m) & (m > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.exp(np.polyfit(k[ok], np.log(m[ok]), 1)[0]))


@dataclass
class SeedPaths:
    """What one trained net's measurement gives: per length, the mean gradient magnitude of a
    path and the share of the total gradient magnitude; the 90% window and its share of paths."""

    mean_grad: np.ndarray  # (n + 1,)
    share: np.ndarray  # (n + 1,), sums to 1
    k_lo: int
    k_hi: int
    paths_pct: float  # % of all 2^n paths whose length lies in [k_lo, k_hi]
    decay: float


def seed_paths(record: PathsRecord) -> SeedPaths:
    fractions = path_fractions(record.blocks)
    mean_grad = np.array([np.mean(draws) for draws in record.grad_norm])
    total = fractions * mean_grad  # Veit et al. Fig. 6(c): frequency times expected magnitude
    lo, hi = effective_window(total)
    pct = 100 * float(fractions[lo : hi + 1].sum())
    return SeedPaths(mean_grad, total / total.sum(), lo, hi, pct, decay_per_block(mean_grad))


def train_and_measure(task: SeedTask) -> PathsRecord:
    config, seed = task.config, task.seed
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)  # the initial weights are a function of the seed
    model = net_for(bundle, config.depth, block=config.block, shortcut=config.shortcut)
    result = fit(model, bundle, config.train_config(seed), device=config.device)
    n = len(model.blocks)
    errs = {k: final_err_pct(result, f"{k}_err", bundle.num_classes) for k in ("test", "train")}
    started = time.perf_counter()
    norms: list[list[float]] = []
    if result.status != "diverged":  # a diverged net has no gradient worth measuring
        # Any of the n blocks, downsampling ones included (Veit et al. count all 54), drawn as
        # the lesion study draws its deleted blocks: a pure function of (seed, k).
        paths = [random_lesions(list(range(n)), k, config.draws, seed) for k in range(n + 1)]
        device = next(model.parameters()).device
        batches = training_batches(
            bundle, batch_size=config.batch_size, count=config.draws, seed=seed, device=device
        )
        norms = path_gradients(model, batches, paths)
    return PathsRecord(
        seed=seed, blocks=n, grad_norm=norms, test_err=errs["test"], train_err=errs["train"],
        status=result.status, train_s=result.wall_s, measure_s=time.perf_counter() - started,
    )  # fmt: skip


def tasks(config: PathsConfig, workdir: Path | None) -> list[SeedTask]:
    return [SeedTask(config, seed=s) for s in config.seed_range]


def check(config: PathsConfig) -> None:
    blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    require_at_least_one(config, "draws", "batch_size")
    require_residual_shortcut(config.shortcut)


def summarize(config: PathsConfig, runs: list[PathsRecord]) -> Summary:
    measured = [r for r in runs if r.grad_norm]
    per_seed = [seed_paths(r) for r in measured]
    n = runs[0].blocks
    fractions = path_fractions(n)
    lengths = []
    for k in range(n + 1):
        grad_m, grad_s = _stat([s.mean_grad[k] for s in per_seed])
        share_m, share_s = _stat([100 * s.share[k] for s in per_seed])
        lengths.append({
            "k": k, "seeds": len(per_seed), "paths_pct": 100 * float(fractions[k]),
            "grad_mean": grad_m, "grad_std": grad_s, "share_pct_mean": share_m,
            "share_pct_std": share_s,
        })  # fmt: skip
    window: dict[str, Any] = {"net": f"resnet-{config.depth}", "seeds": len(per_seed)}
    window.update({"blocks": n, "paper_blocks": PAPER_VEIT["blocks"]})
    for name, values, paper in (
        ("k_lo", [s.k_lo for s in per_seed], PAPER_VEIT["k_lo"]),
        ("k_hi", [s.k_hi for s in per_seed], PAPER_VEIT["k_hi"]),
        ("paths_pct", [s.paths_pct for s in per_seed], PAPER_VEIT["paths_pct"]),
        ("k_lo_per_n", [s.k_lo / n for s in per_seed], PAPER_VEIT["k_lo"] / PAPER_VEIT["blocks"]),
        ("k_hi_per_n", [s.k_hi / n for s in per_seed], PAPER_VEIT["k_hi"] / PAPER_VEIT["blocks"]),
    ):
        window[f"{name}_mean"], window[f"{name}_std"] = _stat(values)
        window[f"paper_{name}"] = paper
    window["decay_per_block_mean"], window["decay_per_block_std"] = _stat(
        [s.decay for s in per_seed]
    )
    test_m, test_s = mean_std([r.test_err for r in runs])
    train_m, train_s = mean_std([r.train_err for r in runs])
    trained = {
        "net": f"resnet-{config.depth}", "seeds": len(runs), "test_err_mean": test_m,
        "test_err_std": test_s, "train_err_mean": train_m, "train_err_std": train_s,
        "diverged": sum(r.status == "diverged" for r in runs),
    }  # fmt: skip
    return {
        "effective_paths": [window],
        "path_lengths": lengths,
        "trained_net": [trained],
        "blocks": n,
        # Per measured seed (seed order): what the verdict is computed from.
        "seeds_measured": [r.seed for r in measured],
        "k_lo": [s.k_lo for s in per_seed],
        "k_hi": [s.k_hi for s in per_seed],
        "paths_pct": [s.paths_pct for s in per_seed],
        "diverged": [r.seed for r in runs if not r.grad_norm],
        # The window if every path carried the same gradient: the binomial's own 90% window.
        "equal_gradient_window": list(effective_window(fractions)),
    }


def _stat(values: list[float]) -> tuple[float | None, float | None]:
    return mean_std(values) if values else (None, None)


def judge(config: PathsConfig, summary: Summary) -> Verdict:
    """Are the effective paths much shorter than the net?

    Rule: on every seed, the longest path length in the 90% window is at most n/2, the mean
    path length. If every path carried the same gradient the window would be the binomial's own,
    centred on n/2 (9-17 of 27 blocks), so its upper end would lie above n/2; an upper end
    at or below n/2 means that paths longer than half the net, half of all paths, together
    carry less than a tenth of the gradient. Veit et al.'s 17 of 54 passes with room to spare.
    Judged by ``stats.compare`` of n/2 against the per-seed upper ends (below it, beyond the
    seeds' spread). A seed that diverged has no measurement: the claim is then inconclusive.
    """
    n, k_lo, k_hi = summary["blocks"], summary["k_lo"], summary["k_hi"]
    limit = n / 2
    diverged = summary["diverged"]
    equal = summary["equal_gradient_window"]
    veit = PAPER_VEIT
    paper = f"Veit et al.: {veit['k_lo']}-{veit['k_hi']} of {veit['blocks']} blocks, "
    paper += f"{veit['paths_pct']}% of paths"
    if not k_hi:
        text = f"effective paths much shorter than the net: unclear — all seeds diverged {diverged}"
        numbers = {"short_paths": False, "blocks": n, "diverged": diverged}
        return Verdict.of({"short_paths": "inconclusive"}, text, numbers)
    # "At most n/2" for whole path lengths is "below floor(n/2) + 1/2".
    bound = math.floor(limit) + 0.5
    shorter = compare([bound] * len(k_hi), k_hi, threshold=THRESHOLDS["short_paths"])
    outcome = "inconclusive" if diverged and shorter.outcome == "reproduced" else shorter.outcome
    ok = outcome == "reproduced"
    pct_m, pct_s = mean_std(summary["paths_pct"])
    windows = ", ".join(f"{lo}-{hi}" for lo, hi in zip(k_lo, k_hi, strict=True))
    longest = max(k_hi)
    text = (
        f"effective paths much shorter than the net: "
        f"{ {'reproduced': 'yes', 'contradicted': 'no'}.get(outcome, 'unclear') } — {MASS:.0%} of "
        f"the gradient magnitude comes from paths of {windows} of {n} blocks (per seed), "
        f"{pct_m:.3g} ± {pct_s:.2g}% of all paths; the longest, {longest}, is "
        f"{'within' if longest <= limit else 'beyond'} n/2 = {limit:g}; with the same gradient "
        f"on every path it would be {equal[0]}-{equal[1]}. {paper}"
    )
    if diverged:
        text += f". Diverged seeds: {diverged}"
    numbers = {
        "short_paths": ok,  # k_hi <= n/2 on every seed, and no seed diverged
        "blocks": n,
        "k_hi_limit": limit,  # n/2, the mean path length
        "k_lo_per_seed": k_lo,
        "k_hi_per_seed": k_hi,
        "k_hi_max": max(k_hi),
        "paths_pct_mean": pct_m,  # % of all 2^n paths inside the window, mean over seeds
        # The window's centre as a fraction of the depth (Veit et al.: 11 / 54 = 0.20).
        "window_center_per_n": float(np.mean(np.add(k_lo, k_hi)) / 2 / n),
        "equal_gradient_window": equal,
        "diverged": diverged,
    }
    return Verdict.of({"short_paths": outcome}, text, numbers)


def arrays(config: PathsConfig, runs: list[PathsRecord]) -> dict[str, np.ndarray]:
    return {f"{SeedTask.key_of(r)}_grad_norm": np.array(r.grad_norm, dtype=float) for r in runs}


EXPERIMENT = register(define(__name__, record=PathsRecord, run_task=train_and_measure))
