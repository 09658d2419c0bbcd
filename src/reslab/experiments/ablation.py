"""What the block ablations of He et al. 2016 ("Identity Mappings in Deep Residual Networks",
Tables 1 and 2) share: one net per variant and seed, built from the seed, its per-block gradient
norms measured at initialisation, trained with one recipe, scored, and measured again; then each
variant compared with a reference variant over seeds.

``shortcuts.py`` (what the shortcut does) and ``placement.py`` (where BN and ReLU sit) differ only
in how a variant builds its net, the paper's numbers and the question their verdict asks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from reslab.data import DataBundle
from reslab.data.cache import cached_data
from reslab.experiments.common import SeedTask, direction, final_err_pct, mean_std
from reslab.experiments.spec import FINAL_EVAL_ONLY, TrainedConfig, default, option
from reslab.experiments.stats import Threshold
from reslab.models.resnet import ResNet
from reslab.probes.gradients import block_gradient_norms, measurement_batches, shortcut_path_norms
from reslab.training import fit
from reslab.training.precision import resolve_device


@dataclass(kw_only=True)
class AblationConfig(TrainedConfig):
    variants: tuple[str, ...] = ()  # each experiment sets the default and the help text
    depth: int = option(20, "Depth of every net.")
    epochs: int | None = default("epochs", 10)
    # As in the degradation quick preset: a short run at lr 0.1 needs a warm-up to start every
    # net alike (docs/measurements.md, degradation).
    warmup: float = option(0.1, "Fraction of the run with a linear lr warm-up, every net alike.")
    batches: int = option(2, "Train batches the per-block gradient norms are averaged over.")

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (*FINAL_EVAL_ONLY, ("schedule.warmup", self.warmup))

    @classmethod
    def paper_preset(cls, **changes: Any) -> Self:
        """He et al. 2016's runs (Tables 1 and 2): ResNet-110 on CIFAR-10, 64k iterations, 5
        seeds. Hours per run on a GPU."""
        return cls(
            data="cifar10",
            preset="paper",
            depth=110,
            seeds=5,
            epochs=None,
            steps=64000,
            warmup=0.0,  # the recipe's own 0.01 start for 110 layers applies (He et al. 2015, 4.2)
            log_every=100,
            **changes,
        )


class VariantTask(SeedTask[AblationConfig]):
    KEY = "{variant}_seed{seed}"
    variant: str


@dataclass
class VariantRecord:
    variant: str
    seed: int
    final_train_err: float  # %, whole training split, eval mode; chance if diverged
    final_test_err: float
    status: str
    diverged_step: int | None
    # ||dLoss/dx_l|| per block (model.blocks order), mean over the measurement batches.
    grad_init: list[float]
    grad_trained: list[float]
    # The same at init, backward through the shortcuts alone (``shortcut_path_only``); 0 for a
    # plain net, whose shortcut carries nothing.
    path_init: list[float]
    wall_s: float
    # Mean training loss over the first quarter of the run's logged points: where He et al. 2016
    # (Fig. 6) see the placements differ most. NaN in results saved before it was measured.
    early_train_loss: float = math.nan

    def first_over_last(self, part: str = "grad_init") -> float:
        """How much of the last block's input gradient reaches the first block: on the
        shortcut path alone ("path_init") about 1 for the identity and prod(lambda) for a
        scaled shortcut (He et al. 2016, eq. 7). The whole gradient ("grad_init") adds the
        branches' paths, whose Jacobians BN rescales by 1/std(x_l) at initialisation."""
        values = getattr(self, part)
        return values[0] / values[-1] if values[-1] > 0 else float("nan")


def train_variant(
    config: AblationConfig, variant: str, seed: int, build: Callable[[DataBundle], ResNet]
) -> VariantRecord:
    started = time.perf_counter()
    bundle = cached_data(config.data, config.data_dir)
    device = resolve_device(config.device)
    batches = measurement_batches(bundle, config.batches, config.batch_size, device)
    torch.manual_seed(seed)  # the initial weights are part of what the seed reproduces
    model = build(bundle).to(device)
    grad_init = block_gradient_norms(model, batches)["input"].tolist()
    path_init = shortcut_path_norms(model, batches)
    result = fit(model, bundle, config.train_config(seed), device=config.device)
    # A diverged net is measured too: its non-finite norms are the record of the divergence.
    grad_trained = block_gradient_norms(model, batches)["input"].tolist()
    return VariantRecord(
        variant=variant,
        seed=seed,
        final_train_err=final_err_pct(result, "train_err", bundle.num_classes),
        final_test_err=final_err_pct(result, "test_err", bundle.num_classes),
        status=result.status,
        diverged_step=result.diverged_step,
        grad_init=grad_init,
        grad_trained=grad_trained,
        path_init=path_init,
        wall_s=time.perf_counter() - started,
        early_train_loss=early_loss(result.history, bundle.num_classes, result.status),
    )


