"""Loss at many points theta = base + sum_k c_k d_k, written incrementally and resumable.

Each point is computed fresh from the saved base (copy, then add each c_k d_k), never by
stepping from the previous point, so no rounding error accumulates across the grid and the
value at c = 0 is exactly the loss of the base model. The grid is written atomically to an NPZ
file every few points; a rerun with the same key (model, directions, grid and data) resumes
where it stopped. Under ``torchrun`` rank r evaluates the points i with i % world_size == r.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from reslab.io import save_npz_atomic
from reslab.training.distributed import DistContext
from reslab.training.evaluate import evaluate

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


class FlatProbe:
    """A copy of a model (eval mode) whose parameters are views into one flat vector, so moving
    to a point costs one copy and one fused add per direction, whatever the number of tensors."""

    def __init__(self, model: nn.Module) -> None:
        self.model = copy.deepcopy(model).eval()
        params = list(self.model.parameters())
        self.flat = torch.cat([p.detach().reshape(-1) for p in params]).clone()
        offset = 0
        for p in params:
            p.requires_grad_(False)
            p.data = self.flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    @torch.no_grad()
    def move_to(
        self, base: torch.Tensor, directions: Sequence[torch.Tensor], coords: Iterable[float]
    ) -> None:
        self.flat.copy_(base)
        for d, c in zip(directions, coords, strict=True):
            if c != 0.0:  # skipping keeps axis points (and the origin) bit-exact
                self.flat.add_(d, alpha=float(c))


def axis(lo: float, hi: float, n: int, exact: Sequence[float] = (0.0,)) -> np.ndarray:
    """``n`` evenly spaced values; those of ``exact`` must be among them and are made exact."""
    if n < 2 or not lo < hi:
        raise ValueError(f"axis ({lo}, {hi}) with {n} points: need lo < hi and at least 2 points")
    values = np.linspace(lo, hi, n)
    step = (hi - lo) / (n - 1)
    for target in exact:
        k = (target - lo) / step
        if not (abs(k - round(k)) < 1e-6 and 0 <= round(k) < n):
            raise ValueError(
                f"span ({lo}, {hi}) with {n} points misses {target}: choose the span and an "
                f"odd resolution so that {target} is a grid point, e.g. (-1, 1) with 21 or 51"
            )
        values[round(k)] = target
    return values


def plane(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(len(ys) * len(xs), 2) coordinates, row-major: point i is (xs[i % nx], ys[i // nx])."""
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def surface_key(
    model: nn.Module, directions: Sequence[torch.Tensor], coords: np.ndarray, data_id: str
) -> str:
    """What determines every value of a grid: the architecture, all parameters and buffers, the
    directions, the coordinates and the data. A stored grid resumes only when this matches."""
    h = hashlib.sha256(repr(model).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for d in directions:
        h.update(d.detach().cpu().contiguous().numpy().tobytes())
    h.update(np.ascontiguousarray(coords, dtype=np.float64).tobytes())
    h.update(data_id.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class SurfaceStore:
    """One NPZ file: key, coords, loss, acc and a done mask, rewritten atomically."""

    path: Path
    key: str

    def load(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if not self.path.exists():
            return None
        with np.load(self.path, allow_pickle=False) as npz:
            key, stored = str(npz["key"]), npz["coords"]
            loss, acc, done = npz["loss"], npz["acc"], npz["done"].astype(bool)
        if key != self.key or stored.shape != coords.shape:
            raise ValueError(
                f"{str(self.path)!r} holds a grid of another configuration (key {key[:12]}, "
                f"expected {self.key[:12]}); choose another --out or delete the file to start over"
            )
        return loss, acc, done

    def save(self, coords: np.ndarray, loss: np.ndarray, acc: np.ndarray, done: np.ndarray) -> None:
        # Atomically: a reader (or a resumed run) never sees half a file.
        arrays = {"key": np.array(self.key), "coords": coords, "loss": loss, "acc": acc,
                  "done": done}  # fmt: skip
        save_npz_atomic(self.path, arrays)


@dataclass
class GridValues:
    loss: np.ndarray  # (n,) mean cross-entropy at each point
    acc: np.ndarray  # (n,) top-1 accuracy at each point
    evaluated: int  # points computed by this call (all ranks together)
    resumed: int  # points read back from the store
    wall_s: float


def evaluate_points(
    probe: FlatProbe, batches: Batches, base: torch.Tensor, directions: Sequence[torch.Tensor],
    coords: np.ndarray, *, store: SurfaceStore | None = None, ctx: DistContext | None = None,
    save_every: int = 20, progress: bool = False, desc: str = "grid",
) -> GridValues:  # fmt: skip
    """Loss and accuracy of ``probe.model`` on ``batches`` at base + sum_k coords[i, k] d_k."""
    ctx = ctx or DistContext()
    if save_every < 1:
        raise ValueError(f"save_every={save_every} must be >= 1")
    started = time.perf_counter()
    values = _initial(store, coords, ctx, base.device)  # (n, 3): loss, acc, done
    resumed = int(values[:, 2].sum())
    bar = _bar(len(coords) - resumed, desc, progress and ctx.is_main)
    chunk = save_every * ctx.world_size  # every rank evaluates about save_every points per save
    for start in range(0, len(coords), chunk):
        stop = min(start + chunk, len(coords))
        if values[start:stop, 2].all():
            continue
        part = torch.zeros((stop - start, 3), dtype=torch.float64, device=base.device)
        for i in range(start, stop):
            if i % ctx.world_size == ctx.rank and not values[i, 2]:
                probe.move_to(base, directions, coords[i])
                m = evaluate(probe.model, batches)
                part[i - start] = torch.tensor([m["loss"], m["acc"], 1.0], dtype=torch.float64)
        if ctx.active:
            dist.all_reduce(part)  # each point was computed by exactly one rank; others sent 0
        fresh = part.cpu().numpy()
        new = fresh[:, 2] > 0
        values[start:stop][new] = fresh[new]
        if store is not None and ctx.is_main:
            store.save(coords, values[:, 0], values[:, 1], values[:, 2] > 0)
        if bar is not None:
            bar.update(int(new.sum()))
    if bar is not None:
        bar.close()
    evaluated = int(values[:, 2].sum()) - resumed
    wall = time.perf_counter() - started
    return GridValues(values[:, 0].copy(), values[:, 1].copy(), evaluated, resumed, wall)


def _initial(
    store: SurfaceStore | None, coords: np.ndarray, ctx: DistContext, device: torch.device
) -> np.ndarray:
    values = np.zeros((len(coords), 3))
    if store is not None and ctx.is_main and (loaded := store.load(coords)) is not None:
        loss, acc, done = loaded
        values[done] = np.stack([loss, acc, np.ones_like(loss)], axis=1)[done]
    if ctx.active:  # only rank 0 reads files; the others learn what is already done from it
        shared = torch.from_numpy(values).to(device)
        dist.broadcast(shared, src=0)
        values = shared.cpu().numpy().copy()
    return values


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pt", dynamic_ncols=True)
