"""The gradient highway (He et al. 2016, "Identity Mappings in Deep Residual Networks", eq. 4-5).

With identity shortcuts and nothing after the addition, x_L = x_l + sum_{i=l}^{L-1} F(x_i), so
dL/dx_l = dL/dx_L (1 + d/dx_l sum F): every block's input gradient contains the top gradient
unchanged and cannot vanish through depth. A plain net has no such term: its gradient is a
product of L Jacobians and may shrink or grow exponentially. The post-activation nets of He et
al. 2015 put a ReLU after the addition, so their highway crosses one ReLU per block (He et al.
2016, 3 and 4.1); pre-activation nets are the pure identity. We measure, per block, the L2 norm
of the loss gradient w.r.t. the block's input and w.r.t. its parameters, for plain, residual
(post-activation) and pre-activation nets, at initialisation and after N training steps with one
recipe, and compare the first block with the last one. ``norms.py`` takes the measurement.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from reslab.data import DataBundle
from reslab.data.cache import cached_data
from reslab.experiments.common import RunTask, mean_std
from reslab.experiments.protocol import net_for
from reslab.experiments.registry import register
from reslab.experiments.spec import ExperimentConfig, Summary, Verdict, define, option
from reslab.models.cifar import blocks_per_stage, cifar_resnet
from reslab.models.resnet import ResNet
from reslab.nn.mappings import shortcut_variant
from reslab.probes.gradients import block_gradient_norms, measurement_batches
from reslab.training import apply_overrides, fit, load_recipe, set_field
from reslab.training.config import TrainConfig
from reslab.training.precision import resolve_device
from reslab.training.rng import seed_everything

TITLE = "The gradient highway"
CLAIM = (
    "through depth, the input gradient of residual and pre-activation nets neither "
    "vanishes nor changes exponentially; a plain net's does"
)
PAPER = "He et al. 2016, Identity Mappings in Deep Residual Networks, eq. 4-5"
QUICK_TIME = "2.5 min"

Kind = Literal["plain", "residual", "preact"]
KINDS: tuple[Kind, ...] = ("plain", "residual", "preact")
NAMES = {"plain": "plain", "residual": "residual", "preact": "pre-activation"}
PHASES = ("init", "trained")
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


@dataclass(kw_only=True)
class GradientsConfig(ExperimentConfig):
    block: str = option("basic", "Block family: basic (depth 6n+2) or bottleneck (9n+2).")
    depths: tuple[int, ...] = option(
        (20, 56, 110, 1202), "Depths to measure: 6n+2 (basic) or 9n+2 (bottleneck), e.g. 20,56."
    )
    # On 2 CPU cores one step of a 1202-layer 1-D net takes seconds: quick measures it at init
    # only.
    train_max_depth: int | None = option(
        110, "Only nets up to this depth are trained --steps steps and measured again (none: "
        "every depth)."
    )  # fmt: skip
    steps: int = option(
        50, "Training steps before the second measurement (0: measure at initialisation only)."
    )
    # No epochs: every net trains the same fixed number of steps.
    epochs: int | None = option(None, "Not used: nets train a fixed number of steps.", cli=False)
    seeds: int = option(2, "Number of seeds (0..N-1).")
    batches: int = option(
        2, "Batches each measurement averages: the first ones of the train split, in order."
    )
    batch_size: int = option(128, "Batch size of the measurement batches and of training.")
    recipe: str = option("mnist1d", "Training recipe: paper, preact, fast or mnist1d.")
    # He et al. 2016, Table 1's shortcuts on the residual block, for the interactive highway of
    # the report; the verdict judges plain, residual and pre-activation only.
    variants: tuple[str, ...] = option(
        ("scale", "exclusive_gate_b0"),
        "Shortcut variants measured as well (names of `reslab run shortcuts --variants`, e.g. "
        "scale, dropout, exclusive_gate_b-6); not judged.",
    )

    @property
    def kinds(self) -> tuple[str, ...]:
        return (*KINDS, *self.variants)

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
    kind: str  # one of KINDS, or a shortcut variant
    depth: int
    seed: int
    # "<part>_<phase>" -> one value per block (model.blocks order), mean over the measurement
    # batches; parts: norms.PARTS. Phases not measured (a net measured at init only) are absent.
    profiles: dict[str, list[float]] = field(default_factory=dict)
    status: str = "init-only"  # or fit's status: "completed" | "diverged"
    diverged_step: int | None = None
    train_loss: float | None = None  # last logged training loss
    test_err: float | None = None  # % after training
    wall_s: float = 0.0

    def profile(self, part: str, phase: str) -> np.ndarray:
        return np.asarray(self.profiles.get(f"{part}_{phase}", []), dtype=float)


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


def build_net(kind: str, depth: int, family: str, bundle: DataBundle) -> ResNet:
    if kind in ARCHS[family]:
        block, shortcut = ARCHS[family][kind]  # type: ignore[index]
        return net_for(bundle, depth, shortcut=shortcut, block=block)
    shortcut, mapping = shortcut_variant(kind)  # a variant of the residual (post-act) net
    return cifar_resnet(
        depth, block=ARCHS[family]["residual"][0], shortcut=shortcut, mapping=mapping,
        dims=bundle.dims, in_channels=bundle.in_channels, num_classes=bundle.num_classes,
    )  # fmt: skip


def measure_one(task: RunTask) -> GradientRecord:
    """One net: built from its seed, measured, trained by ``fit``, measured again."""
    config, kind, depth, seed = task.config, task.kind, task.depth, task.seed
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


def tasks(config: GradientsConfig, workdir: Path | None) -> list[RunTask]:
    # Deepest first: the longest runs start early, so the pool's workers finish together.
    return [
        RunTask(config, k, d, seed=s)
        for d in sorted(config.depths, reverse=True) for s in config.seed_range
        for k in config.kinds
    ]  # fmt: skip


def check(config: GradientsConfig) -> None:
    if config.epochs is not None:
        raise ValueError(
            f"epochs={config.epochs}: the gradients experiment trains a fixed number of steps; "
            "accepted: steps (0: measure at initialisation only)"
        )
    if config.block not in ARCHS:
        raise ValueError(f"block={config.block!r} is unknown; accepted: {', '.join(ARCHS)}")
    if not config.depths or len(set(config.depths)) != len(config.depths):
        raise ValueError(
            f"depths={config.depths} must be one or more distinct depths, e.g. 20,56,110"
        )
    for depth in config.depths:
        blocks_per_stage(depth, config.block)  # raises with the accepted form 6n+2 / 9n+2
    for variant in config.variants:
        shortcut_variant(variant)  # raises naming the accepted variants
        if variant in ("identity", "plain"):
            raise ValueError(f"variants: {variant!r} is measured already (residual / plain)")
    if len(set(config.kinds)) != len(config.kinds):
        raise ValueError(f"variants={config.variants} repeat a net or each other")
    for name, value, low in (
        ("steps", config.steps, 0), ("batches", config.batches, 1),
        ("batch_size", config.batch_size, 1),
    ):  # fmt: skip
        if value < low:
            raise ValueError(f"{name}={value} must be >= {low}")
    if config.train_max_depth is not None and config.train_max_depth < 1:
        raise ValueError(
            f"train_max_depth={config.train_max_depth} must be >= 1, or none to train every depth"
        )
    # Enough training samples for the measurement batches (raises with the accepted number).
    bundle = cached_data(config.data, config.data_dir)
    measurement_batches(bundle, config.batches, config.batch_size, torch.device("cpu"))


# -- summarising ----------------------------------------------------------------------------------


def first_last_ratio(profile: Sequence[float] | np.ndarray) -> float:
    """Norm at the first block over norm at the last; nan unless both are finite, the last > 0."""
    p = np.asarray(profile, dtype=float)
    if len(p) == 0 or not (np.isfinite(p[0]) and np.isfinite(p[-1])) or p[-1] <= 0:
        return math.nan
    return float(p[0] / p[-1])


def summarize(config: GradientsConfig, records: list[GradientRecord]) -> Summary:
    """Per kind and depth, the first/last block ratios over seeds (and the trained nets' error)."""
    rows = []
    for kind in config.kinds:
        for depth in sorted(config.depths):
            group = sorted((r for r in records if r.kind == kind and r.depth == depth),
                           key=lambda r: r.seed)  # fmt: skip
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
    return {"nets": rows}


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


def judge(config: GradientsConfig, summary: Summary) -> Verdict:
    """Eq. 5 of He et al. 2016 predicts that the shortcut nets' input gradient never vanishes and
    does not change exponentially with depth; a plain net's product of Jacobians does. Judged on
    the measurements at initialisation (no training confound); the text adds the trained nets."""
    rows = summary["nets"]
    init = {k: _ratios(rows, k, "init") for k in KINDS}
    phases = [p for p in PHASES if p == "init" or any(config.trains(d) for d in config.depths)]
    laws = {p: {k: growth_law(_ratios(rows, k, p)) for k in KINDS} for p in phases}
    highway = all(
        laws["init"][k] in ("flat", "power-law") and init[k][max(init[k])] >= 1 / FLAT
        for k in ("residual", "preact")
    )
    plain_law = laws["init"]["plain"]
    plain_ratio = init["plain"][max(init["plain"])]
    plain_breaks = plain_law in ("exponential", "non-finite") or (
        plain_law == "one depth" and not 1 / FLAT <= plain_ratio <= FLAT
    )
    parts = [f"at init {_describe(rows, 'init', laws)}"]
    if "trained" in laws:
        parts.append(f"after {config.steps} steps {_describe(rows, 'trained', laws)}")
    text = (
        f"gradient highway {'holds' if highway else 'not seen'}"
        f"{', plain nets break' if plain_breaks else ''} — first/last block input-gradient norm "
        f"ratio, {'; '.join(parts)}"
    )
    # highway_holds: residual and pre-activation neither vanish nor follow an exponential law at
    # init; plain_breaks: plain at init is exponential in depth, vanishing, or overflowing.
    numbers = {"highway_holds": highway, "plain_breaks": plain_breaks, "laws": laws, "flat": FLAT}
    # A law needs two depths: from one, a ratio inside the flat band cannot be told apart.
    one = {k: laws["init"][k] == "one depth" for k in KINDS}
    parts = {
        "highway_holds": "reproduced" if highway
        else "inconclusive" if one["residual"] or one["preact"] else "contradicted",
        "plain_breaks": "reproduced" if plain_breaks
        else "inconclusive" if one["plain"] else "contradicted",
    }  # fmt: skip
    return Verdict.of(parts, text, numbers)


def _ratios(rows: list[dict[str, Any]], kind: str, phase: str) -> dict[int, float]:
    """Blocks -> mean ratio over seeds, for the depths measured in ``phase``."""
    out = {}
    for row in rows:
        if row["kind"] == kind and (phase == "init" or row["trained_steps"]):
            value = row[f"input_ratio_{phase}_mean"]
            out[row["blocks"]] = math.nan if value is None else float(value)
    return out


def _describe(rows: list[dict[str, Any]], phase: str, laws: dict[str, dict[str, str]]) -> str:
    depth_of = {row["blocks"]: row["depth"] for row in rows}
    items = []
    for kind in KINDS:
        ratios = _ratios(rows, kind, phase)
        shallow, deep = min(ratios), max(ratios)
        span = f"{NAMES[kind]}-{depth_of[deep]} {_num(ratios[deep])}"
        if shallow != deep:
            span = f"{NAMES[kind]}-{depth_of[shallow]} {_num(ratios[shallow])} → {span}"
        items.append(f"{span} ({laws[phase][kind]})")
    return ", ".join(items)


def _num(value: float) -> str:
    return f"{value:.2g}" if math.isfinite(value) else "n/a"


def arrays(config: GradientsConfig, records: list[GradientRecord]) -> dict[str, np.ndarray]:
    return {
        f"{RunTask.key_of(r)}_{name}": np.asarray(values, dtype=float)
        for r in records for name, values in r.profiles.items()
    }  # fmt: skip


EXPERIMENT = register(define(__name__, record=GradientRecord, run_task=measure_one))
