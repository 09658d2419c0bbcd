"""Highway networks: Srivastava, Greff & Schmidhuber 2015, "Training Very Deep Networks"
(arXiv:1507.06228), section 4.1, Figures 1 and 2, against the residual twin of He et al. 2015.

Fully connected plain, highway and residual nets of depth 10 to 100 on MNIST: does a deep plain
net fail to train where the gated (highway) and the ungated (residual) shortcut nets train, and,
at equal parameters per layer, do the gates help or hurt against plain residual units ("in
practice the simpler ResNet (without gates) performed better")? Per net we record the best
training loss (Figure 1), the test error, and after training the mean transform gate T and its
bias per layer (Figure 2).

Each net (kind, depth) gets its own learning rate, and each highway net its own initial gate
bias b_T, as in the paper, whose Figure 1 shows the best run of a random search per net over the
lr and b_T (-1 to -10): on calibration seeds (from ``CALIBRATION_SEED0``) every lr of a small
grid, and for highway nets every b_T of another, is trained; the setting with the lowest median
best training loss over those seeds (a diverged run counting at chance; the median, so that one
divergence does not decide) is the net's. The verdict uses only the confirmation runs: fresh
seeds trained at that setting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data import DataBundle
from reslab.data.bundle import Split
from reslab.data.cache import cached_data
from reslab.experiments.common import RunTask, direction, final_err_pct, mean_std
from reslab.experiments.registry import register
from reslab.experiments.spec import (
    CALIBRATION_SEED0,
    FINAL_EVAL_ONLY,
    Summary,
    TrainedConfig,
    Verdict,
    default,
    define,
    option,
)
from reslab.experiments.stats import Comparison, Threshold, combine, compare
from reslab.models import count_params
from reslab.models.highway import HIGHWAY_WIDTH, PLAIN_WIDTH, highway_mlp
from reslab.probes.gates import gate_stats
from reslab.training import fit
from reslab.training.config import TrainConfig, validate
from reslab.training.precision import resolve_device

TITLE = "Highway networks"
CLAIM = (
    "deep plain nets fail where highway and residual nets train; the ungated residual "
    "net does at least as well as the gated highway net at equal parameters"
)
PAPER = "Srivastava, Greff & Schmidhuber 2015, Fig. 1-2, Tables 1 and 3"
QUICK_TIME = "4.5 min"

KINDS = ("plain", "highway", "residual")
SHORTCUT_KINDS = ("highway", "residual")
# A gap in best training loss counts when it is at least a factor of 2 (0.3 in log10) and beyond
# twice its standard error over seeds: Figure 1's plain/highway gaps at depth 50 and 100 are
# orders of magnitude, a factor of 2 is far above seed noise at equal depth.
LOSS_FACTOR = 2.0
LOSS_FLOOR = 1e-12  # a best loss of 0 would be log(0)
# Declared before any run: plain above a shortcut net's best training loss by LOSS_FACTOR; a
# test-error difference between highway and residual counts beyond 1 point.
THRESHOLDS = {
    "loss_factor": Threshold(absolute=math.log(LOSS_FACTOR)),
    "test_err": Threshold(absolute=1.0),
}

# Figure 1 (MNIST, best of a random search of 100 runs per net): the curves are read, not
# tabulated; what they show per depth, in words.
PAPER_FIG1 = {
    10: "plain and highway alike",
    20: "plain already slower than highway",
    50: "plain far worse than highway",
    100: "plain far worse; highway as good as at 10-50",
}
# Table 1 (MNIST, convolutional 10-layer highway nets, test accuracy %, max (mean ± std of 5)).
PAPER_TABLE1 = [
    {"net": "Highway 10-layer conv, width 16", "params": 39e3, "accuracy": "99.43 (99.4±0.03)"},
    {"net": "Highway 10-layer conv, width 32", "params": 151e3, "accuracy": "99.55 (99.54±0.02)"},
]
# Table 3 (CIFAR, convolutional highway nets built like FitNets), as stated in the arXiv
# version; "Highway B" is the registered model highway_cifar19.
PAPER_TABLE3 = [
    {"net": "Highway B (19 layers)", "params": 2.3e6, "accuracy": "CIFAR-10 92.40 (92.31±0.12)"},
    {"net": "Highway (19 layers)", "params": 2.3e6, "accuracy": "CIFAR-100 67.76 (68.09±0.15)"},
]


@dataclass(kw_only=True)
class HighwayConfig(TrainedConfig):
    data: str = option("mnist", "Dataset: mnist (the paper's), mnist1d, synthetic, ...")
    kinds: tuple[str, ...] = option(KINDS, "Nets: plain, highway, residual.")
    depths: tuple[int, ...] = option(
        (10, 20, 50, 100), "Layers before the softmax: a plain first layer, then depth - 1 units."
    )
    highway_width: int = option(HIGHWAY_WIDTH, "Units per highway layer (the paper's 50).")
    plain_width: int = option(
        PLAIN_WIDTH, "Units per plain and residual layer (the paper's 71: ~ the same parameters)."
    )
    # The paper searched b_T over -1 to -10 (-1 to -3 won at depths 10 to 30). -2 was in this
    # grid until 2026-12-07 and never won at depth 50 or 100: on every calibration seed under
    # all three CPU settings it stayed at chance or diverged; -6 takes its place (fresh seeds).
    gate_biases: tuple[float, ...] = option(
        (-4.0, -6.0), "Initial transform-gate biases b_T tried per highway net in calibration "
        "(the paper searched -1 to -10; -1 to -3 won at depths 10 to 30)."
    )  # fmt: skip
    # Three, not two: the median of two seeds is their mean, so one diverged calibration run
    # decided the lr of highway-100 (chance 2.30 against 0.3 averaged above the slower lr's 1.45),
    # and with it the verdict under one CPU setting (docs/experiments.md, "History").
    calibration_seeds: int = option(
        3, "Seeds (from 1000) on which each net's lr and b_T are chosen, apart from the "
        "confirmation seeds the verdict uses."
    )  # fmt: skip
    activation: str = option("relu", "Nonlinearity of H: relu or tanh (the paper searches both).")
    recipe: str = default("recipe", "highway")  # SGD + momentum, cosine decay
    # Section 4.1 random-searches the initial lr (with momentum, decay and b_T) per net; a grid of
    # a few rates per net, chosen by one rule for all kinds, is the part of it we can afford.
    lrs: tuple[float, ...] = option(
        (0.01, 0.03), "Learning rates tried per net in calibration; each net keeps the setting "
        "with the lowest median best training loss over the calibration seeds."
    )  # fmt: skip
    epochs: int | None = default("epochs", 10)
    # Fresh confirmation seeds: the calibration grid and seed count changed after seeds 0-3 had
    # been seen (2026-12-07, docs/experiments.md).
    first_seed: int = default("first_seed", 10)
    train_size: int | None = option(
        None, "Train on the first N training samples only (None: all of them)."
    )
    log_every: int = default("log_every", 50)
    # Without it the residual net of depth 100 (no BN) diverged in its first steps at lr 0.03;
    # every net gets the same warm-up (as in the degradation quick preset).
    warmup: float = option(0.1, "Fraction of the run with a linear lr warm-up, every net alike.")

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (*FINAL_EVAL_ONLY, ("schedule.warmup", self.warmup))


PRESETS: dict[str, HighwayConfig] = {
    # Minutes on 2 CPU cores: the first 10,000 MNIST training digits (all 10,000 test digits),
    # 4 epochs, at the depths where the paper's plain nets fail, 50 and 100. Calibration (3
    # seeds: each net's lr x b_T grid, 48 runs) and confirmation (4 fresh seeds, 24 runs).
    "quick": HighwayConfig(train_size=10000, epochs=4, depths=(50, 100), seeds=4),
    # Section 4.1 and Figure 1: all of MNIST, depths 10/20/50/100, 5 seeds. The paper's nets
    # had a random search of 100 settings each; we search an lr grid and, for the highway nets,
    # a b_T grid (recipe "highway"), on calibration seeds.
    "paper": HighwayConfig(preset="paper", seeds=5, epochs=100),
}


class HighwayTask(RunTask[HighwayConfig]):
    KEY = "{kind}{depth}_lr{lr:g}_b{gate_bias:g}_seed{seed}"
    lr: float
    gate_bias: float = 0.0  # the initial b_T of a highway net; 0 (unused) for the others


@dataclass
class RunRecord:
    kind: str
    depth: int
    seed: int
    width: int
    lr: float
    params: int
    # min of the per-epoch mean loss and the final whole-split loss; chance if diverged
    best_train_loss: float
    epoch_train_loss: list[float]  # mean training loss of each epoch
    final_train_err: float  # %, whole training split, eval mode; chance if diverged
    final_test_err: float
    status: str
    diverged_step: int | None
    # Per highway layer after training, on the test split (Figure 2); empty for other kinds.
    gate_t_mean: list[float]
    gate_t_unit_std: list[float]
    gate_bias_mean: list[float]
    wall_s: float
    gate_bias: float = 0.0  # initial b_T of a highway net (0 for the other kinds)

    @property
    def calibration(self) -> bool:
        return self.seed >= CALIBRATION_SEED0


def width_of(config: HighwayConfig, kind: str) -> int:
    return config.highway_width if kind == "highway" else config.plain_width


def train_config(config: HighwayConfig, seed: int, lr: float) -> TrainConfig:
    return config.train_config(seed, ("optim.lr", lr))


def subset(bundle: DataBundle, size: int | None) -> DataBundle:
    if size is None:
        return bundle
    train = bundle.train
    return replace(bundle, train=Split(train.x[:size], train.y[:size]))  # type: ignore[index]


def build(
    config: HighwayConfig, kind: str, depth: int, bundle: DataBundle, gate_bias: float
) -> torch.nn.Module:
    return highway_mlp(
        depth, kind=kind, width=width_of(config, kind), gate_bias=gate_bias,
        activation=config.activation, num_classes=bundle.num_classes,
        in_channels=bundle.in_channels, dims=bundle.dims, input_size=bundle.input_size,
    )  # fmt: skip


def run_one(task: HighwayTask) -> RunRecord:
    config, kind, depth, lr, seed = task.config, task.kind, task.depth, task.lr, task.seed
    started = time.perf_counter()
    bundle = subset(cached_data(config.data, config.data_dir), config.train_size)
    torch.manual_seed(seed)  # the initial weights are part of what the seed reproduces
    model = build(config, kind, depth, bundle, task.gate_bias)
    result = fit(model, bundle, train_config(config, seed, lr), device=config.device)
    epoch_loss = [float(e["train_loss"]) for e in result.epochs if "train_loss" in e]
    stats = gate_stats(model, bundle, resolve_device(config.device))
    return RunRecord(
        kind=kind,
        depth=depth,
        seed=seed,
        width=width_of(config, kind),
        lr=lr,
        params=count_params(model),
        best_train_loss=best_loss(
            [*epoch_loss, result.final.get("train_loss", math.nan)],
            bundle.num_classes,
            diverged=result.status == "diverged",
        ),
        epoch_train_loss=epoch_loss,
        final_train_err=final_err_pct(result, "train_err", bundle.num_classes),
        final_test_err=final_err_pct(result, "test_err", bundle.num_classes),
        status=result.status,
        diverged_step=result.diverged_step,
        gate_t_mean=stats.t_mean,
        gate_t_unit_std=stats.t_unit_std,
        gate_bias_mean=stats.bias_mean,
        wall_s=time.perf_counter() - started,
        gate_bias=task.gate_bias,
    )


def best_loss(losses: list[float], num_classes: int, *, diverged: bool = False) -> float:
    """The lowest finite loss; a diverged run counts at chance, ln(classes), as its error does
    (``common.final_err_pct``): its weights are lost, and a learning rate that makes a net blow
    up must not win the choice of lr on the loss it had before."""
    finite = [v for v in losses if v is not None and math.isfinite(v)]
    return min(finite) if finite and not diverged else math.log(num_classes)


def biases(config: HighwayConfig, kind: str) -> tuple[float, ...]:
    return config.gate_biases if kind == "highway" else (0.0,)


def tasks(config: HighwayConfig, workdir: Path | None) -> list[HighwayTask]:
    """Calibration: every net's lr (x b_T) grid on the calibration seeds. Deepest first: the
    longest runs start while the pool is full."""
    seeds = range(CALIBRATION_SEED0, CALIBRATION_SEED0 + config.calibration_seeds)
    return [
        HighwayTask(config, k, d, lr, b, seed=s)
        for d in sorted(config.depths, reverse=True)
        for s in seeds
        for lr in config.lrs
        for k in config.kinds
        for b in biases(config, k)
    ]


def followup(config: HighwayConfig, records: list[RunRecord]) -> list[HighwayTask]:
    """Confirmation: each net at the setting calibration chose, on the confirmation seeds."""
    chosen = {(k, d): choice(records, k, d) for k in config.kinds for d in config.depths}
    return [
        HighwayTask(config, k, d, *chosen[k, d], seed=s)
        for d in sorted(config.depths, reverse=True)
        for s in config.seed_range
        for k in config.kinds
    ]


def check(config: HighwayConfig) -> None:
    unknown = [k for k in config.kinds if k not in KINDS]
    if unknown or not config.kinds or len(set(config.kinds)) != len(config.kinds):
        raise ValueError(f"kinds={config.kinds} must be distinct and among: {', '.join(KINDS)}")
    bad = [d for d in config.depths if d < 2]
    if bad or not config.depths:
        raise ValueError(f"depths={config.depths}: every depth must be >= 2 (e.g. 10,20,50,100)")
    for name in ("highway_width", "plain_width", "batch_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name}={getattr(config, name)} must be >= 1")
    if config.train_size is not None and config.train_size < config.batch_size:
        raise ValueError(
            f"train_size={config.train_size} must be >= batch_size={config.batch_size}"
        )
    if config.activation not in ("relu", "tanh"):
        raise ValueError(f"activation={config.activation!r}; accepted: relu, tanh")
    if not config.lrs or len(set(config.lrs)) != len(config.lrs) or min(config.lrs) <= 0:
        raise ValueError(f"lrs={config.lrs} must be distinct and > 0 (e.g. 0.01,0.03)")
    if not config.gate_biases or len(set(config.gate_biases)) != len(config.gate_biases):
        raise ValueError(f"gate_biases={config.gate_biases} must be distinct (e.g. -2,-4)")
    if config.calibration_seeds < 1:
        raise ValueError(f"calibration_seeds={config.calibration_seeds} must be >= 1")
    validate(train_config(config, 0, config.lrs[0]))


def _group(
    records: list[RunRecord], kind: str, depth: int, setting: tuple[float, float]
) -> list[RunRecord]:
    return sorted((r for r in records if (r.kind, r.depth, r.lr, r.gate_bias) ==
                   (kind, depth, *setting)), key=lambda r: r.seed)  # fmt: skip


def choice(records: list[RunRecord], kind: str, depth: int) -> tuple[float, float]:
    """(lr, b_T) of the calibration grid with the lowest median best training loss over the
    calibration seeds (Figure 1 shows each net's best run); ties go to the first in sorted
    order (the smaller lr, the more negative b_T)."""
    calibration = [r for r in records if r.calibration]
    tried = sorted({(r.lr, r.gate_bias) for r in calibration if (r.kind, r.depth) == (kind, depth)})
    if not tried:
        raise ValueError(f"no calibration run of {kind}{depth}; accepted: calibration_seeds >= 1")

    def median_loss(setting: tuple[float, float]) -> float:
        group = _group(calibration, kind, depth, setting)
        return float(np.median([r.best_train_loss for r in group]))

    return min(tried, key=median_loss)


def _chosen(
    config: HighwayConfig, records: list[RunRecord], kind: str, depth: int
) -> list[RunRecord]:
    """The confirmation runs of a net (trained at the setting calibration chose)."""
    return sorted((r for r in records if not r.calibration and (r.kind, r.depth) == (kind, depth)),
                  key=lambda r: r.seed)  # fmt: skip


def loss_gap(a: list[RunRecord], b: list[RunRecord]) -> tuple[Comparison, str]:
    """Best training loss of ``a`` over ``b``'s as a log-ratio over seeds (``stats.compare`` at
    ``THRESHOLDS["loss_factor"]``: a factor LOSS_FACTOR), and "higher", "lower" or "tied"."""
    la, lb = [r.best_train_loss for r in a], [r.best_train_loss for r in b]
    kw: dict[str, Any] = {"threshold": THRESHOLDS["loss_factor"], "scale": "log_ratio"}
    higher = compare(la, lb, floor=LOSS_FLOOR, **kw)
    if higher.outcome == "reproduced":
        return higher, "higher"
    lower = compare(lb, la, floor=LOSS_FLOOR, **kw).outcome == "reproduced"
    return higher, "lower" if lower else "tied"


def summarize(config: HighwayConfig, records: list[RunRecord]) -> Summary:
    rows = []
    for depth in config.depths:
        for kind in config.kinds:
            group = _chosen(config, records, kind, depth)
            loss_m, loss_s = mean_std([r.best_train_loss for r in group])
            test_m, test_s = mean_std([r.final_test_err for r in group])
            train_m, train_s = mean_std([r.final_train_err for r in group])
            rows.append({
                "kind": kind, "depth": depth, "lr": group[0].lr,
                "gate_bias": group[0].gate_bias if kind == "highway" else None,
                "width": group[0].width,
                "params": group[0].params, "seeds": len(group),
                "best_train_loss_mean": loss_m, "best_train_loss_std": loss_s,
                "train_err_mean": train_m, "train_err_std": train_s,
                "test_err_mean": test_m, "test_err_std": test_s,
                "diverged": sum(r.status == "diverged" for r in group),
                "paper_fig1": PAPER_FIG1.get(depth) if config.data == "mnist" else None,
            })  # fmt: skip
    return {
        "depths": rows,
        "lr_search": _lr_rows(config, records),
        "comparisons": _comparisons(config, records),
        "gates": _gate_rows(config, records),
        "paper_table1_mnist": PAPER_TABLE1,
        "paper_table3_cifar": PAPER_TABLE3,
    }


def _comparisons(config: HighwayConfig, records: list[RunRecord]) -> list[dict[str, Any]]:
    """Per depth: plain against each shortcut net (best training loss), and highway against
    residual (best training loss and test error)."""
    out = []
    for depth in config.depths:
        row: dict[str, Any] = {"depth": depth}
        groups = {k: _chosen(config, records, k, depth) for k in config.kinds}
        for kind in SHORTCUT_KINDS:
            if "plain" in groups and kind in groups:
                gap, outcome = loss_gap(groups["plain"], groups[kind])
                row[f"plain_vs_{kind}_log10_loss"] = gap.effect / math.log(10)
                row[f"plain_vs_{kind}_threshold"] = gap.threshold / math.log(10)
                row[f"plain_vs_{kind}"] = outcome
                row[f"plain_vs_{kind}_outcome"] = gap.outcome  # plain higher by the factor?
        if all(k in groups for k in SHORTCUT_KINDS):
            hw, res = groups["highway"], groups["residual"]
            gap, outcome = loss_gap(hw, res)
            row.update(highway_vs_residual_log10_loss=gap.effect / math.log(10),
                       highway_vs_residual_loss=outcome)  # fmt: skip
            errs = [[r.final_test_err for r in g] for g in (hw, res)]
            test, toutcome = direction(*errs, THRESHOLDS["test_err"])
            row.update(
                highway_vs_residual_test_gap=test.effect,
                highway_vs_residual_test_threshold=test.threshold,
                highway_vs_residual_test=toutcome,
            )
        out.append(row)
    return out


def _lr_rows(config: HighwayConfig, records: list[RunRecord]) -> list[dict[str, Any]]:
    """Every (net, lr, b_T) of the calibration grid: median and mean best training loss over the
    calibration seeds, divergences, and which setting won."""
    calibration = [r for r in records if r.calibration]
    rows = []
    for depth in config.depths:
        for kind in config.kinds:
            pick = choice(records, kind, depth)
            tried = {(r.lr, r.gate_bias) for r in calibration if (r.kind, r.depth) == (kind, depth)}
            for setting in sorted(tried):
                group = _group(calibration, kind, depth, setting)
                losses = [r.best_train_loss for r in group]
                loss_m, loss_s = mean_std(losses)
                rows.append({
                    "kind": kind, "depth": depth, "lr": setting[0],
                    "gate_bias": setting[1] if kind == "highway" else None,
                    "calibration_seeds": [r.seed for r in group],
                    "best_train_loss_median": float(np.median(losses)),
                    "best_train_loss_mean": loss_m, "best_train_loss_std": loss_s,
                    "diverged": sum(r.status == "diverged" for r in group),
                    "diverged_steps": [r.diverged_step for r in group if r.diverged_step],
                    "chosen": setting == pick,
                })  # fmt: skip
    return rows


def _gate_rows(config: HighwayConfig, records: list[RunRecord]) -> list[dict[str, Any]]:
    rows = []
    for depth in config.depths:
        # A diverged net's gates are NaN: the statistics are over the seeds that completed.
        runs = _chosen(config, records, "highway", depth) if "highway" in config.kinds else []
        group = [r for r in runs if r.status == "completed"]
        for layer in range(depth - 1 if group else 0):
            t = [r.gate_t_mean[layer] for r in group]
            rows.append({
                "depth": depth, "layer": layer + 2,  # layer 1 is the plain first layer
                "seeds": len(group),
                "t_mean": float(np.mean(t)), "t_mean_std": mean_std(t)[1],
                "t_unit_std": float(np.mean([r.gate_t_unit_std[layer] for r in group])),
                "bias_mean": float(np.mean([r.gate_bias_mean[layer] for r in group])),
                "bias_init": group[0].gate_bias,
            })  # fmt: skip
    return rows


def judge(config: HighwayConfig, summary: Summary) -> Verdict:
    """(1) At the deepest depth, the plain net's best training loss is higher (a factor
    LOSS_FACTOR beyond seed noise) than both shortcut nets'. (2) Highway against residual at
    equal parameters: residual better at some depth (loss or test error) and worse at none."""
    comps = {c["depth"]: c for c in summary["comparisons"]}
    deepest = comps[max(comps)]
    plain_fails = all(deepest.get(f"plain_vs_{k}") == "higher" for k in SHORTCUT_KINDS)
    # Rows saved before outcomes existed have the words alone.
    fails = combine(deepest.get(f"plain_vs_{k}_outcome") or
                    ("reproduced" if deepest.get(f"plain_vs_{k}") == "higher" else "contradicted")
                    for k in SHORTCUT_KINDS)  # fmt: skip
    fail_depths = [
        d
        for d, c in comps.items()
        if all(c.get(f"plain_vs_{k}") == "higher" for k in SHORTCUT_KINDS)
    ]
    residual_better = [d for d, c in comps.items() if _outcome(c) == "residual"]
    highway_better = [d for d, c in comps.items() if _outcome(c) == "highway"]
    gates_hurt = bool(residual_better) and not highway_better
    parts = {
        "plain_fails": fails,
        "gates_hurt": "reproduced" if gates_hurt
        else "contradicted" if highway_better else "inconclusive",
    }  # fmt: skip
    rows = {(r["kind"], r["depth"]): r for r in summary["depths"]}
    d = max(comps)
    losses = ", ".join(
        f"{k} {rows[(k, d)]['best_train_loss_mean']:.3g} (lr {rows[(k, d)]['lr']:g}"
        + (f", b_T {rows[(k, d)]['gate_bias']:g})" if k == "highway" else ")")
        for k in KINDS
        if (k, d) in rows
    )
    grid = summary.get("lr_search", [])
    diverged = {k: sum(r["diverged"] for r in grid if r["kind"] == k) for k in KINDS}
    runs = {k: sum(len(r["calibration_seeds"]) for r in grid if r["kind"] == k) for k in KINDS}
    confirmed = {k: sum(r["diverged"] for r in summary["depths"] if r["kind"] == k) for k in KINDS}
    word = {"reproduced": "fail", "contradicted": "do not fail"}.get(fails, "may fail")
    gates = {"reproduced": "hurt", "contradicted": "help"}.get(parts["gates_hurt"], "neither help "
                                                                 "nor hurt clearly")  # fmt: skip
    text = (
        f"(1) deep plain nets {word} where highway and residual nets train: best training loss "
        f"at depth {d}: {losses} (plain higher by x{LOSS_FACTOR:g}+ at depths "
        f"{', '.join(map(str, fail_depths)) or 'none'}); (2) at equal parameters the gates "
        f"{gates}: residual better at depths {', '.join(map(str, residual_better)) or 'none'}, "
        f"highway better at {', '.join(map(str, highway_better)) or 'none'}; diverged in "
        f"calibration: {', '.join(f'{k} {diverged[k]}/{runs[k]}' for k in KINDS if runs[k])}; "
        f"in confirmation: {', '.join(f'{k} {confirmed[k]}' for k in KINDS if runs[k])}"
    )
    numbers = {
        "deepest": d, "plain_fails_at_deepest": plain_fails, "plain_fails_at": fail_depths,
        "residual_better_at": residual_better, "highway_better_at": highway_better,
        "chosen_lr": {f"{k}{dd}": r["lr"] for (k, dd), r in rows.items()},
        "chosen_gate_bias": {f"highway{dd}": r["gate_bias"] for (k, dd), r in rows.items()
                             if k == "highway"},
        "diverged_in_calibration": {k: diverged[k] for k in KINDS if runs[k]},
        "diverged_in_confirmation": {k: confirmed[k] for k in KINDS if runs[k]},
    }  # fmt: skip
    return Verdict.of(parts, text, numbers)


def _outcome(comparison: dict[str, Any]) -> str | None:
    """Which shortcut net is better at one depth, on best training loss or test error; None
    when tied on both (or when they disagree)."""
    loss, test = (
        comparison.get("highway_vs_residual_loss"),
        comparison.get("highway_vs_residual_test"),
    )
    residual = loss == "higher" or test == "worse"
    highway = loss == "lower" or test == "better"
    return None if residual == highway else "residual" if residual else "highway"


def key(r: RunRecord) -> str:
    return HighwayTask.key_of(r)


def arrays(config: HighwayConfig, records: list[RunRecord]) -> dict[str, np.ndarray]:
    """``<kind><depth>_lr<lr>_seed<seed>_loss``: per-epoch mean training loss;
    ``highway<depth>_lr<lr>_seed<s>_gates``: (3, layers) mean T, unit std of T, mean bias."""
    out = {f"{key(r)}_loss": np.array(r.epoch_train_loss) for r in records}
    for r in records:
        if r.gate_t_mean:
            out[f"{key(r)}_gates"] = np.array(
                [r.gate_t_mean, r.gate_t_unit_std, r.gate_bias_mean], dtype=float
            )
    return out


EXPERIMENT = register(define(__name__, record=RunRecord, run_task=run_one))
