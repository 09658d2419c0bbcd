"""Extra residual blocks "do no harm" (He et al. 2015, section 1 and 4.2).

He et al. argue that a deeper net should be no worse than a shallower one, because it could copy
the shallow net and make the added layers identity mappings. We train a shallow net, build the
deeper one from it (the trained blocks first in each stage, the new same-shape blocks appended;
``deepen.py``), measure that its outputs and its training loss are unchanged, then continue
training both from that point. For contrast, the same insertion with plain layers: zero-
initialised, they cut the signal, and since the gradient of ReLU at 0 is 0, nothing upstream of
them can learn again.

Each seed is one task: it trains that seed's shallow net and continues every variant from it, in
one process, so all four start from the very same weights (a second training of the seed could
differ on a GPU) and no task depends on another's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data import DataBundle
from reslab.data.cache import cached_data
from reslab.experiments.common import SeedTask, mean_std
from reslab.experiments.protocol import net_for, require_at_least_one, require_residual_shortcut
from reslab.experiments.registry import register
from reslab.experiments.spec import Summary, TrainedConfig, Verdict, default, define, option
from reslab.models.cifar import blocks_per_stage
from reslab.models.resnet import ResNet
from reslab.probes.deepen import VARIANTS, Variant, build_variant, max_output_change
from reslab.training import evaluate, fit, set_field
from reslab.training.config import TrainConfig, validate
from reslab.training.precision import resolve_device
from reslab.training.prepare import eval_loader

TITLE = 'Extra residual blocks "do no harm"'
CLAIM = (
    "zero-initialised residual blocks inserted into a trained net leave its function "
    "and loss unchanged; plain layers do not"
)
PAPER = "He et al. 2015, sections 1 and 4.2"
QUICK_TIME = "1 min"

CONTINUE_SEED = 10_000  # continued runs draw other batches than the shallow run's first epoch
IDENTITY_TOL = 1e-6  # max |logit change| that still counts as "unchanged" (fp32 round-off)
SUMMARY_KEYS = (
    "max_abs_diff", "eval_loss0", "train_loss0", "final_train_loss", "final_train_err",
    "final_test_err",
)  # fmt: skip
STEP0_KEYS = ("max_abs_diff", "eval_loss0", "train_loss0")  # what the verdict reads per seed


@dataclass(kw_only=True)
class IdentityConfig(TrainedConfig):
    depth: int = option(20, "Depth of the trained shallow net (6n+2), e.g. 20.")
    deep_depth: int = option(32, "Depth it is copied into (6n+2, deeper than --depth), e.g. 32.")
    block: str = option(
        "basic", "Block kind: basic, preact_basic (6n+2) or bottleneck, preact_bottleneck (9n+2)."
    )
    shortcut: str = option("A", "Shortcut of both nets: A, B or C.")
    recipe: str = default("recipe", "mnist1d")
    epochs: int | None = default("epochs", 10)  # of the shallow net's training
    continue_steps: int = option(100, "Iterations of every continued net, from the same point.")
    # Constant: the continued runs compare from one point, with no schedule.
    continue_lr: float = option(0.02, "Constant learning rate of the continued runs.")

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (("train.checkpoint_every", 0), ("train.eval_train", False))


PRESETS: dict[str, IdentityConfig] = {
    # Minutes on 2 CPU cores: 1-D ResNet-20 -> ResNet-32 on MNIST-1D (mnist1d recipe, 10
    # epochs), then 100 more steps at 1/10 of the recipe's peak learning rate.
    "quick": IdentityConfig(),
    # He et al. 2015, 4.2: CIFAR-10 ResNet-20 trained 64k iterations, copied into ResNet-56, and
    # continued at the schedule's last learning rate (0.001) for 8k iterations.
    "paper": IdentityConfig(
        data="cifar10", deep_depth=56, preset="paper", recipe="paper", epochs=None,
        steps=64000, continue_steps=8000, continue_lr=0.001, log_every=100,
    ),
}  # fmt: skip


@dataclass
class VariantRecord:
    variant: Variant
    seed: int
    max_abs_diff: float  # max |logit change| vs the trained shallow net, test split, eval mode
    eval_loss0: float  # cross-entropy on the whole training split, eval mode, before any step
    train_loss0: float  # training loss of the first continued step (train mode, first batch)
    steps: list[int]
    train_loss: list[float]  # training loss of each continued step
    final_train_loss: float  # whole training split, eval mode
    final_train_err: float  # %
    final_test_err: float  # %
    status: str


@dataclass
class SeedRecord:
    seed: int
    shallow_test_err: float  # % of the trained shallow net, before any variant is built
    variants: list[VariantRecord]  # in VARIANTS order, each continued from that one net


def shallow_config(config: IdentityConfig, seed: int) -> TrainConfig:
    return config.train_config(seed)


def continue_config(config: IdentityConfig, seed: int) -> TrainConfig:
    """The recipe's optimiser at a constant learning rate, every step logged."""
    cfg = shallow_config(config, CONTINUE_SEED + seed)
    for key, value in (
        ("train.epochs", None), ("train.steps", config.continue_steps), ("train.log_every", 1),
        ("train.eval_train", True), ("optim.lr", config.continue_lr),
        ("schedule.kind", "constant"), ("schedule.warmup", 0.0), ("schedule.error_warmup", "never"),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return cfg


def run_seed(task: SeedTask) -> SeedRecord:
    """Train the shallow net of one seed, then build and continue every variant from it."""
    config, seed = task.config, task.seed
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)  # the initial weights are a function of the seed
    shallow = net_for(bundle, config.depth, block=config.block, shortcut=config.shortcut)
    trained = fit(shallow, bundle, shallow_config(config, seed), device=config.device)
    test_err = 100 * trained.final.get("test_err", float("nan"))
    variants = [continue_variant(config, bundle, shallow, v, seed) for v in VARIANTS]
    return SeedRecord(seed=seed, shallow_test_err=test_err, variants=variants)