def early_loss(history: Sequence[dict[str, Any]], num_classes: int, status: str) -> float:
    """Mean logged training loss over the first quarter of the run (at least one point); a run
    that diverged in it counts at chance, ln(classes)."""
    losses = [h["train_loss"] for h in history]
    first = losses[: max(1, len(losses) // 4)]
    if not first or not all(math.isfinite(v) for v in first):
        return math.log(num_classes)
    return float(np.mean(first))


def by_variant(records: Sequence[VariantRecord]) -> dict[str, list[VariantRecord]]:
    out: dict[str, list[VariantRecord]] = {}
    for r in sorted(records, key=lambda r: r.seed):
        out.setdefault(r.variant, []).append(r)
    return out


def variant_rows(
    config: AblationConfig, records: Sequence[VariantRecord], reference: str, threshold: Threshold,
    variants: Sequence[str] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per variant: errors mean ± std, the comparison with ``reference`` (``direction``
    at ``threshold``), and the first/last input-gradient ratio at initialisation (geometric mean
    over seeds)."""
    groups = by_variant(records)
    ref = [r.final_test_err for r in groups[reference]]
    rows = []
    for variant in variants or config.variants:
        group = groups[variant]
        test = [r.final_test_err for r in group]
        train_m, train_s = mean_std([r.final_train_err for r in group])
        test_m, test_s = mean_std(test)
        comparison, outcome = direction(test, ref, threshold)
        rows.append(
            {
                "variant": variant,
                "seeds": len(group),
                "test_err_mean": test_m,
                "test_err_std": test_s,
                "train_err_mean": train_m,
                "train_err_std": train_s,
                "diverged": sum(r.status == "diverged" for r in group),
                f"vs_{reference}": "—" if variant == reference else outcome,
                "gap": comparison.effect,
                "gap_se": comparison.se,
                "threshold": comparison.threshold,
                "grad_first_over_last_init": _geomean([r.first_over_last() for r in group]),
                "shortcut_path_first_over_last_init": _geomean(
                    [r.first_over_last("path_init") for r in group]
                ),
            }
        )
    return rows


def _geomean(values: Sequence[float]) -> float:
    logs = [math.log(v) for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(logs) / len(logs)) if len(logs) == len(values) else float("nan")


def rank_agreement(ours: dict[str, float], paper: dict[str, float]) -> float | None:
    """Spearman's rho between our mean errors and the paper's, over the variants both have;
    None with fewer than three."""
    common = [v for v in ours if v in paper and paper[v] is not None]
    if len(common) < 3:
        return None
    a = _ranks([ours[v] for v in common])
    b = _ranks([paper[v] for v in common])
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(values: Sequence[float]) -> np.ndarray:
    # Average ranks for ties: the paper's "fail" rows share one value.
    arr = np.asarray(values, dtype=float)
    return np.array([(arr < v).sum() + ((arr == v).sum() - 1) / 2 for v in arr])


def tasks(config: AblationConfig, workdir: Path | None) -> list[VariantTask]:
    """One task per variant and seed."""
    return [VariantTask(config, v, seed=s) for s in config.seed_range for v in config.variants]


def arrays(config: AblationConfig, records: Sequence[VariantRecord]) -> dict[str, np.ndarray]:
    """``<variant>_seed<seed>_grad`` -> (3, blocks): input-gradient norms at init, trained, and
    at init through the shortcut path alone."""
    return {
        f"{VariantTask.key_of(r)}_grad": np.array(
            [r.grad_init, r.grad_trained, r.path_init], dtype=float
        )
        for r in records
    }


def check_variants(variants: Sequence[str], reference: str, spec: Callable[[str], object]) -> None:
    """``spec(variant)`` raises for an unknown variant, naming the accepted ones."""
    for variant in variants:
        spec(variant)
    if reference not in variants:
        raise ValueError(f"variants={tuple(variants)} must include the reference {reference!r}")
    if len(set(variants)) != len(variants):
        raise ValueError(f"variants={tuple(variants)} repeats a variant")
