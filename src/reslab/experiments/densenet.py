"""Concatenation against addition: Huang et al. 2017, "Densely Connected Convolutional Networks".

Claim: DenseNet's x_l = H_l([x_0, ..., x_{l-1}]) improves gradient flow and feature reuse but
increases memory requirements. We train a DenseNet-BC and a ResNet with the same number of
parameters (within ``param_tolerance``) on the same recipe over several seeds, with the ResNet's
plain twin (the same builder with ``shortcut="none"``: option-A shortcuts have no parameters, so
it has exactly the ResNet's), and measure:

- test error (the paper's Table 2 beside it);
- per-layer gradient norms at initialisation and after training: the RMS gradient of each
  unit's parameters (dense layer or residual block), first unit relative to the last; the plain
  net's is the reference for what a vanishing gradient looks like on this measure;
- feature reuse (section 5, Figure 5): the average absolute weight each layer puts on each
  earlier layer's features, and how strong the older sources are relative to the strongest;
- peak training memory per sample (one SGD step; ``experiments/memory.py``): the slope of the
  peak between two batch sizes, for the ResNet, the DenseNet and the DenseNet with the
  memory-efficient concatenation (Pleiss et al. 2017; torchvision's ``memory_efficient``).

The verdict tests the two halves separately: (a) gradient flow, with the check that the
measure sees the plain net's vanishing gradient at all, (b) memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reslab.data import DataBundle
from reslab.data.cache import cached_data
from reslab.experiments.common import SHORTCUT, SeedTask, final_err_pct, mean_std
from reslab.experiments.protocol import require_at_least_one
from reslab.experiments.registry import register
from reslab.experiments.spec import (
    FINAL_EVAL_ONLY,
    Summary,
    TrainedConfig,
    Verdict,
    default,
    define,
    option,
)
from reslab.experiments.stats import Comparison, Threshold, compare
from reslab.models import cifar_densenet, cifar_resnet, count_params
from reslab.models.cifar import blocks_per_stage
from reslab.models.densenet import layers_per_block
from reslab.probes.gradients import measurement_batches, unit_grad_rms
from reslab.probes.memory import memory_kind, memory_peak, memory_start
from reslab.probes.reuse import old_source_weight, reuse_maps
from reslab.training import fit
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything

TITLE = "Concatenation vs addition (DenseNet)"
CLAIM = "dense concatenation improves gradient flow and feature reuse but costs memory"
PAPER = "Huang et al. 2017, Table 2 and Figure 5"
QUICK_TIME = "3 min"

# The plain net is the ResNet with ``shortcut="none"`` (``common.SHORTCUT``): the reference for
# the vanishing gradient that dense connections are said to alleviate (Huang et al. 2017, sec. 1).
NETS = ("densenet", "resnet", "plain")
MEMORY_VARIANTS = ("resnet", "densenet", "densenet_efficient")
# Table 2 of Huang et al. 2017: CIFAR-10 test error (%), C10 without and C10+ with augmentation.
PAPER_TABLE2: dict[str, dict[str, Any]] = {
    "densenet": {"paper_net": "DenseNet-BC (k=12), L=100, 0.8M", "paper_c10": 5.92,
                 "paper_c10_plus": 4.51},
    "resnet": {"paper_net": "ResNet-110, 1.7M", "paper_c10": 13.63, "paper_c10_plus": 6.41},
    # Table 2 has no plain net (He et al. 2015 show plain nets on CIFAR-10 in Figure 6 only).
    "plain": {"paper_net": "none in Table 2", "paper_c10": None, "paper_c10_plus": None},
}  # fmt: skip
PAPER_DENSENET40 = {"paper_net": "DenseNet (k=12), L=40, 1.0M", "paper_c10": 7.00,
                    "paper_c10_plus": 5.24}  # fmt: skip
# Declared before any run: the ResNet's |log10 first/last gradient| must exceed the DenseNet's by
# at least 0.1 (a factor 1.26), and the DenseNet's memory per sample the ResNet's by 10%. The
# plain net's must exceed the ResNet's by the same 0.1: the measure has to see the vanishing
# gradient that shortcuts remove (He et al. 2016, eq. 5) before it can rank two nets that have
# shortcuts, else gradient_flow means nothing. Declared 2026-12-06, before the plain net ran.
THRESHOLDS = {
    "gradient_flow": Threshold(absolute=0.1),
    "plain_vanishes": Threshold(absolute=0.1),
    "more_memory": Threshold(relative=0.1),
}
HOLDS = {"reproduced": "holds", "contradicted": "does not hold"}  # a part's outcome, in words


@dataclass(kw_only=True)
class DenseNetConfig(TrainedConfig):
    dense_depth: int = option(40, "Depth of the DenseNet-BC (6n+4).")
    growth_rate: int = option(12, "Growth rate k of the DenseNet-BC.")
    resnet_depth: int = option(56, "Depth of the ResNet (6n+2, option-A shortcuts).")
    resnet_width: int = option(10, "First-stage width of the ResNet, chosen to match parameters.")
    param_tolerance: float = option(
        0.05, "Largest relative parameter difference of the two nets the verdict accepts."
    )
    recipe: str = default("recipe", "mnist1d")
    epochs: int | None = default("epochs", 10)
    # Fresh confirmation seeds: the plain twin became part (a)'s control (not a part of its own)
    # after seeds 0-2 had been seen (docs/experiments.md, densenet).
    first_seed: int = default("first_seed", 3)
    batches: int = option(2, "Train batches the per-layer gradient norms are averaged over.")
    memory_batches: tuple[int, ...] = option(
        (64, 256), "Two batch sizes: memory per sample is the slope of the peak between them."
    )
    isolate: bool = option(
        True, "Every run in a fresh process, so that a CPU run's peak memory is its own."
    )

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return FINAL_EVAL_ONLY


PRESETS: dict[str, DenseNetConfig] = {
    # Minutes on 2 CPU cores: MNIST-1D, 1-D DenseNet-BC-40 (k=12, 113,338 parameters) against a
    # 1-D ResNet-56 of width 10 (113,380) and its plain twin, the mnist1d recipe for 10 epochs,
    # 3 seeds.
    "quick": DenseNetConfig(),
    # Huang et al. 2017, section 4.2: CIFAR-10 with augmentation (C10+), SGD with Nesterov
    # momentum 0.9, batch 64, 300 epochs, lr 0.1 divided by 10 at 50% and 75%, weight decay
    # 1e-4; DenseNet-BC-100 (k=12, 769,162 parameters) against ResNet-50 of width 16 (755,802).
    "paper": DenseNetConfig(
        data="cifar10",
        preset="paper",
        dense_depth=100,
        resnet_depth=50,
        resnet_width=16,
        recipe="paper",
        epochs=300,
        batch_size=64,
        log_every=100,
        memory_batches=(32, 64),
        overrides=("optim.nesterov=true", "schedule.error_warmup=never"),
    ),
}


@dataclass
class TrainRecord:
    net: str  # one of NETS
    seed: int
    params: int
    final_train_err: float  # %, whole training split, eval mode; chance if diverged
    final_test_err: float
    status: str
    # Per unit (``model.blocks`` order): ||dLoss/dtheta_l|| / sqrt(#theta_l), the RMS gradient
    # of its parameters, mean over the measurement batches.
    grad_init: list[float]
    grad_trained: list[float]
    # Figure 5's maps per dense block (DenseNet only; NaN above the diagonal).
    reuse_init: list[list[list[float]]] | None
    reuse_trained: list[list[list[float]]] | None
    wall_s: float


@dataclass
class MemoryRecord:
    variant: str  # "resnet", "densenet" or "densenet_efficient"
    batch: int
    seed: int
    params: int
    base_mb: float  # after the model and optimizer were built
    peak_mb: float  # during one training step (forward, backward, SGD update)
    kind: str  # what was measured (memory_kind)


class TrainTask(SeedTask[DenseNetConfig]):
    KEY = "{net}_seed{seed}"
    net: str  # one of NETS


class MemoryTask(SeedTask[DenseNetConfig]):
    KEY = "memory_{variant}_b{batch}_seed{seed}"
    variant: str  # one of MEMORY_VARIANTS
    batch: int


DenseNetTask = TrainTask | MemoryTask
Row = dict[str, Any]


def build(config: DenseNetConfig, net: str, bundle: DataBundle) -> nn.Module:
    shape = {"dims": bundle.dims, "in_channels": bundle.in_channels,
             "num_classes": bundle.num_classes}  # fmt: skip
    if net in ("resnet", "plain"):
        # One builder for both: the plain net differs from the ResNet in its shortcuts alone.
        shortcut = SHORTCUT["plain"] if net == "plain" else SHORTCUT["residual"]
        return cifar_resnet(
            config.resnet_depth, width=config.resnet_width, shortcut=shortcut, **shape
        )
    return cifar_densenet(
        config.dense_depth, config.growth_rate,
        memory_efficient=net == "densenet_efficient", **shape,
    )  # fmt: skip


def train_one(config: DenseNetConfig, net: str, seed: int) -> TrainRecord:
    started = time.perf_counter()
    bundle = cached_data(config.data, config.data_dir)
    device = resolve_device(config.device)
    batches = measurement_batches(bundle, config.batches, config.batch_size, device)
    seed_everything(seed)  # the initial weights are part of what the seed reproduces
    model = build(config, net, bundle).to(device)
    grad_init = unit_grad_rms(model, batches)
    reuse_init = _maps(model) if net == "densenet" else None
    result = fit(model, bundle, config.train_config(seed), device=device)
    return TrainRecord(
        net=net, seed=seed, params=count_params(model),
        final_train_err=final_err_pct(result, "train_err", bundle.num_classes),
        final_test_err=final_err_pct(result, "test_err", bundle.num_classes),
        status=result.status, grad_init=grad_init, grad_trained=unit_grad_rms(model, batches),
        reuse_init=reuse_init, reuse_trained=_maps(model) if net == "densenet" else None,
        wall_s=time.perf_counter() - started,
    )  # fmt: skip


def _maps(model: nn.Module) -> list[list[list[float]]]:
    return [m.tolist() for m in reuse_maps(model)]  # type: ignore[arg-type]


def memory_one(config: DenseNetConfig, variant: str, batch: int, seed: int) -> MemoryRecord:
    """Peak memory of one SGD step at ``batch``, above what the built model and optimizer hold."""
    bundle = cached_data(config.data, config.data_dir)
    device = resolve_device(config.device)
    seed_everything(seed)
    model = build(config, variant, bundle).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *bundle.input_size, device=device)
    y = torch.randint(0, bundle.num_classes, (batch,), device=device)
    base = memory_start(device)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    peak = max(memory_peak(device), base)
    return MemoryRecord(
        variant=variant, batch=batch, seed=seed, params=count_params(model), base_mb=base,
        peak_mb=peak, kind=memory_kind(device, fresh_process(config)),
    )  # fmt: skip


def run_one(task: DenseNetTask) -> TrainRecord | MemoryRecord:
    if isinstance(task, MemoryTask):
        return memory_one(task.config, task.variant, task.batch, task.seed)
    return train_one(task.config, task.net, task.seed)


def tasks(config: DenseNetConfig, workdir: Path | None) -> list[DenseNetTask]:
    seeds = config.seed_range
    train: list[DenseNetTask] = [TrainTask(config, n, seed=s) for s in seeds for n in NETS]
    memory: list[DenseNetTask] = [
        MemoryTask(config, v, b, seed=s)
        for s in seeds
        for v in MEMORY_VARIANTS
        for b in config.memory_batches
    ]
    return train + memory


def fresh_process(config: DenseNetConfig) -> bool:
    # A process's peak RSS never goes down: a run in a process of its own measures its own peak.
    return config.isolate


def check(config: DenseNetConfig) -> None:
    layers_per_block(config.dense_depth)  # raises: a DenseNet-BC's depth must be 6n+4
    blocks_per_stage(config.resnet_depth, "basic")  # raises: depth must be 6n+2
    b = config.memory_batches
    if len(b) != 2 or not 0 < b[0] < b[1]:
        raise ValueError(f"memory_batches={b} must be two increasing batch sizes, e.g. (64, 256)")
    require_at_least_one(config, "growth_rate", "resnet_width", "batches")


def summarize(config: DenseNetConfig, records: list[Any]) -> Summary:
    runs = sorted((r for r in records if isinstance(r, TrainRecord)), key=lambda r: r.seed)
    groups = {n: [r for r in runs if r.net == n] for n in NETS}
    params = {n: groups[n][0].params for n in NETS}
    difference = abs(params["densenet"] - params["resnet"]) / params["resnet"]
    per_seed: dict[str, dict[str, list[float]]] = {n: {} for n in (*NETS, "memory")}
    mems = [r for r in records if isinstance(r, MemoryRecord)]
    return {
        "nets": [_net_row(n, groups[n], per_seed[n]) for n in NETS],
        "params": {**params, "relative_difference": difference},
        "memory": _memory_rows(config, mems, per_seed["memory"]),
        "per_seed": per_seed,
        "gradient_profiles": {n: _mean_profiles(groups[n]) for n in NETS},
        "reuse_maps": {w: _mean_maps(groups["densenet"], w) for w in ("init", "trained")},
        "paper_densenet40": PAPER_DENSENET40,
    }


def _mean_profiles(group: list[TrainRecord]) -> dict[str, list[float]]:
    parts = ("grad_init", "grad_trained")
    return {p: np.mean([getattr(r, p) for r in group], axis=0).tolist() for p in parts}


def _mean_maps(group: list[TrainRecord], when: str) -> list[list[list[float]]]:
    # Per dense block, the seeds' maps averaged cell by cell.
    per_seed = [getattr(r, f"reuse_{when}") for r in group]
    return [np.mean(block, axis=0).tolist() for block in zip(*per_seed, strict=True)]


def first_over_last(profile: list[float]) -> float:
    """log10 of the first unit's RMS gradient over the last's: 0 when the gradient reaching the
    first unit is as large as at the last, negative when it shrinks on the way back."""
    return math.log10(profile[0] / profile[-1]) if profile[0] > 0 < profile[-1] else float("nan")


def _net_row(net: str, group: list[TrainRecord], per_seed: dict[str, list[float]]) -> Row:
    """One net's row of scalars; its per-seed values go into ``per_seed`` (the verdict weighs
    gaps against their spread over seeds)."""
    test_m, test_s = mean_std([r.final_test_err for r in group])
    train_m, train_s = mean_std([r.final_train_err for r in group])
    row: Row = {
        "net": net, "params": group[0].params, "seeds": len(group),
        "test_err_mean": test_m, "test_err_std": test_s,
        "train_err_mean": train_m, "train_err_std": train_s,
        "diverged": sum(r.status == "diverged" for r in group),
    }  # fmt: skip
    for when in ("init", "trained"):
        per_seed[f"log10_grad_first_over_last_{when}"] = [
            first_over_last(getattr(r, f"grad_{when}")) for r in group
        ]
        if net == "densenet":
            per_seed[f"reuse_{when}"] = [
                float(
                    np.mean([old_source_weight(np.array(m)) for m in getattr(r, f"reuse_{when}")])
                )
                for r in group
            ]
    for key, values in per_seed.items():
        row[f"{key}_mean"], row[f"{key}_std"] = mean_std(values)
    return {**row, **PAPER_TABLE2[net]}


def _memory_rows(
    config: DenseNetConfig, mems: list[MemoryRecord], per_seed: dict[str, list[float]]
) -> list[Row]:
    small, large = config.memory_batches
    rows = []
    for variant in MEMORY_VARIANTS:
        at = {(r.seed, r.batch): r.peak_mb - r.base_mb for r in mems if r.variant == variant}
        seeds = sorted({s for s, _ in at})
        per_seed[variant] = [(at[s, large] - at[s, small]) / (large - small) for s in seeds]
        mean, std = mean_std(per_seed[variant])
        first = next(r for r in mems if r.variant == variant)
        rows.append({
            "variant": variant, "params": first.params, "seeds": len(seeds),
            "mb_per_sample_mean": mean, "mb_per_sample_std": std,
            "batches": f"{small}, {large}", "kind": first.kind,
        })  # fmt: skip
    base = rows[0]["mb_per_sample_mean"]
    for row in rows:
        row["vs_resnet"] = row["mb_per_sample_mean"] / base if base > 0 else float("nan")
    return rows


def judge(config: DenseNetConfig, summary: Summary) -> Verdict:
    """(a) gradient flow: after training, the DenseNet's first unit gets an RMS gradient closer
    to its last unit's than the ResNet's does: |log10(first/last)| smaller (a ratio of 1 is a
    gradient that reaches every unit alike; both nets' ratios lie above 1, so "higher" would mean
    *less* uniform); and the plain twin's |log10(first/last)| exceeds the ResNet's
    (``plain_vanishes``, the control): the measure tells the gradient of a net without shortcuts
    from one with them, else it cannot rank the DenseNet against the ResNet and (a) is
    inconclusive; (b) memory: the DenseNet needs
    more training memory per sample than the ResNet of equal size. Each by ``stats.compare`` at
    the declared ``THRESHOLDS``. Feature reuse (Figure 5) and the memory-efficient mode's saving
    are reported beside them, not judged: the paper's Figure 5 is a DenseNet-40 after 300
    epochs, and at quick scale the reuse measure is already at its trained value at
    initialisation."""
    nets = {r["net"]: r for r in summary["nets"]}
    dense, res = nets["densenet"], nets["resnet"]
    seeds = summary["per_seed"]
    spread = {n: trained_spread(seeds[n]) for n in NETS}
    flow = _compare_finite(spread["resnet"], spread["densenet"], THRESHOLDS["gradient_flow"])
    vanish = _compare_finite(spread["plain"], spread["resnet"], THRESHOLDS["plain_vanishes"])
    reuse = dense["reuse_trained_mean"]
    reuse_init = dense.get("reuse_init_mean", float("nan"))
    mem = {r["variant"]: r for r in summary["memory"]}
    memory = seeds["memory"]
    more = compare(memory["densenet"], memory["resnet"], threshold=THRESHOLDS["more_memory"])
    saving = compare(memory["densenet"], memory["densenet_efficient"], threshold=Threshold())
    matched = summary["params"]["relative_difference"] <= config.param_tolerance
    # The plain twin is the control of part (a): unless the measure sees the plain net's
    # gradient vanish, it cannot rank two nets that both have a shortcut path, and (a) is not
    # judged (inconclusive), whatever its comparison says; the control failing is not evidence
    # against the claim either (a flat plain profile says the measure is blind at this scale).
    control = _outcome(vanish)
    parts = {
        "gradient_flow": _outcome(flow) if control == "reproduced" else "inconclusive",
        "more_memory": more.outcome,
    }  # fmt: skip
    if not matched:  # the comparison is only fair at equal parameters
        parts["params_matched"] = "inconclusive"
    vanishes = {"reproduced": "vanishes", "contradicted": "does not vanish"}
    text = (
        f"(a) gradient flow {_flow_word(parts['gradient_flow'], control)}: |log10 first/last RMS "
        f"gradient| after training {_mean(spread['densenet'])} (DenseNet) vs "
        f"{_mean(spread['resnet'])} (ResNet) ({_describe(flow)}); the plain net's gradient "
        f"{vanishes.get(control, 'may or may not vanish')} on this measure: "
        f"{_mean(spread['plain'])} (plain) vs {_mean(spread['resnet'])} (ResNet) "
        f"({_describe(vanish)}); "
        f"(b) memory {HOLDS.get(more.outcome, 'unclear')}: "
        f"{mem['densenet']['mb_per_sample_mean']:.3f} vs {mem['resnet']['mb_per_sample_mean']:.3f}"
        f" MB/sample ({mem['densenet']['vs_resnet']:.2f}x the ResNet); memory-efficient "
        f"{mem['densenet_efficient']['mb_per_sample_mean']:.3f} MB/sample ({saving.outcome} "
        f"saving); feature reuse, illustrative: older features keep {reuse:.2f} of a layer's "
        f"strongest weight ({reuse_init:.2f} at init); parameters {dense['params']:,} vs "
        f"{res['params']:,}"
    )
    if not matched:
        text += f" (not matched within {config.param_tolerance:.0%})"
    numbers = {
        "gradient_flow": _dict(flow), "plain_vanishes": _dict(vanish), "control": control,
        "abs_log10_grad_first_over_last_trained": {n: spread[n] for n in NETS},
        "memory_vs_resnet": more.to_dict(), "memory_efficient_saving": saving.to_dict(),
        "reuse_trained": reuse, "reuse_init": reuse_init, "params_matched": matched,
    }  # fmt: skip
    return Verdict.of(parts, text, numbers)


def _flow_word(outcome: str, control: str) -> str:
    if control != "reproduced":
        return "not judged (the control fails)"
    return HOLDS.get(outcome, "unclear")


def trained_spread(per_seed: dict[str, list[float]]) -> list[float]:
    """|log10 first/last RMS gradient| after training, per seed, the finite ones: a diverged
    run's gradients are NaN and say nothing about how a gradient flows."""
    values = np.abs(np.asarray(per_seed["log10_grad_first_over_last_trained"], dtype=float))
    return values[np.isfinite(values)].tolist()


def _compare_finite(a: list[float], b: list[float], threshold: Threshold) -> Comparison | None:
    # None: a net without a single finite ratio; the part is then inconclusive.
    return compare(a, b, threshold=threshold) if a and b else None


def _outcome(comparison: Comparison | None) -> str:
    return comparison.outcome if comparison is not None else "inconclusive"


def _describe(comparison: Comparison | None) -> str:
    return comparison.describe() if comparison is not None else "no finite ratio to compare"


def _dict(comparison: Comparison | None) -> dict[str, Any] | None:
    return comparison.to_dict() if comparison is not None else None


def _mean(values: list[float]) -> str:
    return f"{np.mean(values):.2f}" if values else "n/a"


def arrays(config: DenseNetConfig, records: list[Any]) -> dict[str, np.ndarray]:
    """``<net>_seed<seed>_grad`` -> (2, units): RMS gradients at init and trained."""
    return {
        f"{TrainTask.key_of(r)}_grad": np.array([r.grad_init, r.grad_trained], dtype=float)
        for r in records
        if isinstance(r, TrainRecord)
    }


EXPERIMENT = register(define(__name__, record=TrainRecord | MemoryRecord, run_task=run_one))
