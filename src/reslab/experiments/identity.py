"""Extra residual blocks "do no harm" (He et al. 2015, section 1 and 4.2).

He et al. argue that a deeper net should be no worse than a shallower one, because it could copy
the shallow net and make the added layers identity mappings. With residual blocks that
construction is one line: a block whose branch's last scale is zero (``zero_init_last``, Goyal et
al. 2017, 5.1) *is* its shortcut. We train a shallow net, build the deeper one from it (the
trained blocks first in each stage, the new same-shape blocks appended), measure that its outputs
and its training loss are unchanged, then continue training both from that point. For contrast,
the same insertion with plain layers (``shortcut="none"``): He-initialised, they change the
function; zero-initialised, they output ReLU(0) = 0 and cut the signal (and since the gradient of
ReLU at 0 is 0, nothing upstream of them can learn again).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from reslab.data import DataBundle
from reslab.experiments.common import ExperimentResult, mean_std, provenance
from reslab.experiments.runner import cached_data, default_workers, map_runs
from reslab.models import cifar_resnet
from reslab.models.cifar import blocks_per_stage
from reslab.models.resnet import ResNet
from reslab.training import apply_overrides, evaluate, fit, load_recipe
from reslab.training.config import TrainConfig, validate
from reslab.training.overrides import set_field
from reslab.training.precision import resolve_device
from reslab.training.setup import eval_loader

Insert = Literal["residual", "plain", "plain_zero"]
INSERTS: tuple[Insert, ...] = ("residual", "plain", "plain_zero")
Variant = Literal["shallow", "residual", "plain", "plain_zero"]
VARIANTS: tuple[Variant, ...] = ("shallow", *INSERTS)
IDENTITY_TOL = 1e-6  # max |logit change| that still counts as "unchanged" (fp32 round-off)
CONTINUE_SEED = 10_000  # continued runs draw other batches than the shallow run's first epoch


# -- building the deeper net --------------------------------------------------------------------


def deepen(shallow: ResNet, depth: int, insert: Insert = "residual", *, seed: int = 0) -> ResNet:
    """A ``depth``-layer copy of a CIFAR-style ``shallow`` net with new blocks appended per stage.

    Every trained block keeps its place and state-dict key; the new blocks keep the shape of
    their stage: residual with a zeroed branch, plain He-initialised, or plain zeroed.
    """
    if insert not in INSERTS:
        raise ValueError(f"insert={insert!r} is unknown; accepted: {', '.join(INSERTS)}")
    old = [len(stage) for stage in shallow.stages]
    torch.manual_seed(seed)  # the new blocks' weights are a function of the seed
    deep = _like(shallow, depth, shallow.shortcut_kind)
    if any(len(stage) <= n for stage, n in zip(deep.stages, old, strict=True)):
        raise ValueError(
            f"depth={depth} must add blocks to every stage of the {old}-block net; "
            f"accepted: a deeper net of the same block kind"
        )
    _, unexpected = deep.load_state_dict(shallow.state_dict(), strict=False)
    if unexpected:  # a net that is not CIFAR-style (other stem, widths or stage names)
        raise ValueError(f"the shallow net does not fit a {depth}-layer net: {unexpected[:3]}")
    if insert != "residual":
        donor = _like(shallow, depth, "none")
        for stage, plain, n in zip(deep.stages, donor.stages, old, strict=True):
            for j in range(n, len(stage)):
                stage[j] = plain[j]
    for stage, n in zip(deep.stages, old, strict=True):
        for block in list(stage)[n:]:
            if insert != "plain":
                block.zero_init_last()
    return deep.train(shallow.training)


def _like(net: ResNet, depth: int, shortcut: str) -> ResNet:
    return cifar_resnet(
        depth, block=net.block_kind, shortcut=shortcut, width=net.conv1.out_channels,
        num_classes=net.fc.out_features, in_channels=net.in_channels, dims=net.dims,
    )  # fmt: skip


def build_variant(shallow: ResNet, variant: Variant, depth: int, seed: int) -> ResNet:
    if variant == "shallow":
        return copy.deepcopy(shallow)
    return deepen(shallow, depth, variant, seed=seed)


def max_output_change(a: ResNet, b: ResNet, batches: Iterable[torch.Tensor]) -> float:
    """max |a(x) - b(x)| over the logits of every batch, both nets in eval mode (their modes
    restored after: ``fit`` trains a model in whatever mode it is given)."""
    modes = a.training, b.training
    a.eval()
    b.eval()
    try:
        with torch.no_grad():
            return max(float((a(x) - b(x)).abs().max()) for x in batches)
    finally:
        a.train(modes[0])
        b.train(modes[1])


# -- the experiment -----------------------------------------------------------------------------


@dataclass
class IdentityConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depth: int = 20  # the trained shallow net
    deep_depth: int = 32  # the net it is copied into (2 new blocks per stage)
    block: str = "basic"
    shortcut: str = "A"
    seeds: int = 3
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = 10  # training of the shallow net (the mnist1d recipe's own)
    steps: int | None = None
    continue_steps: int = 100  # continued training of each variant, from the same point
    continue_lr: float = 0.02  # constant: the continued runs compare from one point, no schedule
    batch_size: int = 128
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    log_every: int = 10

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> IdentityConfig:
        if name not in PRESETS:
            raise ValueError(f"preset={name!r} is unknown; accepted: {', '.join(PRESETS)}")
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(PRESETS[name], **changes)


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
class IdentityVerdict:
    identity_exact: bool  # residual insertion: max |logit change| <= IDENTITY_TOL, every seed
    no_harm: bool  # residual insertion: step-0 losses never above the shallow net's
    plain_changes: bool  # He-initialised plain insertion changes the outputs, every seed
    residual_max_diff: float
    plain_max_diff: float
    text: str


@dataclass
class IdentityResult(ExperimentResult):
    experiment = "identity"
    config: IdentityConfig
    provenance: dict[str, Any]
    inserted_blocks: int = 0
    shallow_test_err: list[float] = field(default_factory=list)  # % per seed, after training
    variants: list[VariantRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: IdentityVerdict | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f"{v.variant}_seed{v.seed}_loss": np.array([v.steps, v.train_loss], dtype=float)
            for v in self.variants
        }

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        scalars = [
            {k: x for k, x in vars(v).items() if not isinstance(x, list)} for v in self.variants
        ]
        return {"summary": self.summary, "variants": scalars}


def shallow_config(config: IdentityConfig, seed: int) -> TrainConfig:
    cfg = load_recipe(config.recipe)
    for key, value in (
        ("data.name", config.data), ("data.batch_size", config.batch_size),
        ("train.epochs", config.epochs), ("train.steps", config.steps), ("train.seed", seed),
        ("train.log_every", config.log_every), ("train.checkpoint_every", 0),
        ("train.eval_train", False),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return apply_overrides(cfg, config.overrides)


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


def run_seed(task: tuple[IdentityConfig, int]) -> tuple[float, list[VariantRecord]]:
    """Train the shallow net of one seed, then build and continue every variant from it."""
    config, seed = task
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)
    shallow = cifar_resnet(
        config.depth, block=config.block, shortcut=config.shortcut, dims=bundle.dims,
        in_channels=bundle.in_channels, num_classes=bundle.num_classes,
    )  # fmt: skip
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


def run(config: IdentityConfig, *, progress: bool = False) -> IdentityResult:
    check(config)
    seeds = list(range(config.seeds))
    cached_data(config.data, config.data_dir)  # fail fast on missing data, before any training
    workers = config.workers or default_workers(config.device)
    bar = _progress(len(seeds)) if progress else None
    on_done = (lambda _: bar.update()) if bar else None
    outs = map_runs(run_seed, [(config, s) for s in seeds], workers=workers, on_done=on_done)
    if bar:
        bar.close()
    per_stage = blocks_per_stage(config.deep_depth, config.block)
    per_stage -= blocks_per_stage(config.depth, config.block)
    result = IdentityResult(
        config, provenance(resolve_device(config.device), seeds), inserted_blocks=3 * per_stage,
        shallow_test_err=[err for err, _ in outs], variants=[v for _, vs in outs for v in vs],
    )  # fmt: skip
    result.summary = summarize(result.variants)
    result.verdict = judge(result)
    return result


def check(config: IdentityConfig) -> None:
    """Every error a config can hold, raised before any data is loaded or net trained."""
    shallow = blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    deep = blocks_per_stage(config.deep_depth, config.block)
    step = (config.depth - 2) // shallow  # layers added by one more block per stage
    if deep <= shallow:
        raise ValueError(
            f"deep_depth={config.deep_depth} must be deeper than depth={config.depth}; "
            f"accepted: a larger depth of the same form, e.g. {config.depth + step}"
        )
    if config.shortcut not in ("A", "B", "C"):
        raise ValueError(f"shortcut={config.shortcut!r} has no residual net; accepted: A, B, C")
    if config.seeds < 1:
        raise ValueError(f"seeds={config.seeds} must be >= 1")
    if config.continue_steps < 1:
        raise ValueError(f"continue_steps={config.continue_steps} must be >= 1")
    resolve_device(config.device)  # ConfigError for an unknown device
    validate(shallow_config(config, 0))  # ConfigError for a bad recipe or override
    validate(continue_config(config, 0))


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="identity seeds", unit="seed", dynamic_ncols=True)


SUMMARY_KEYS = (
    "max_abs_diff", "eval_loss0", "train_loss0", "final_train_loss", "final_train_err",
    "final_test_err",
)  # fmt: skip


def summarize(records: list[VariantRecord]) -> list[dict[str, Any]]:
    rows = []
    for variant in VARIANTS:
        group = [r for r in records if r.variant == variant]
        row: dict[str, Any] = {"variant": variant, "seeds": len(group)}
        for key in SUMMARY_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([getattr(r, key) for r in group])
        rows.append(row)
    return rows


def _by(result: IdentityResult, variant: Variant) -> dict[int, VariantRecord]:
    return {r.seed: r for r in result.variants if r.variant == variant}


def judge(result: IdentityResult) -> IdentityVerdict:
    shallow, res, plain = (_by(result, v) for v in ("shallow", "residual", "plain"))
    res_diff = max(r.max_abs_diff for r in res.values())
    plain_diff = min(r.max_abs_diff for r in plain.values())
    exact = res_diff <= IDENTITY_TOL
    # "No harm": at step 0 the deeper net's losses are never above the shallow net's (up to
    # fp32 round-off), in eval mode on the whole training split and on the first training batch.
    no_harm = all(
        res[s].eval_loss0 <= shallow[s].eval_loss0 + IDENTITY_TOL
        and res[s].train_loss0 <= shallow[s].train_loss0 + IDENTITY_TOL
        for s in shallow
    )  # fmt: skip
    rows = {r["variant"]: r for r in result.summary}

    def m(variant: str, key: str) -> str:
        return f"{rows[variant][f'{key}_mean']:.4g}"

    cfg = result.config
    text = (
        f"do no harm: {'yes' if exact and no_harm else 'NO'} — {result.inserted_blocks} "
        f"zero-initialised residual blocks (resnet{cfg.depth} -> {cfg.deep_depth}) change the "
        f"logits by at most {res_diff:.1e}; first-batch training loss at step 0 "
        f"{m('residual', 'train_loss0')} vs {m('shallow', 'train_loss0')} for the shallow net. "
        f"Plain insertion: logits change by >= {plain_diff:.2g}, step-0 loss "
        f"{m('plain', 'train_loss0')} (He init) / {m('plain_zero', 'train_loss0')} (zero "
        f"init). After {cfg.continue_steps} more steps, train-split loss (eval mode): shallow "
        f"{m('shallow', 'final_train_loss')}, residual {m('residual', 'final_train_loss')}, "
        f"plain {m('plain', 'final_train_loss')}, plain zero-init "
        f"{m('plain_zero', 'final_train_loss')}"
    )
    return IdentityVerdict(exact, no_harm, plain_diff > IDENTITY_TOL, res_diff, plain_diff, text)