def continue_variant(
    config: IdentityConfig, bundle: DataBundle, shallow: ResNet, variant: Variant, seed: int
) -> VariantRecord:
    """Build one variant from the trained shallow net, measure it at step 0, go on."""
    dev = resolve_device(config.device)
    cfg = continue_config(config, seed)
    model = build_variant(shallow, variant, config.deep_depth, seed).to(dev)
    test = eval_loader(bundle, "test", cfg.data, dev)
    diff = max_output_change(model, shallow, (x for x, _ in test))
    loss0 = evaluate(model, eval_loader(bundle, "train", cfg.data, dev), device=dev)["loss"]
    result = fit(model, bundle, cfg, device=config.device)
    history = result.history
    return VariantRecord(
        variant=variant, seed=seed, max_abs_diff=diff, eval_loss0=loss0,
        train_loss0=history[0]["train_loss"] if history else float("nan"),
        steps=[h["step"] for h in history], train_loss=[h["train_loss"] for h in history],
        final_train_loss=result.final.get("train_loss", float("nan")),
        final_train_err=100 * result.final.get("train_err", float("nan")),
        final_test_err=100 * result.final.get("test_err", float("nan")), status=result.status,
    )  # fmt: skip


def tasks(config: IdentityConfig, workdir: Path | None) -> list[SeedTask]:
    return [SeedTask(config, seed=s) for s in config.seed_range]


def check(config: IdentityConfig) -> None:
    shallow = blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    deep = blocks_per_stage(config.deep_depth, config.block)
    step = (config.depth - 2) // shallow  # layers added by one more block per stage
    if deep <= shallow:
        raise ValueError(
            f"deep_depth={config.deep_depth} must be deeper than depth={config.depth}; "
            f"accepted: a larger depth of the same form, e.g. {config.depth + step}"
        )
    require_residual_shortcut(config.shortcut)
    require_at_least_one(config, "continue_steps")
    validate(continue_config(config, 0))  # the shallow net's recipe: TrainedConfig.check


