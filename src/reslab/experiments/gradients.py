"""The gradient highway (He et al. 2016, "Identity Mappings in Deep Residual Networks", eq. 4-5).

With identity shortcuts and nothing after the addition, x_L = x_l + sum_{i=l}^{L-1} F(x_i), so
dL/dx_l = dL/dx_L (1 + d/dx_l sum F): every block's input gradient contains the top gradient
unchanged and cannot vanish through depth. A plain net has no such term: its gradient is a
product of L Jacobians and may shrink or grow exponentially. The post-activation nets of He et
al. 2015 put a ReLU after the addition, so their highway crosses one ReLU per block (He et al.
2016, 3 and 4.1); pre-activation nets are the pure identity. We measure, per block, the L2 norm
of the loss gradient w.r.t. the block's input and w.r.t. its parameters, for plain, residual
(post-activation) and pre-activation nets, at initialisation and after N training steps with one
recipe, and compare the first block with the last one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from reslab.blocks import ResidualBlock
from reslab.data import DataBundle, make_loader
from reslab.experiments.common import (
    ExperimentResult,
    finished,
    mean_std,
    provenance,
)
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import net_for, pick_preset, run_all
from reslab.models.cifar import blocks_per_stage
from reslab.models.resnet import ResNet
from reslab.training import apply_overrides, fit, load_recipe, set_field
from reslab.training.config import TrainConfig
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything

Kind = Literal["plain", "residual", "preact"]
KINDS: tuple[Kind, ...] = ("plain", "residual", "preact")
PHASES = ("init", "trained")
# Per block: ||dL/dx_l|| (the block's input), ||dL/dtheta_l|| (its parameters) and ||x_l||.
PARTS = ("input", "weight", "activation")
# (block, shortcut) of each kind, per block family. Residual basic nets use option A, as the
# CIFAR nets of He et al. 2015 (4.2); bottleneck nets and every pre-activation net project where
# the shape changes (option B), as in He et al. 2016 (ResNet-164/1001). Plain: no shortcut.
ARCHS: dict[str, dict[Kind, tuple[str, str]]] = {
    "basic": {"plain": ("basic", "none"), "residual": ("basic", "A"),
              "preact": ("preact_basic", "B")},
    "bottleneck": {"plain": ("bottleneck", "none"), "residual": ("bottleneck", "B"),
                   "preact": ("preact_bottleneck", "B")},
}  # fmt: skip
# A first/last ratio within [1/FLAT, FLAT] counts as flat: an exponential trend over 50 or more
# blocks leaves this band by orders of magnitude, while a ratio of a few is a gentle slope.
FLAT = 10.0


@dataclass
class GradientsConfig:
    data: str = "mnist1d"
    data_dir: str | None = None
    block: str = "basic"  # block family: "basic" (depth 6n+2) or "bottleneck" (9n+2)
    depths: tuple[int, ...] = (20, 56, 110, 1202)
    # Nets up to this depth are also trained `steps` steps and measured again (None: all). On 2
    # CPU cores one step of a 1202-layer 1-D net takes seconds: quick measures it at init only.
    train_max_depth: int | None = 110
    steps: int = 50  # 0: measure at initialisation only
    seeds: int = 2
    batches: int = 2  # measurement batches, the first ones of the train split in order
    batch_size: int = 128
    preset: str = "quick"
    recipe: str = "mnist1d"
    overrides: tuple[str, ...] = ()  # extra "section.field=value" training overrides
    device: str = "auto"
    workers: int = 0  # 0: automatic (2 processes on CPU, 1 on GPU)

    @classmethod
    def preset_config(cls, name: str, **changes: Any) -> GradientsConfig:
        return pick_preset(PRESETS, name, changes)

    def trains(self, depth: int) -> bool:
        return self.steps > 0 and (self.train_max_depth is None or depth <= self.train_max_depth)


PRESETS: dict[str, GradientsConfig] = {
    # Minutes on 2 CPU cores: MNIST-1D, 1-D nets, the MNIST-1D recipe cut to 50 steps.
    "quick": GradientsConfig(),
    # CIFAR-10, 2-D nets up to ResNet-1202 (He et al. 2015, 4.2), every depth trained 2000
    # iterations of the paper's recipe, its schedule compressed to that length (hours on a GPU).
    "paper": GradientsConfig(
        data="cifar10",
        depths=(20, 56, 110, 1202),
        train_max_depth=None,
        steps=2000,
        seeds=3,
        batches=8,
        preset="paper",
        recipe="paper",
    ),
}


@dataclass
class GradientRecord:
    kind: Kind
    depth: int
    seed: int
    # "<part>_<phase>" -> one value per block (model.blocks order), mean over the measurement
    # batches; parts: PARTS. Phases not measured (a net measured at init only) are absent.
    profiles: dict[str, list[float]] = field(default_factory=dict)
    status: str = "init-only"  # or fit's status: "completed" | "diverged"
    diverged_step: int | None = None
    train_loss: float | None = None  # last logged training loss
    test_err: float | None = None  # % after training
    wall_s: float = 0.0

    def profile(self, part: str, phase: str) -> np.ndarray:
        return np.asarray(self.profiles.get(f"{part}_{phase}", []), dtype=float)


@dataclass
class Verdict:
    highway_holds: bool  # residual and pre-activation: no vanishing, no exponential law, at init
    plain_breaks: bool  # plain at init: exponential in depth, vanishing, or overflowing
    text: str
    laws: dict[str, dict[str, str]] = field(default_factory=dict)  # phase -> kind -> growth_law
    flat: float = FLAT  # the band used, kept with the run


@dataclass
class GradientsResult(ExperimentResult):
    experiment = "gradients"
    config: GradientsConfig
    provenance: dict[str, Any]
    records: list[GradientRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f"{r.kind}{r.depth}_seed{r.seed}_{name}": np.asarray(values, dtype=float)
            for r in self.records for name, values in r.profiles.items()
        }  # fmt: skip

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        runs = [{k: v for k, v in vars(r).items() if k != "profiles"} for r in self.records]
        return {"summary": self.summary, "runs": runs}


# -- measuring ------------------------------------------------------------------------------------


def block_gradient_norms(
    model: ResNet, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, np.ndarray]:
    """Per block, the mean over ``batches`` of: "input" ||dLoss/dx_l|| (x_l the block's input),
    "weight" ||dLoss/d(block parameters, concatenated)|| and "activation" ||x_l|| (L2 norms over
    the whole batch). The loss is the batch-mean cross-entropy.

    Measured in train mode (BN normalises with batch statistics), the mode training takes its
    gradients in; the model's mode and BN running statistics are left as they were.
    """
    blocks = model.blocks
    with _train_mode_untouched(model):
        per_batch = [_batch_norms(model, blocks, x, y) for x, y in batches]
    return {part: np.mean([b[part] for b in per_batch], axis=0) for part in PARTS}


@contextmanager
def _train_mode_untouched(model: ResNet) -> Iterator[None]:
    # A measurement must not move BN running statistics: the trained net is measured again later.
    was_training = model.training
    saved = [b.detach().clone() for b in model.buffers()]
    model.train()
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved, strict=True):
                buffer.copy_(value)
        model.train(was_training)


def _batch_norms(
    model: ResNet, blocks: list[ResidualBlock], x: torch.Tensor, y: torch.Tensor
) -> dict[str, list[float]]:
    inputs: list[torch.Tensor] = []
    hooks = [b.register_forward_pre_hook(lambda _m, args: inputs.append(args[0])) for b in blocks]
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for hook in hooks:
            hook.remove()
    params = [[p for p in b.parameters() if p.requires_grad] for b in blocks]
    flat = [p for group in params for p in group]
    grads = torch.autograd.grad(loss, [*inputs, *flat], allow_unused=True, materialize_grads=True)
    # Norms in float64: a plain net's gradient can be finite per element yet overflow float32
    # once squared and summed.
    squares = [torch.linalg.vector_norm(g.double()) ** 2 for g in grads[len(inputs) :]]
    weight, start = [], 0
    for group in params:
        weight.append(torch.stack(squares[start : start + len(group)]).sum().sqrt())
        start += len(group)
    return {
        "input": [torch.linalg.vector_norm(g.double()).item() for g in grads[: len(inputs)]],
        "weight": torch.stack(weight).tolist(),
        "activation": [torch.linalg.vector_norm(t.detach().double()).item() for t in inputs],
    }


def measurement_batches(
    bundle: DataBundle, batches: int, batch_size: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``batches`` full batches of the train split, in order, without augmentation: the
    same inputs for every net and seed, so seeds differ only in their weights."""
    loader = make_loader(bundle, "train", batch_size=batch_size, train=False, device=device)
    out = [(x, y) for x, y in islice(loader, batches) if len(y) == batch_size]
    if len(out) < batches:
        size = len(bundle.train)  # type: ignore[arg-type]
        raise ValueError(
            f"batches={batches} of batch_size={batch_size} needs {batches * batch_size} training "
            f"samples but {bundle.name} has {size}; accepted: batches <= {size // batch_size}"
        )
    return out


# -- running --------------------------------------------------------------------------------------


def build_net(kind: Kind, depth: int, family: str, bundle: DataBundle) -> ResNet:
    block, shortcut = ARCHS[family][kind]
    return net_for(bundle, depth, shortcut=shortcut, block=block)


def train_config(config: GradientsConfig, seed: int) -> TrainConfig:
    cfg = load_recipe(config.recipe)
    for key, value in (
        ("data.name", config.data), ("data.batch_size", config.batch_size),
        ("train.epochs", None), ("train.steps", max(1, config.steps)), ("train.seed", seed),
        ("train.log_every", max(1, min(10, config.steps))), ("train.eval_train", False),
        ("train.checkpoint_every", 0),
        # Only the test error at the end is reported: skip the evaluations of earlier epochs.
        ("train.eval_every", 10**9),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return apply_overrides(cfg, config.overrides)


def measure_one(task: tuple[GradientsConfig, Kind, int, int]) -> GradientRecord:
    """One net: built from its seed, measured, trained by ``fit``, measured again."""
    config, kind, depth, seed = task
    started = time.perf_counter()
    bundle = cached_data(config.data, config.data_dir)
    device = resolve_device(config.device)
    batches = measurement_batches(bundle, config.batches, config.batch_size, device)
    seed_everything(seed)  # the initial weights are a function of the seed
    model = build_net(kind, depth, config.block, bundle).to(device)
    record = GradientRecord(kind, depth, seed)
    _store(record, "init", block_gradient_norms(model, batches))
    if config.trains(depth):
        result = fit(model, bundle, train_config(config, seed), device=config.device)
        # A diverged net is measured too: its non-finite norms are the record of the divergence.
        _store(record, "trained", block_gradient_norms(model, batches))
        record.status, record.diverged_step = result.status, result.diverged_step
        record.train_loss = result.history[-1]["train_loss"] if result.history else None
        test_err = result.final.get("test_err")
        record.test_err = 100 * test_err if test_err is not None else None
    record.wall_s = time.perf_counter() - started
    return record


def _store(record: GradientRecord, phase: str, norms: dict[str, np.ndarray]) -> None:
    for part, values in norms.items():
        record.profiles[f"{part}_{phase}"] = values.tolist()


def run(config: GradientsConfig, *, progress: bool = False) -> GradientsResult:
    _check(config)
    seeds = list(range(config.seeds))
    bundle = cached_data(config.data, config.data_dir)  # fail fast on missing data
    measurement_batches(bundle, config.batches, config.batch_size, torch.device("cpu"))
    prov = provenance(resolve_device(config.device), seeds)
    # Deepest first: the longest runs start early, so the pool's workers finish together.
    tasks = [(config, k, d, s) for d in sorted(config.depths, reverse=True) for s in seeds
             for k in KINDS]  # fmt: skip
    records = run_all(
        measure_one, tasks, workers=config.workers, device=config.device, progress=progress,
        desc="gradient runs", unit="net",
    )  # fmt: skip
    records.sort(key=lambda r: (KINDS.index(r.kind), r.depth, r.seed))
    result = GradientsResult(config, finished(prov), records)
    result.summary = summarize(records, config)
    result.verdict = judge(result.summary, config)
    return result


def _check(config: GradientsConfig) -> None:
    if config.block not in ARCHS:
        raise ValueError(f"block={config.block!r} is unknown; accepted: {', '.join(ARCHS)}")
    if not config.depths:
        raise ValueError("depths=() is empty; accepted: one or more depths, e.g. 20,56,110")
    for depth in config.depths:
        blocks_per_stage(depth, config.block)  # raises with the accepted form 6n+2 / 9n+2
    for name, value, low in (
        ("seeds", config.seeds, 1), ("steps", config.steps, 0), ("batches", config.batches, 1),
        ("batch_size", config.batch_size, 1),
    ):  # fmt: skip
        if value < low:
            raise ValueError(f"{name}={value} must be >= {low}")
    if config.train_max_depth is not None and config.train_max_depth < 1:
        raise ValueError(
            f"train_max_depth={config.train_max_depth} must be >= 1, or None to train every depth"
        )


# -- summarising ----------------------------------------------------------------------------------


def first_last_ratio(profile: Sequence[float] | np.ndarray) -> float:
    """Norm at the first block over norm at the last; nan unless both are finite, the last > 0."""
    p = np.asarray(profile, dtype=float)
    if len(p) == 0 or not (np.isfinite(p[0]) and np.isfinite(p[-1])) or p[-1] <= 0:
        return math.nan
    return float(p[0] / p[-1])


def summarize(records: list[GradientRecord], config: GradientsConfig) -> list[dict[str, Any]]:
    rows = []
    for kind in KINDS:
        for depth in sorted(config.depths):
            group = [r for r in records if r.kind == kind and r.depth == depth]
            row: dict[str, Any] = {
                "kind": kind, "depth": depth, "seeds": len(group),
                "blocks": len(group[0].profile("input", "init")) if group else 0,
            }  # fmt: skip
            for part in ("input", "weight"):
                for phase in PHASES:
                    row.update(_ratio_stats(group, part, phase))
            row["trained_steps"] = config.steps if config.trains(depth) else 0
            row["diverged"] = sum(r.status == "diverged" for r in group)
            errs = [r.test_err for r in group if r.test_err is not None]
            row["test_err_mean"], row["test_err_std"] = mean_std(errs) if errs else (None, None)
            rows.append(row)
    return rows


def _ratio_stats(group: list[GradientRecord], part: str, phase: str) -> dict[str, Any]:
    measured = [r.profile(part, phase) for r in group if r.profile(part, phase).size]
    ratios = [first_last_ratio(p) for p in measured]
    finite = [x for x in ratios if math.isfinite(x) and x > 0]
    mean, std = mean_std(finite) if finite else (math.nan, math.nan)
    key = f"{part}_ratio_{phase}"
    return {f"{key}_mean": mean, f"{key}_std": std, f"{key}_nonfinite": len(ratios) - len(finite)}


# -- judging --------------------------------------------------------------------------------------


def growth_law(ratios: dict[int, float]) -> str:
    """How a first/last ratio scales with the number of blocks n, from the shallowest and the
    deepest net: "exponential" (ln r proportional to n - 1, as for a product of Jacobians),
    "power-law" (ln r proportional to ln n, the slow growth of a residual sum), "flat" (the
    deepest ratio is within FLAT of 1), "non-finite", or "one depth" (no law from one point).

    The deepest ratio is compared, in log space, with both extrapolations from the shallowest.
    """
    n_deep, n_shallow = max(ratios), min(ratios)
    deep, shallow = ratios[n_deep], ratios[n_shallow]
    if not math.isfinite(deep) or deep <= 0:
        return "non-finite"
    if 1 / FLAT <= deep <= FLAT:
        return "flat"
    if n_deep == n_shallow or not math.isfinite(shallow) or shallow <= 0:
        return "one depth"
    observed, base = abs(math.log(deep)), abs(math.log(shallow))
    exponential = base * (n_deep - 1) / (n_shallow - 1)
    power = base * math.log(n_deep) / math.log(n_shallow)
    return "exponential" if abs(observed - exponential) < abs(observed - power) else "power-law"


def judge(summary: list[dict[str, Any]], config: GradientsConfig) -> Verdict:
    """Eq. 5 of He et al. 2016 predicts that the shortcut nets' input gradient never vanishes and
    does not change exponentially with depth; a plain net's product of Jacobians does. Judged on
    the measurements at initialisation (no training confound); the text adds the trained nets."""
    init = {k: _ratios(summary, k, "init") for k in KINDS}
    phases = [p for p in PHASES if p == "init" or any(config.trains(d) for d in config.depths)]
    laws = {p: {k: growth_law(_ratios(summary, k, p)) for k in KINDS} for p in phases}
    highway = all(
        laws["init"][k] in ("flat", "power-law") and init[k][max(init[k])] >= 1 / FLAT
        for k in ("residual", "preact")
    )
    plain_law = laws["init"]["plain"]
    plain_ratio = init["plain"][max(init["plain"])]
    plain_breaks = plain_law in ("exponential", "non-finite") or (
        plain_law == "one depth" and not 1 / FLAT <= plain_ratio <= FLAT
    )
    parts = [f"at init {_describe(summary, 'init', laws)}"]
    if "trained" in laws:
        parts.append(f"after {config.steps} steps {_describe(summary, 'trained', laws)}")
    text = (
        f"gradient highway {'holds' if highway else 'not seen'}"
        f"{', plain nets break' if plain_breaks else ''} — first/last block input-gradient norm "
        f"ratio, {'; '.join(parts)}"
    )
    return Verdict(highway, plain_breaks, text, laws)


def _ratios(summary: list[dict[str, Any]], kind: str, phase: str) -> dict[int, float]:
    """Blocks -> mean ratio over seeds, for the depths measured in ``phase``."""
    out = {}
    for row in summary:
        if row["kind"] == kind and (phase == "init" or row["trained_steps"]):
            value = row[f"input_ratio_{phase}_mean"]
            out[row["blocks"]] = math.nan if value is None else float(value)
    return out


def _describe(summary: list[dict[str, Any]], phase: str, laws: dict[str, dict[str, str]]) -> str:
    names = {"plain": "plain", "residual": "residual", "preact": "pre-activation"}
    depth_of = {row["blocks"]: row["depth"] for row in summary}
    items = []
    for kind in KINDS:
        ratios = _ratios(summary, kind, phase)
        shallow, deep = min(ratios), max(ratios)
        span = f"{names[kind]}-{depth_of[deep]} {_num(ratios[deep])}"
        if shallow != deep:
            span = f"{names[kind]}-{depth_of[shallow]} {_num(ratios[shallow])} → {span}"
        items.append(f"{span} ({laws[phase][kind]})")
    return ", ".join(items)


def _num(value: float) -> str:
    return f"{value:.2g}" if math.isfinite(value) else "n/a"
