"""One seed of the identity experiment: train the shallow net, build every variant from it,
measure each at step 0, then continue each from that same point (He et al. 2015, 4.2)."""

from __future__ import annotations

import torch

from reslab.data import DataBundle
from reslab.experiments.identity.config import IdentityConfig, continue_config, shallow_config
from reslab.experiments.identity.deepen import VARIANTS, Variant, build_variant, max_output_change
from reslab.experiments.identity.records import VariantRecord
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import net_for
from reslab.models.resnet import ResNet
from reslab.training import evaluate, fit
from reslab.training.precision import resolve_device
from reslab.training.prepare import eval_loader


def run_seed(task: tuple[IdentityConfig, int]) -> tuple[float, list[VariantRecord]]:
    """Train the shallow net of one seed, then build and continue every variant from it."""
    config, seed = task
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)
    shallow = net_for(bundle, config.depth, block=config.block, shortcut=config.shortcut)
    trained = fit(shallow, bundle, shallow_config(config, seed), device=config.device)
    test_err = 100 * trained.final.get("test_err", float("nan"))
    records = [_continue(config, bundle, shallow, v, seed) for v in VARIANTS]
    return test_err, records


def _continue(
    config: IdentityConfig, bundle: DataBundle, shallow: ResNet, variant: Variant, seed: int
) -> VariantRecord:
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