def flat_variants(records: list[SeedRecord]) -> list[VariantRecord]:
    """Every continued run, seed by seed, each seed's in VARIANTS order."""
    return [v for record in records for v in record.variants]


def summarize(config: IdentityConfig, seed_records: list[SeedRecord]) -> Summary:
    records = flat_variants(seed_records)
    rows = []
    for variant in VARIANTS:
        group = [r for r in records if r.variant == variant]
        row: dict[str, Any] = {"variant": variant, "seeds": len(group)}
        for key in SUMMARY_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([getattr(r, key) for r in group])
        rows.append(row)
    per_stage = blocks_per_stage(config.deep_depth, config.block)
    per_stage -= blocks_per_stage(config.depth, config.block)
    # Per variant and step-0 measure, one value per seed (in seed order), for the verdict.
    step0 = {
        v: {key: [getattr(r, key) for r in records if r.variant == v] for key in STEP0_KEYS}
        for v in VARIANTS
    }
    return {"variants": rows, "inserted_blocks": 3 * per_stage, "step0": step0}


def judge(config: IdentityConfig, summary: Summary) -> Verdict:
    """Does the zero-initialised residual insertion leave the function, and so the losses,
    exactly as they were (He et al. 2015, section 1)?"""
    step0 = summary["step0"]
    shallow, res = step0["shallow"], step0["residual"]
    res_diff = max(res["max_abs_diff"])
    plain_diff = min(step0["plain"]["max_abs_diff"])
    exact = res_diff <= IDENTITY_TOL
    # "No harm": at step 0 the deeper net's losses are never above the shallow net's (up to
    # fp32 round-off), in eval mode on the whole training split and on the first training batch.
    no_harm = all(
        r <= s + IDENTITY_TOL
        for key in ("eval_loss0", "train_loss0")
        for r, s in zip(res[key], shallow[key], strict=True)
    )
    rows = {r["variant"]: r for r in summary["variants"]}

    def m(variant: str, key: str) -> str:
        return f"{rows[variant][f'{key}_mean']:.4g}"

    text = (
        f"do no harm: {'yes' if exact and no_harm else 'NO'} — {summary['inserted_blocks']} "
        f"zero-initialised residual blocks (resnet{config.depth} -> {config.deep_depth}) change "
        f"the logits by at most {res_diff:.1e}; first-batch training loss at step 0 "
        f"{m('residual', 'train_loss0')} vs {m('shallow', 'train_loss0')} for the shallow net. "
        f"Plain insertion: logits change by >= {plain_diff:.2g}, step-0 loss "
        f"{m('plain', 'train_loss0')} (He init) / {m('plain_zero', 'train_loss0')} (zero "
        f"init). After {config.continue_steps} more steps, train-split loss (eval mode): shallow "
        f"{m('shallow', 'final_train_loss')}, residual {m('residual', 'final_train_loss')}, "
        f"plain {m('plain', 'final_train_loss')}, plain zero-init "
        f"{m('plain_zero', 'final_train_loss')}"
    )
    numbers = {
        "identity_exact": exact,  # residual insertion: max |logit change| <= IDENTITY_TOL
        "no_harm": no_harm,  # residual insertion: step-0 losses never above the shallow net's
        "plain_changes": plain_diff > IDENTITY_TOL,  # He-init plain insertion changes outputs
        "residual_max_diff": res_diff,
        "plain_max_diff": plain_diff,
    }
    # An invariant, exact up to fp32 round-off on every seed: it holds or it does not.
    parts = {"identity_exact": exact, "no_harm": no_harm}
    return Verdict.of({k: "reproduced" if v else "contradicted" for k, v in parts.items()},
                      text, numbers)  # fmt: skip


def arrays(config: IdentityConfig, records: list[SeedRecord]) -> dict[str, np.ndarray]:
    return {
        f"{r.variant}_{SeedTask.key_of(r)}_loss": np.array([r.steps, r.train_loss], dtype=float)
        for r in flat_variants(records)
    }


EXPERIMENT = register(define(__name__, record=SeedRecord, run_task=run_seed))
