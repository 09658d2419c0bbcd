"""Loss landscapes of plain and residual nets of one depth (Li et al. 2018, section 6, Fig. 5).

Claim: without shortcuts the loss surface of a deep net turns chaotic; with identity shortcuts
it stays a smooth, nearly convex basin. For each kind of net and seed: train it (or reuse its
checkpoint), then measure the loss on a fixed subset of the training split (BN in eval mode,
with the trained running statistics)
  - on a 2-D grid theta* + a d1 + b d2, d1 and d2 random Gaussian directions filter-normalised
    to theta* with biases and BN parameters zeroed (Li et al., section 4; ``directions.py``), and
  - along the line (1 - alpha) theta0 + alpha theta* from the initial weights theta0 (Goodfellow
    et al. 2015, "Qualitatively characterizing neural network optimization problems").
With ``trajectory_points`` it also keeps parameter snapshots along training and measures the
loss in the plane of their two PCA directions, the path drawn on it (Li et al., section 7;
``path.py``).
The verdict compares how rough the two surfaces are (``measures.py``). Nets are kept as
checkpoints and grids written incrementally into the run directory, so a resumed run reuses
trained nets and finished grid points (``nets.py``, ``surface.py``); under torchrun the grid
points are shared among the ranks.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from reslab.data import DataBundle, Split, make_loader
from reslab.data.cache import cached_data
from reslab.experiments.common import KINDS, SHORTCUT, Kind, KindTask, mean_std
from reslab.experiments.landscape.curvature import (
    CurvatureRecord,
    check_curvature,
    curvature_arrays,
    curvature_tables,
    hessian_verdict,
    measure_curvature,
)
from reslab.experiments.landscape.nets import (
    TrainSummary,
    build_net,
    make_train_config,
    train_key,
    train_or_reuse,
)
from reslab.experiments.landscape.path import (
    PathRecorder,
    Trajectory,
    trajectory,
    trajectory_arrays,
    trajectory_rows,
)
from reslab.experiments.protocol import require_at_least_one
from reslab.experiments.registry import register
from reslab.experiments.spec import ExperimentConfig, Summary, Verdict, define, option
from reslab.experiments.stats import Threshold, compare
from reslab.models.cifar import blocks_per_stage
from reslab.probes.landscape.directions import flatten, param_vector, random_direction
from reslab.probes.landscape.measures import SurfaceMeasures, measure_surface
from reslab.probes.landscape.surface import (
    Batches,
    FlatProbe,
    GridValues,
    SurfaceStore,
    axis,
    evaluate_points,
    plane,
    surface_key,
)
from reslab.training import validate
from reslab.training.distributed import DistContext, local_rank, setup_distributed
from reslab.training.precision import resolve_device

TITLE = "Loss landscapes of plain and residual nets"
CLAIM = "plain-56's loss surface is chaotic; residual-56's is a smooth basin"
PAPER = "Li et al. 2018, section 6 and Figure 5"
QUICK_TIME = "2 min"

# KINDS and SHORTCUT (common.py): option A, so both nets live in parameter spaces of the same
# shape and the same direction seeds draw the same Gaussian noise for both. Li et al.'s code uses
# projection shortcuts (option B) at the stage changes instead.
SUBSET_SEED = 0  # the same training samples for every seed and kind, so surfaces compare
# The non-convex fractions must differ by more than this to call one surface smoother: 5% of
# the interior points (about 18 of 361 on a 21x21 grid), well above the handful of points that
# flip sign where a smooth surface is nearly flat.
MARGIN = 0.05
THRESHOLDS = {"surface_smoother": Threshold(absolute=MARGIN)}  # declared before any run
MEASURES = (
    "center_loss", "loss_range", "nonconvex_frac", "neg_laplacian_frac", "neg_curvature_ratio",
    "local_minima", "nonfinite",
)  # fmt: skip


@dataclass(kw_only=True)
class LandscapeConfig(ExperimentConfig):
    depth: int = option(
        56, "Depth of both nets (6n+2): the contrast is between kinds at one depth (Fig. 5)."
    )
    seeds: int = option(
        1, "Number of seeds (0..N-1): each its own initialisation, training and directions."
    )
    recipe: str = option("mnist1d", "Training recipe: paper, preact, fast or mnist1d.")
    epochs: int | None = option(8, "Epochs per net (replaces the preset's --steps).")
    samples: int = option(
        1000, "Fixed random subset of the training split the loss is measured on (0: all)."
    )
    span: tuple[float, float] = option(
        (-1.0, 1.0), "Range of both grid axes, in filter-normalised direction units, e.g. -1,1."
    )
    resolution: int = option(21, "Grid points per axis (odd, so that (0, 0) is a grid point).")
    interp_span: tuple[float, float] = option(
        (-0.5, 1.5), "Range of alpha in (1 - alpha) theta0 + alpha theta*; must hold 0 and 1."
    )
    interp_points: int = option(21, "Points on the initial-to-trained line.")
    eval_batch: int = option(1000, "Batch size of the loss evaluations (samples).")
    save_every: int = option(
        21, "Grid points per rank between atomic rewrites of the surface file.", execution=True
    )
    trajectory_points: int = option(
        0, "Snapshots along training (evenly spaced steps, plus the initial weights) whose PCA "
        "plane gets its own loss surface with the path drawn on it (Li et al., section 7); "
        "0: off, else at least 3.",
    )  # fmt: skip
    trajectory_resolution: int = option(
        11, "Grid points per axis of the surface in the trajectory's PCA plane (odd)."
    )
    # The Hessian measures (``curvature.py``): hundreds of Hessian-vector products per net.
    curvature: bool = option(
        False, "Also Li et al.'s Hessian map |lambda_min/lambda_max| and PyHessian's sharpness "
        "(lambda_max, trace, density) at the trained nets."
    )  # fmt: skip
    curvature_resolution: int = option(
        5, "Hessian map points per axis (odd): same directions and span as the surface."
    )
    curvature_iters: int = option(10, "Lanczos steps per Hessian map point.")
    curvature_samples: int = option(
        250, "Training samples of the Hessian: the first of the surface's subset (0: all of it)."
    )
    hessian_probes: int = option(10, "Hutchinson probes of the trace at the trained net.")
    density_iters: int = option(30, "Lanczos steps of the eigenvalue density at the trained net.")


PRESETS: dict[str, LandscapeConfig] = {
    # Minutes on 2 CPU cores: MNIST-1D, 1-D nets trained briefly with the mnist1d recipe, then
    # 21x21 grids of the loss on 1,000 training samples; the path through 16 snapshots (two
    # per epoch) on an 11x11 grid in its PCA plane.
    "quick": LandscapeConfig(trajectory_points=16),
    # Li et al. 2018, section 6 and Figure 5: ResNet-56 with and without shortcuts on CIFAR-10,
    # 300 epochs, batch 128, lr 0.1 divided by 10 at epochs 150, 225 and 275, weight decay 5e-4;
    # 51x51 grids over [-1, 1]^2 of the loss on the whole training set (hours on one GPU).
    "paper": LandscapeConfig(
        data="cifar10",
        preset="paper",
        recipe="paper",
        epochs=300,
        samples=0,
        resolution=51,
        interp_points=41,  # over (-0.5, 1.5): steps of 0.05 hold alpha = 0 and 1
        save_every=51,
        # Li et al.'s trajectory plots take a checkpoint every epoch (save_epoch=1): 300 of them.
        trajectory_points=300,
        trajectory_resolution=51,
        # Li et al., section 6 and Figure 7, on an 11x11 version of the surface's plane; their
        # code computes the Hessian on the whole training loader, so does this (samples 0).
        curvature=True,
        curvature_resolution=11,
        curvature_iters=20,
        curvature_samples=0,
        hessian_probes=100,
        density_iters=100,
        overrides=(
            "schedule.milestones=[0.5,0.75,0.9166667]",
            "optim.weight_decay=0.0005",
            "train.log_every=100",
        ),
    ),
}


class NetTask(KindTask[LandscapeConfig]):
    workdir: str | None  # the run directory: checkpoints and grids resume from files there


@dataclass
class NetRecord:
    kind: Kind
    depth: int
    seed: int
    params: int
    train: TrainSummary
    center_loss: float  # loss of the trained net on the subset: the grid's value at (0, 0)
    center_acc: float
    surface_evaluated: int  # grid points computed by this task (the rest were resumed)
    surface_resumed: int
    surface_wall_s: float
    points_per_s: float
    interp_wall_s: float
    measures: SurfaceMeasures
    # The grids themselves, row-major over (ys, xs) and over alphas (raw.npz rebuilds them).
    surface_loss: list[float]
    surface_acc: list[float]
    interp_loss: list[float]
    interp_acc: list[float]
    # The training path in its PCA plane and the surface there (None: trajectory_points=0, or
    # the training diverged).
    trajectory: Trajectory | None = None
    # --curvature only (None otherwise, and in runs saved before it existed).
    curvature: CurvatureRecord | None = None


def subset_bundle(bundle: DataBundle, samples: int) -> tuple[DataBundle, str]:
    """The training split cut to a fixed random subset of ``samples`` (0: all), and an id of it."""
    n = len(bundle.train)  # type: ignore[arg-type]
    if samples == 0 or samples >= n:
        index = torch.arange(n)
    else:
        generator = torch.Generator().manual_seed(SUBSET_SEED)
        index = torch.randperm(n, generator=generator)[:samples].sort().values
    train = bundle.train
    subset = (
        train.subset(index)
        if isinstance(train, Split)
        else torch.utils.data.Subset(train, index.tolist())
    )
    digest = hashlib.sha256(index.numpy().tobytes()).hexdigest()[:16]
    return replace(bundle, train=subset), f"{bundle.name}:{len(index)}:{digest}"


def surface_batches(subset: DataBundle, batch_size: int, device: torch.device) -> Batches:
    """The subset's batches, on the device, made once and reused at every grid point."""
    return list(make_loader(subset, "train", batch_size=batch_size, train=False, device=device))


