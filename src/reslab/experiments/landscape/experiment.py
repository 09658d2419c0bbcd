"""Loss landscapes of plain and residual nets of one depth (Li et al. 2018, section 6, Fig. 5).

For each kind of net and seed: train it (or reuse its checkpoint), then measure the loss on a
fixed subset of the training split (BN in eval mode, with the trained running statistics)
  - on a 2-D grid theta* + a d1 + b d2, d1 and d2 random Gaussian directions filter-normalised
    to theta* with biases and BN parameters zeroed (Li et al., section 4), and
  - along the line (1 - alpha) theta0 + alpha theta* from the initial weights theta0 (Goodfellow
    et al. 2015, "Qualitatively characterizing neural network optimization problems").
Grids are written incrementally into the run directory and resumed; under torchrun the grid
points are shared among the ranks.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data import DataBundle, Split, make_loader
from reslab.experiments.common import ExperimentResult, finished, load_arrays, provenance
from reslab.experiments.landscape.config import KINDS, SHORTCUT, Kind, LandscapeConfig, check_config
from reslab.experiments.landscape.directions import flatten, param_vector, random_direction
from reslab.experiments.landscape.measures import SurfaceMeasures, measure_surface
from reslab.experiments.landscape.nets import (
    TrainSummary,
    build_net,
    make_train_config,
    train_key,
    train_or_reuse,
)
from reslab.experiments.landscape.surface import (
    Batches,
    FlatProbe,
    GridValues,
    SurfaceStore,
    axis,
    evaluate_points,
    plane,
    surface_key,
)
from reslab.experiments.landscape.verdict import Verdict, judge, summarize
from reslab.experiments.runner import cached_data, default_workers
from reslab.experiments.setup import run_all
from reslab.training.distributed import DistContext, setup_distributed
from reslab.training.precision import resolve_device

SUBSET_SEED = 0  # the same training samples for every seed and kind, so surfaces compare


@dataclass
class NetRecord:
    kind: Kind
    depth: int
    seed: int
    params: int
    train: TrainSummary
    center_loss: float  # loss of the trained net on the subset: the grid's value at (0, 0)
    center_acc: float
    surface_evaluated: int  # grid points computed in this run (the rest were resumed)
    surface_resumed: int
    surface_wall_s: float
    points_per_s: float
    interp_wall_s: float
    measures: SurfaceMeasures


@dataclass
class LandscapeResult(ExperimentResult):
    experiment = "landscape"
    config: LandscapeConfig
    provenance: dict[str, Any]
    nets: list[NetRecord] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None

    def __post_init__(self) -> None:
        # Bulky grids go to raw.npz only (arrays()), not into results.json: not a dataclass field.
        self.grids: dict[str, np.ndarray] = {}

    def arrays(self) -> dict[str, np.ndarray]:
        return self.grids

    @classmethod
    def load(cls, run_dir: Path | str) -> LandscapeResult:
        """``ExperimentResult.load``, with the grids read back from raw.npz."""
        result = super().load(run_dir)
        result.grids = load_arrays(run_dir)
        return result

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        rows = []
        for r in self.nets:
            flat = {k: v for k, v in vars(r).items() if k not in ("train", "measures")}
            rows.append({**flat, **vars(r.train), **vars(r.measures)})
        return {"summary": self.summary, "nets": rows}


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


@dataclass
class _Job:
    """One net of one seed, and where and how it is measured."""

    config: LandscapeConfig
    kind: Kind
    seed: int
    out: Path | None
    progress: bool
    device: torch.device
    ctx: DistContext

    @property
    def name(self) -> str:
        return f"{self.kind}{self.config.depth}-seed{self.seed}"

    def store(self, stem: str, model: torch.nn.Module, dirs: list[torch.Tensor],
              coords: np.ndarray, data_id: str) -> SurfaceStore | None:  # fmt: skip
        if self.out is None:
            return None
        path = self.out / f"{stem}-{self.name}.npz"
        return SurfaceStore(path, surface_key(model, dirs, coords, data_id))


def landscape_one(
    task: tuple[LandscapeConfig, Kind, int, str | None, bool],
) -> tuple[NetRecord, dict[str, np.ndarray]]:
    """Train one net and measure its surface and interpolation (a top-level function: picklable
    for the process pool)."""
    config, kind, seed, out_dir, progress = task
    device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    job = _Job(config, kind, seed, Path(out_dir) if out_dir else None, progress, device,
               setup_distributed(device.type))  # fmt: skip
    model, init, summary = _trained_net(job)
    subset, data_id = subset_bundle(cached_data(config.data, config.data_dir), config.samples)
    batches = surface_batches(subset, config.eval_batch, device)
    data_id += f":batch{config.eval_batch}"
    xs, ys, alphas = grid_axes(config)
    probe, base = FlatProbe(model), param_vector(model)

    def measure(dirs: list[torch.Tensor], coords: np.ndarray, stem: str) -> GridValues:
        return evaluate_points(
            probe, batches, base, dirs, coords, store=job.store(stem, model, dirs, coords, data_id),
            ctx=job.ctx, save_every=config.save_every, progress=progress, desc=f"{job.name} {stem}",
        )  # fmt: skip

    grid = measure([random_direction(model, 2 * seed), random_direction(model, 2 * seed + 1)],
                   plane(xs, ys), "surface")  # fmt: skip
    # theta(alpha) = theta* + (1 - alpha)(theta0 - theta*): alpha = 1 is theta* exactly.
    to_init = flatten(init[n] for n, _ in model.named_parameters()) - base
    line = measure([to_init], (1.0 - alphas)[:, None], "interp")
    shape = (len(ys), len(xs))
    record = _record(job, model, summary, grid, line, plane(xs, ys), xs, ys)
    prefix = f"{kind}_seed{seed}"
    arrays = {
        f"{prefix}_loss": grid.loss.reshape(shape), f"{prefix}_acc": grid.acc.reshape(shape),
        f"{prefix}_interp_loss": line.loss, f"{prefix}_interp_acc": line.acc,
    }  # fmt: skip
    return record, arrays


def _trained_net(job: _Job) -> tuple[torch.nn.Module, dict[str, torch.Tensor], TrainSummary]:
    config, shortcut = job.config, SHORTCUT[job.kind]
    bundle = cached_data(config.data, config.data_dir)
    model = build_net(config.depth, shortcut, job.seed, bundle)
    train_cfg = make_train_config(
        config.recipe, config.data, config.epochs, config.steps, job.seed, config.overrides
    )
    checkpoint = job.out / f"net-{job.name}.safetensors" if job.out else None
    init, summary = train_or_reuse(
        model, bundle, train_cfg, train_key(train_cfg, config.depth, shortcut),
        device=job.device, ctx=job.ctx, checkpoint=checkpoint,
    )  # fmt: skip
    return model, init, summary


def _record(
    job: _Job, model: torch.nn.Module, summary: TrainSummary, grid: GridValues,
    line: GridValues, coords: np.ndarray, xs: np.ndarray, ys: np.ndarray,
) -> NetRecord:  # fmt: skip
    center = int(np.flatnonzero((coords == 0).all(axis=1))[0])
    return NetRecord(
        kind=job.kind, depth=job.config.depth, seed=job.seed,
        params=sum(p.numel() for p in model.parameters()), train=summary,
        center_loss=float(grid.loss[center]), center_acc=float(grid.acc[center]),
        surface_evaluated=grid.evaluated, surface_resumed=grid.resumed,
        surface_wall_s=grid.wall_s,
        points_per_s=grid.evaluated / grid.wall_s if grid.evaluated else float("nan"),
        interp_wall_s=line.wall_s,
        measures=measure_surface(grid.loss.reshape(len(ys), len(xs)), xs, ys),
    )  # fmt: skip


def run(
    config: LandscapeConfig, *, out_dir: str | Path | None = None, progress: bool = False
) -> LandscapeResult:
    """Measure both nets for every seed. With ``out_dir``, checkpoints and grids are written
    there as they are computed, and a rerun into the same directory resumes them."""
    check_config(config)
    cached_data(config.data, config.data_dir)  # fail fast on missing data, before any training
    device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    ctx: DistContext = setup_distributed(device.type)
    workers = 1 if ctx.active else (config.workers or default_workers(config.device))
    seeds = list(range(config.seeds))
    prov = provenance(device, seeds)
    out = str(out_dir) if out_dir is not None else None
    tasks = [
        (config, kind, seed, out, progress and workers == 1) for seed in seeds for kind in KINDS
    ]
    done = run_all(
        landscape_one, tasks, workers=workers, device=config.device,
        progress=progress and workers > 1, desc="landscape nets", unit="net",
    )  # fmt: skip
    result = LandscapeResult(config, finished(prov), [r for r, _ in done])
    xs, ys, alphas = grid_axes(config)
    result.grids = {"xs": xs, "ys": ys, "alphas": alphas}
    for _, arrays in done:
        result.grids.update(arrays)
    result.summary = summarize(result.nets)
    result.verdict = judge(result.summary, config.resolution, config.span)
    return result
