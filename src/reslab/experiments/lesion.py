"""Lesion study (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks", section 4, Figures 3 and 5).

A residual net and its plain twin are trained with one recipe; then, at test time only, residual
blocks are deleted and the test error measured: each block alone (their Fig. 3), and k random
blocks at once for k = 1..n (their Fig. 5). A deleted block keeps only its shortcut path:
``y = act(shortcut(x))``, the block's own equation with F(x) = 0. For a post-activation block with
an identity shortcut, x is itself a ReLU output, so act(x) = x: Veit et al.'s identity, exactly; a
pre-activation block has no act. A deleted downsampling block keeps its option-A/B shortcut (the
only way to keep the shapes), so those are reported separately, as Veit et al. do. A plain block
has no shortcut: deleted, it becomes the identity where its input and output shapes match; a
shape-changing plain block cannot be deleted (n/a).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from reslab.blocks import ResidualBlock
from reslab.data import DataBundle, make_loader
from reslab.experiments.common import ExperimentResult, mean_std, provenance
from reslab.experiments.runner import cached_data, default_workers, map_runs
from reslab.models import cifar_resnet
from reslab.models.cifar import blocks_per_stage
from reslab.models.resnet import ResNet
from reslab.training import apply_overrides, evaluate, fit, load_recipe
from reslab.training.config import TrainConfig, validate
from reslab.training.overrides import set_field
from reslab.training.precision import resolve_device

Kind = Literal["plain", "residual"]
KINDS: tuple[Kind, ...] = ("residual", "plain")
NEAR_CHANCE = 10.0  # percentage points below chance error that still count as "at chance"
# Damage of a deletion = (error with it - intact error) / (chance error - intact error): 0 is no
# effect, 1 is chance. Veit et al. (4.1) find single deletions "do not noticeably affect" a
# residual net and send a plain one to chance; with few seeds and short training we call a
# typical (median) deletion tolerated below TOLERATED and a collapse above COLLAPSED.
TOLERATED, COLLAPSED = 0.2, 0.8


# -- deleting blocks ----------------------------------------------------------------------------


def lesionable(block: ResidualBlock) -> bool:
    return not (block.is_plain and block.changes_shape)


def _without_branch(block: ResidualBlock) -> Callable[[torch.Tensor], torch.Tensor]:
    if block.is_plain:
        return lambda x: x

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = block.shortcut(x)
        # The block's ReLU is in-place; an identity shortcut hands back x itself, which the
        # caller still owns, so the activation must work on a copy.
        return block.act(out.clone() if out is x else out)

    return forward


@contextmanager
def lesioned(model: ResNet, indices: Iterable[int]) -> Iterator[ResNet]:
    """Inside the block, the blocks at ``indices`` (positions in ``model.blocks``) are deleted.

    Only each block's ``forward`` is shadowed by an instance attribute: no module is replaced, so
    the state dict is untouched, and leaving the block restores the class method.
    """
    blocks = model.blocks
    chosen = sorted(set(indices))
    for i in chosen:
        _check_index(blocks, i)
    saved = {i: blocks[i].__dict__.get("forward") for i in chosen}
    try:
        for i in chosen:
            blocks[i].forward = _without_branch(blocks[i])  # type: ignore[method-assign]
        yield model
    finally:
        for i, previous in saved.items():
            if previous is None:
                blocks[i].__dict__.pop("forward", None)
            else:
                blocks[i].forward = previous  # type: ignore[method-assign]


def _check_index(blocks: list[ResidualBlock], i: int) -> None:
    if not 0 <= i < len(blocks):
        raise ValueError(f"block index {i} is out of range; accepted: 0..{len(blocks) - 1}")
    if not lesionable(blocks[i]):
        ok = [j for j, b in enumerate(blocks) if lesionable(b)]
        raise ValueError(
            f"block {i} is a plain block that changes shape and cannot be deleted; accepted: {ok}"
        )


def random_lesions(candidates: list[int], k: int, draws: int, seed: int) -> list[list[int]]:
    """``draws`` sets of ``k`` distinct blocks from ``candidates``, a pure function of (seed, k)."""
    if not 0 <= k <= len(candidates):
        raise ValueError(f"k={k} is out of range; accepted: 0..{len(candidates)}")
    rng = np.random.default_rng([seed, k])
    return [sorted(int(i) for i in rng.choice(candidates, k, replace=False)) for _ in range(draws)]


# -- the experiment -----------------------------------------------------------------------------


@dataclass
class LesionConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    depth: int = 56
    block: str = "basic"
    shortcut: str = "A"  # the residual net's; its twin has "none"
    seeds: int = 2
    draws: int = 5  # random sets of blocks per k (and per seed)
    preset: str = "quick"
    recipe: str = "mnist1d"
    epochs: int | None = 10
    steps: int | None = None
    batch_size: int = 128
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)
    log_every: int = 10

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> LesionConfig:
        if name not in PRESETS:
            raise ValueError(f"preset={name!r} is unknown; accepted: {', '.join(PRESETS)}")
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(PRESETS[name], **changes)


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


@dataclass
class LesionVerdict:
    ensemble_like: bool  # residual: typical deletion tolerated, and less damaging than plain's
    plain_collapses: bool  # plain: a typical deletion goes most of the way to chance
    residual_median_rise: float  # percentage points over the intact net, mean over seeds
    residual_max_rise: float
    worst_block: int  # the residual block whose deletion hurts most (0-based)
    residual_median_damage: float  # fraction of the way from the intact error to chance
    plain_median_rise: float
    plain_median_damage: float
    plain_near_chance: int  # single plain deletions within NEAR_CHANCE points of chance
    candidates: int  # deletable same-shape blocks
    downsampling_rise: float  # residual net, mean over its shape-changing blocks
    text: str


@dataclass
class LesionResult(ExperimentResult):
    experiment = "lesion"
    config: LesionConfig
    provenance: dict[str, Any]
    downsampling: list[bool] = field(default_factory=list)  # per block: changes shape
    stage_of: list[int] = field(default_factory=list)  # per block: its stage (1-based)
    candidates: list[int] = field(default_factory=list)  # blocks drawn from for k deletions
    chance_err: float = 90.0
    runs: list[LesionRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: LesionVerdict | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for r in self.runs:
            key = f"{r.kind}_seed{r.seed}"
            single = [math.nan if e is None else e for e in r.single_err]
            out[f"{key}_single"] = np.array(single, dtype=float)
            out[f"{key}_random"] = np.array(r.random_err, dtype=float)
            out[f"{key}_baseline"] = np.array([r.baseline_err])
        return out

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        runs = [{k: v for k, v in vars(r).items() if not isinstance(v, list)} for r in self.runs]
        return {"blocks": self.summary, "runs": runs}


def train_config(config: LesionConfig, seed: int) -> TrainConfig:
    cfg = load_recipe(config.recipe)
    for key, value in (
        ("data.name", config.data), ("data.batch_size", config.batch_size),
        ("train.epochs", config.epochs), ("train.steps", config.steps), ("train.seed", seed),
        ("train.log_every", config.log_every), ("train.checkpoint_every", 0),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return apply_overrides(cfg, config.overrides)


def build_net(config: LesionConfig, kind: Kind, bundle: DataBundle) -> ResNet:
    shortcut = config.shortcut if kind == "residual" else "none"
    return cifar_resnet(
        config.depth, block=config.block, shortcut=shortcut,
        dims=bundle.dims, in_channels=bundle.in_channels, num_classes=bundle.num_classes,
    )  # fmt: skip


def train_and_lesion(task: tuple[LesionConfig, Kind, int]) -> LesionRecord:
    config, kind, seed = task
    bundle = cached_data(config.data, config.data_dir)
    torch.manual_seed(seed)  # the initial weights are a function of the seed
    model = build_net(config, kind, bundle)
    result = fit(model, bundle, train_config(config, seed), device=config.device)
    pool = same_shape_blocks(model)
    if result.status == "diverged":
        chance = 100 * (1 - 1 / bundle.num_classes)
        return _diverged(kind, seed, model, len(pool), config.draws, chance, result.wall_s)
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
    kind: Kind, seed: int, model: ResNet, pool: int, draws: int, chance: float, wall_s: float
) -> LesionRecord:
    # A net that diverged has learned nothing: every measurement counts at chance level.
    single = [chance if lesionable(b) else None for b in model.blocks]
    random_err = [[chance] * draws for _ in range(pool)]
    return LesionRecord(kind, seed, chance, chance, single, random_err, "diverged", wall_s)


def same_shape_blocks(model: ResNet) -> list[int]:
    # The k-deletion draws exclude downsampling blocks, so that the residual net and its plain
    # twin draw from the same set (a plain downsampling block cannot be deleted).
    return [i for i, b in enumerate(model.blocks) if not b.changes_shape]


def _tester(model: ResNet, bundle: DataBundle) -> Callable[[list[int]], float]:
    dev = next(model.parameters()).device
    loader = make_loader(bundle, "test", batch_size=1000, train=False, device=dev)

    def test_err(indices: list[int]) -> float:
        with lesioned(model, indices):
            return 100 * evaluate(model, loader, device=dev)["err"]

    return test_err


def run(config: LesionConfig, *, progress: bool = False) -> LesionResult:
    check(config)
    seeds = list(range(config.seeds))
    bundle = cached_data(config.data, config.data_dir)  # fail fast on missing data
    tasks = [(config, kind, s) for s in seeds for kind in KINDS]
    workers = config.workers or default_workers(config.device)
    bar = _progress(len(tasks)) if progress else None
    on_done = (lambda _: bar.update()) if bar else None
    runs = map_runs(train_and_lesion, tasks, workers=workers, on_done=on_done)
    if bar:
        bar.close()
    shape = build_net(config, "residual", bundle)
    result = LesionResult(
        config, provenance(resolve_device(config.device), seeds),
        downsampling=[b.changes_shape for b in shape.blocks],
        stage_of=[s + 1 for s, stage in enumerate(shape.stages) for _ in stage],
        candidates=same_shape_blocks(shape), chance_err=100 * (1 - 1 / bundle.num_classes),
        runs=runs,
    )  # fmt: skip
    result.summary = summarize(result)
    result.verdict = judge(result)
    return result


def check(config: LesionConfig) -> None:
    """Every error a config can hold, raised before any data is loaded or net trained."""
    blocks_per_stage(config.depth, config.block)  # raises with the accepted depths
    if config.seeds < 1:
        raise ValueError(f"seeds={config.seeds} must be >= 1")
    if config.draws < 1:
        raise ValueError(f"draws={config.draws} must be >= 1")
    if config.shortcut not in ("A", "B", "C"):
        raise ValueError(f"shortcut={config.shortcut!r} has no residual net; accepted: A, B, C")
    net = cifar_resnet(config.depth, block=config.block, shortcut=config.shortcut)
    if not same_shape_blocks(net):
        raise ValueError(
            f"depth={config.depth} with {config.block} blocks has no same-shape block to delete; "
            "accepted: a depth with at least two blocks per stage"
        )
    resolve_device(config.device)  # ConfigError for an unknown device
    validate(train_config(config, 0))  # ConfigError for a bad recipe or override


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="lesion runs", unit="run", dynamic_ncols=True)


def summarize(result: LesionResult) -> list[dict[str, Any]]:
    """Per block: test error with it deleted, mean and std over seeds, for each kind."""
    rows = []
    for i, down in enumerate(result.downsampling):
        row: dict[str, Any] = {"block": i, "stage": result.stage_of[i], "downsampling": down}
        for kind in KINDS:
            errs = [r.single_err[i] for r in result.runs if r.kind == kind]
            m, s = mean_std(errs) if None not in errs else (None, None)
            row.update({f"{kind}_err_mean": m, f"{kind}_err_std": s})
        rows.append(row)
    return rows


def _rises(result: LesionResult, kind: Kind, blocks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per block, mean over seeds: (rise in test error in points, damage as defined above)."""
    runs = [r for r in result.runs if r.kind == kind]
    errs = np.array([[r.single_err[i] for i in blocks] for r in runs], dtype=float)
    base = np.array([[r.baseline_err] for r in runs])
    # At least one point of headroom: a net already at chance (diverged) has nothing to lose.
    headroom = np.maximum(result.chance_err - base, 1.0)
    return (errs - base).mean(axis=0), ((errs - base) / headroom).mean(axis=0)