def grid_axes(config: LandscapeConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = axis(*config.span, config.resolution)
    alphas = axis(*config.interp_span, config.interp_points, exact=(0.0, 1.0))
    return xs, xs.copy(), alphas


def tasks(config: LandscapeConfig, workdir: Path | None) -> list[NetTask]:
    out = str(workdir) if workdir is not None else None
    return [NetTask(config, kind, out, seed=seed) for seed in config.seed_range for kind in KINDS]


def landscape_one(task: NetTask) -> NetRecord:
    """Train one net (or reuse its checkpoint) and measure its surface and interpolation. With a
    run directory, checkpoint and grids are kept there and resumed point by point."""
    config, kind, seed, workdir = task.config, task.kind, task.seed, task.workdir
    device = resolve_device(config.device, local_rank())
    ctx = setup_distributed(device.type)  # under torchrun: the ranks share the grid points
    name, out = f"{kind}{config.depth}-seed{seed}", Path(workdir) if workdir else None
    checkpoint = out / f"net-{name}.safetensors" if out else None
    recorder = PathRecorder(config.trajectory_points) if config.trajectory_points else None
    model, init, summary = _trained_net(config, kind, seed, device, ctx, checkpoint, recorder)
    subset, data_id = subset_bundle(cached_data(config.data, config.data_dir), config.samples)
    batches = surface_batches(subset, config.eval_batch, device)
    data_id += f":batch{config.eval_batch}"
    xs, ys, alphas = grid_axes(config)
    probe, base = FlatProbe(model), param_vector(model)

    def measure(dirs: list[torch.Tensor], coords: np.ndarray, stem: str) -> GridValues:
        store = None
        if out is not None:
            key = surface_key(model, dirs, coords, data_id)
            store = SurfaceStore(out / f"{stem}-{name}.npz", key)
        return evaluate_points(probe, batches, base, dirs, coords, store=store, ctx=ctx,
                               save_every=config.save_every)  # fmt: skip

    coords = plane(xs, ys)
    grid = measure([random_direction(model, 2 * seed), random_direction(model, 2 * seed + 1)],
                   coords, "surface")  # fmt: skip
    # theta(alpha) = theta* + (1 - alpha)(theta0 - theta*): alpha = 1 is theta* exactly.
    to_init = flatten(init[n] for n, _ in model.named_parameters()) - base
    line = measure([to_init], (1.0 - alphas)[:, None], "interp")
    center = int(np.flatnonzero((coords == 0).all(axis=1))[0])
    path = None
    if recorder is not None and summary.status == "completed":
        path = trajectory(recorder, model, config.trajectory_resolution, measure, ctx)
    curvature = _curvature(config, model, device, ctx, seed) if config.curvature else None
    return NetRecord(
        kind=kind, depth=config.depth, seed=seed,
        params=sum(p.numel() for p in model.parameters()), train=summary,
        center_loss=float(grid.loss[center]), center_acc=float(grid.acc[center]),
        surface_evaluated=grid.evaluated, surface_resumed=grid.resumed,
        surface_wall_s=grid.wall_s,
        points_per_s=grid.evaluated / grid.wall_s if grid.evaluated else float("nan"),
        interp_wall_s=line.wall_s,
        measures=measure_surface(grid.loss.reshape(len(ys), len(xs)), xs, ys),
        surface_loss=grid.loss.tolist(), surface_acc=grid.acc.tolist(),
        interp_loss=line.loss.tolist(), interp_acc=line.acc.tolist(), trajectory=path,
        curvature=curvature,
    )  # fmt: skip


def _curvature(
    config: LandscapeConfig, model: torch.nn.Module, device: torch.device, ctx: DistContext,
    seed: int,
) -> CurvatureRecord:  # fmt: skip
    # A nested subset: the same permutation as the surface's, cut shorter.
    samples = config.curvature_samples or config.samples
    subset, _ = subset_bundle(cached_data(config.data, config.data_dir), samples)
    batches = surface_batches(subset, config.eval_batch, device)
    return measure_curvature(config, model, batches, len(subset.train), seed, ctx)  # type: ignore[arg-type]


def _trained_net(
    config: LandscapeConfig, kind: Kind, seed: int, device: torch.device, ctx: DistContext,
    checkpoint: Path | None, recorder: PathRecorder | None = None,
) -> tuple[torch.nn.Module, dict[str, torch.Tensor], TrainSummary]:  # fmt: skip
    shortcut = SHORTCUT[kind]
    bundle = cached_data(config.data, config.data_dir)
    model = build_net(config.depth, shortcut, seed, bundle)
    train_cfg = make_train_config(
        config.recipe, config.data, config.epochs, config.steps, seed, config.overrides
    )
    key = train_key(train_cfg, config.depth, shortcut)
    if recorder is not None:  # a checkpoint without the snapshots cannot serve
        key += f":path{recorder.points}"
    init, summary = train_or_reuse(
        model, bundle, train_cfg, key, device=device, ctx=ctx, checkpoint=checkpoint,
        recorder=recorder,
    )  # fmt: skip
    return model, init, summary


def check(config: LandscapeConfig) -> None:
    blocks_per_stage(config.depth, "basic")  # raises with the accepted form 6n+2
    require_at_least_one(config, "eval_batch", "save_every")
    if config.samples < 0:
        raise ValueError(f"samples={config.samples} must be >= 0 (0: the whole training split)")
    if config.resolution < 3:
        raise ValueError(f"resolution={config.resolution} must be >= 3 (curvature needs 3x3)")
    grid_axes(config)  # raises unless (0, 0), alpha = 0 and alpha = 1 are grid points
    check_trajectory(config)
    if config.curvature:
        check_curvature(config)
    # A bad recipe or --set override fails now, not in a worker after the data has loaded.
    validate(
        make_train_config(
            config.recipe, config.data, config.epochs, config.steps, 0, config.overrides
        )
    )


def check_trajectory(config: LandscapeConfig) -> None:
    points, res = config.trajectory_points, config.trajectory_resolution
    if points != 0 and points < 3:
        raise ValueError(
            f"trajectory_points={points} must be 0 (off) or >= 3 (PCA in two directions of "
            "centred snapshots needs three besides the trained weights)"
        )
    if res < 3 or res % 2 == 0:
        raise ValueError(
            f"trajectory_resolution={res} must be odd and >= 3, so that the trained net (0, 0) "
            "is a grid point"
        )
    if points and config.steps is not None and config.steps < 3:
        raise ValueError(
            f"steps={config.steps} gives fewer than 3 snapshots besides the trained net; use "
            "trajectory_points=0 or train for at least 3 steps"
        )


def summarize(config: LandscapeConfig, records: list[NetRecord]) -> Summary:
    """Mean and std over seeds of each measure, per kind of net; and one row per net."""
    nets = []
    for kind in KINDS:
        group = [r for r in records if r.kind == kind]
        row = {"kind": kind, "depth": config.depth, "seeds": len(group)}
        for name in MEASURES:
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std(
                [asdict(r.measures)[name] for r in group]
            )
        for name in ("train_err", "test_err"):
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std(
                [getattr(r.train, name) for r in group]
            )
        nets.append(row)
    runs = [
        {
            "kind": r.kind, "depth": r.depth, "seed": r.seed, "params": r.params,
            "training": r.train.status, "weights": "reused" if r.train.reused else "trained",
            "train_err": r.train.train_err, "test_err": r.train.test_err,
            "points_computed": r.surface_evaluated, "points_resumed": r.surface_resumed,
            "points_per_s": r.points_per_s,
        }
        for r in records
    ]  # fmt: skip
    out = {"nets": nets, "runs": runs, **curvature_tables(config, records, KINDS)}
    out["per_seed_nonconvex"] = {
        k: [r.measures.nonconvex_frac for r in records if r.kind == k] for k in KINDS
    }
    if rows := trajectory_rows(records):
        out["trajectory"] = rows
    return out


def judge(config: LandscapeConfig, summary: Summary) -> Verdict:
    """Residual smoother than plain: fewer non-convex grid points per seed (by at least
    ``MARGIN``, ``stats.compare``) and no more local minima; with --curvature, Li et al.'s
    Hessian map is a second measure of the same claim: the outcome stands where both measures
    give it, and is inconclusive where they disagree; the text says whether they agree."""
    by = {row["kind"]: row for row in summary["nets"]}
    p, r = by["plain"], by["residual"]
    p_nc, r_nc = p["nonconvex_frac_mean"], r["nonconvex_frac_mean"]
    p_min, r_min = p["local_minima_mean"], r["local_minima_mean"]
    seeds = summary.get("per_seed_nonconvex") or {"plain": [p_nc], "residual": [r_nc]}
    parts = {"surface_smoother": _smoother(seeds, r_min <= p_min)}
    smoother = {"reproduced": True, "contradicted": None}.get(parts["surface_smoother"])
    if smoother is None and _smoother({"plain": seeds["residual"], "residual": seeds["plain"]},
                                      p_min <= r_min) == "reproduced":  # fmt: skip
        smoother = False  # the plain surface is the smoother one
    depth, res, (lo, hi) = p["depth"], config.resolution, config.span
    lead = {
        True: f"residual-{depth} surface is smoother than plain-{depth}",
        False: f"plain-{depth} surface is smoother than residual-{depth}",
        None: f"no clear difference in smoothness between plain-{depth} and residual-{depth}",
    }[smoother]
    text = (
        f"{lead}: {100 * r_nc:.0f}% vs {100 * p_nc:.0f}% of grid points non-convex (a negative "
        f"curvature in the plotted plane), {r_min:.3g} vs {p_min:.3g} local minima, loss range "
        f"{r['loss_range_mean']:.3g} vs {p['loss_range_mean']:.3g} (residual vs plain; "
        f"{res}x{res} grid over [{lo:g}, {hi:g}]^2, "
        f"{p['seeds']} seed{'s' if p['seeds'] > 1 else ''})"
    )
    numbers = {
        "smoother": smoother, "plain_nonconvex": p_nc, "residual_nonconvex": r_nc,
        "plain_minima": p_min, "residual_minima": r_min,
    }  # fmt: skip
    if "hessian_map" in summary:  # --curvature: the second measure, and whether it agrees
        extra, more = hessian_verdict(config, summary, smoother)
        text, numbers = f"{text}. {extra}", {**numbers, **more}
        parts["hessian_convexer"] = {True: "reproduced", False: "contradicted"}.get(
            more["hessian_convexer"], "inconclusive"
        )
    # Two measures of one property: where they disagree, the claim cannot be told.
    outcome = parts["surface_smoother"]
    if parts.get("hessian_convexer", outcome) != outcome:
        outcome = "inconclusive"
    return Verdict(outcome == "reproduced", text, numbers, outcome, parts)


def _smoother(nonconvex: dict[str, list[float]], fewer_minima: bool) -> str:
    """Outcome of "the residual surface has fewer non-convex points than the plain one, by at
    least ``MARGIN``, and no more local minima"."""
    if any(np.isnan(v) for k in KINDS for v in nonconvex[k]):
        return "inconclusive"
    outcome = compare(nonconvex["plain"], nonconvex["residual"],
                      threshold=THRESHOLDS["surface_smoother"]).outcome  # fmt: skip
    return "inconclusive" if outcome == "reproduced" and not fewer_minima else outcome


def arrays(config: LandscapeConfig, records: list[NetRecord]) -> dict[str, np.ndarray]:
    """raw.npz: the axes, and per net ``<kind>_seed<s>_loss``/``_acc`` (ys x xs) and
    ``_interp_loss``/``_interp_acc`` (alphas); with a trajectory, ``_traj_*`` too
    (``path.trajectory_arrays``)."""
    xs, ys, alphas = grid_axes(config)
    out = {"xs": xs, "ys": ys, "alphas": alphas}
    shape = (len(ys), len(xs))
    for r in records:
        prefix = NetTask.key_of(r)
        out[f"{prefix}_loss"] = np.array(r.surface_loss, dtype=float).reshape(shape)
        out[f"{prefix}_acc"] = np.array(r.surface_acc, dtype=float).reshape(shape)
        out[f"{prefix}_interp_loss"] = np.array(r.interp_loss, dtype=float)
        out[f"{prefix}_interp_acc"] = np.array(r.interp_acc, dtype=float)
        if r.trajectory is not None:
            out.update(trajectory_arrays(prefix, r.trajectory))
    return {**out, **curvature_arrays(config, records)}


EXPERIMENT = register(define(__name__, record=NetRecord, run_task=landscape_one))
