"""The training trajectory of a landscape net (Li et al. 2018, section 7): parameter vectors saved
along training, their two PCA directions, and the loss surface in that plane.

The snapshots are taken by a training callback (``PathRecorder``): it only copies the
parameters, so the trained net is bit-identical with or without it. They are kept in the net's
checkpoint (``nets.py``), so a resumed run reuses them with the net. The PCA and the projection
are ``reslab.probes.trajectory``; the surface reuses the random-direction surface's resumable
grid machinery, in its own file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from reslab.probes.landscape.directions import param_vector
from reslab.probes.landscape.surface import GridValues, plane
from reslab.probes.trajectory import PathPCA, path_axes, path_pca, weight_mask
from reslab.training.callbacks import Callback, StepState
from reslab.training.distributed import DistContext

STEPS, PARAMS = "path/steps", "path/params"  # the snapshot tensors' names in a net checkpoint


def snapshot_steps(total: int, points: int) -> list[int]:
    """Step 0 (the initial weights) and ``points`` evenly spaced steps ending at ``total`` (the
    trained net); fewer where ``points`` exceeds ``total``."""
    if points < 1 or total < 1:
        raise ValueError(f"snapshot_steps(total={total}, points={points}): both must be >= 1")
    return sorted({0, *(k * total // points for k in range(1, points + 1))})


class PathRecorder(Callback):
    """The model's parameters (a flat CPU vector) at the steps of ``snapshot_steps``."""

    def __init__(self, points: int) -> None:
        self.points = points
        self.steps: list[int] = []
        self.params: list[torch.Tensor] = []
        self._due: set[int] = set()

    def on_train_start(self, state: StepState) -> None:
        self._due = set(snapshot_steps(state.total_steps, self.points))
        if state.step in self._due:
            self._take(state)

    def on_step_end(self, state: StepState) -> None:
        if state.step in self._due:
            self._take(state)

    def _take(self, state: StepState) -> None:
        self.steps.append(state.step)
        self.params.append(param_vector(state.model).cpu())

    def tensors(self) -> dict[str, torch.Tensor]:
        return {STEPS: torch.tensor(self.steps, dtype=torch.int64),
                PARAMS: torch.stack(self.params)}  # fmt: skip

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        """Read back what ``tensors`` stored (a checkpoint written with a recorder)."""
        if STEPS not in tensors:
            raise ValueError("the net checkpoint holds no training path; delete it to retrain")
        self.steps = [int(s) for s in tensors[STEPS]]
        self.params = list(tensors[PARAMS])


@dataclass
class Trajectory:
    """One net's path in its PCA plane and the loss surface there. Units: Euclidean distance in
    parameter space along unit PCA directions (Li et al.'s, not filter-normalised)."""

    steps: list[int]  # training step of each snapshot (0: initial weights; the last: trained)
    x: list[float]  # coordinates of the snapshots along PC1 and PC2; the last is (0, 0)
    y: list[float]
    explained_variance: list[float]  # ratio of the path's variance along PC1, PC2
    xs: list[float]  # the grid's axes
    ys: list[float]
    loss: list[float]  # row-major over (ys, xs), like the random-direction surface
    acc: list[float]
    evaluated: int  # grid points computed by this task (the rest were resumed)
    resumed: int
    wall_s: float  # the grid's evaluation time
    pca_wall_s: float = math.nan  # PCA and projection time


Measure = Callable[[list[torch.Tensor], np.ndarray, str], GridValues]


def trajectory(
    recorder: PathRecorder, model: torch.nn.Module, resolution: int, measure: Measure,
    ctx: DistContext,
) -> Trajectory:  # fmt: skip
    """PCA of the recorded path around ``model``'s (final) weights, and the loss on a
    ``resolution`` x ``resolution`` grid in that plane holding the path (``measure`` evaluates
    and stores a grid; it is the landscape task's, with its resumable store)."""
    final = param_vector(model)
    pca, pca_wall = _shared_pca(recorder, final, model, ctx)
    xs, ys = path_axes(pca.coords, resolution)
    grid = measure(list(pca.directions), plane(xs, ys), "trajectory")
    return Trajectory(
        steps=list(recorder.steps),
        x=pca.coords[:, 0].tolist(), y=pca.coords[:, 1].tolist(),
        explained_variance=list(pca.explained_variance_ratio),
        xs=xs.tolist(), ys=ys.tolist(), loss=grid.loss.tolist(), acc=grid.acc.tolist(),
        evaluated=grid.evaluated, resumed=grid.resumed, wall_s=grid.wall_s, pca_wall_s=pca_wall,
    )  # fmt: skip


def _shared_pca(
    recorder: PathRecorder, final: torch.Tensor, model: torch.nn.Module, ctx: DistContext
) -> tuple[PathPCA, float]:
    """Rank 0's PCA (only rank 0 reads a reused checkpoint's path), sent to every rank."""
    started = time.perf_counter()
    pca = None
    if ctx.is_main:
        path = torch.stack(recorder.params).to(final.device)
        pca = path_pca(path, final, weight_mask(model))
    if ctx.active:
        directions = torch.zeros((2, final.numel()), dtype=final.dtype, device=final.device)
        if pca is not None:
            directions.copy_(pca.directions)
        dist.broadcast(directions, src=0)
        box: list[Any] = [None if pca is None else (pca.explained_variance_ratio, pca.coords,
                                                    recorder.steps)]  # fmt: skip
        dist.broadcast_object_list(box, src=0)
        ratio, coords, steps = box[0]
        recorder.steps = steps
        pca = PathPCA(directions, ratio, coords)
    assert pca is not None
    return pca, time.perf_counter() - started


def trajectory_arrays(prefix: str, t: Trajectory) -> dict[str, np.ndarray]:
    """raw.npz entries of one net's trajectory: ``<prefix>_traj_loss``/``_acc`` (ys x xs),
    ``_traj_xs``, ``_traj_ys``, ``_traj_path`` (snapshots x 2), ``_traj_steps``,
    ``_traj_explained`` (PC1, PC2)."""
    shape = (len(t.ys), len(t.xs))
    return {
        f"{prefix}_traj_loss": np.array(t.loss, dtype=float).reshape(shape),
        f"{prefix}_traj_acc": np.array(t.acc, dtype=float).reshape(shape),
        f"{prefix}_traj_xs": np.array(t.xs, dtype=float),
        f"{prefix}_traj_ys": np.array(t.ys, dtype=float),
        f"{prefix}_traj_path": np.stack([t.x, t.y], axis=1).astype(float),
        f"{prefix}_traj_steps": np.array(t.steps, dtype=np.int64),
        f"{prefix}_traj_explained": np.array(t.explained_variance, dtype=float),
    }


def trajectory_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    """One summary row per net with a trajectory: explained variance and the grid's cost."""
    rows = []
    for r in records:
        t = getattr(r, "trajectory", None)
        if t is None:
            continue
        rows.append({
            "kind": r.kind, "depth": r.depth, "seed": r.seed, "snapshots": len(t.steps),
            "pc1_explained": t.explained_variance[0], "pc2_explained": t.explained_variance[1],
            "grid": f"{len(t.xs)}x{len(t.ys)}", "points_computed": t.evaluated,
            "points_resumed": t.resumed, "grid_wall_s": t.wall_s,
        })  # fmt: skip
    return rows