def judge(result: LesionResult) -> LesionVerdict:
    same, depth = result.candidates, result.config.depth
    down = [i for i, d in enumerate(result.downsampling) if d]
    res, res_damage = _rises(result, "residual", same)
    plain, plain_damage = _rises(result, "plain", same)
    plain_runs = [r for r in result.runs if r.kind == "plain"]
    plain_err = np.mean([[r.single_err[i] for i in same] for r in plain_runs], axis=0)
    near = int(np.sum(plain_err >= result.chance_err - NEAR_CHANCE))
    down_rise = float(_rises(result, "residual", down)[0].mean()) if down else math.nan
    base = {k: mean_std([r.baseline_err for r in result.runs if r.kind == k])[0] for k in KINDS}
    r_dmg, p_dmg = float(np.median(res_damage)), float(np.median(plain_damage))
    ok = r_dmg < TOLERATED and r_dmg < p_dmg
    worst = same[int(np.argmax(res))]
    text = (
        f"{'ensemble-like' if ok else 'not ensemble-like'}: deleting one non-downsampling block "
        f"of residual-{depth} raises test error by {np.median(res):+.1f} points in the median "
        f"({100 * r_dmg:.0f}% of the way to chance), at most {res.max():+.1f} (block "
        f"{worst + 1}); intact {base['residual']:.1f}%. Plain-{depth}: median "
        f"{np.median(plain):+.1f} points ({100 * p_dmg:.0f}% of the way to chance; {near} of "
        f"{len(same)} within {NEAR_CHANCE:.0f} points of chance, {result.chance_err:.0f}%); "
        f"intact {base['plain']:.1f}%"
    )
    if down:
        text += f". Residual downsampling blocks: {down_rise:+.1f} points on average"
    return LesionVerdict(
        ok, p_dmg > COLLAPSED, float(np.median(res)), float(res.max()), worst, r_dmg,
        float(np.median(plain)), p_dmg, near, len(same), down_rise, text,
    )  # fmt: skip
