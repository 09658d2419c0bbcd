"""Li et al.'s convexity map: the Hessian's extreme eigenvalues at many points of a plane.

Li et al. 2018, section 6 (Figure 7): at each point theta* + a d1 + b d2 of the plotted plane
they compute lambda_min and lambda_max of the *full* network's Hessian (not of the 2-D surface)
and map |lambda_min / lambda_max|: near zero where the loss is (nearly) convex, large where it
bends down strongly in some direction. Their code (``hess_vec_prod.py``) differentiates w.r.t.
the weights of two or more dimensions only and keeps BN in eval mode; so does this map.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from reslab.probes.hessian import Hessian
from reslab.probes.landscape.surface import Batches, FlatProbe
from reslab.training.distributed import DistContext


@dataclass
class EigenGrid:
    lam_min: np.ndarray  # (n,) smallest Ritz value at each point
    lam_max: np.ndarray  # (n,) largest
    hvps: int  # Hessian-vector products, all ranks together
    wall_s: float


def hessian_grid(
    probe: FlatProbe, batches: Batches, base: torch.Tensor, directions: Sequence[torch.Tensor],
    coords: np.ndarray, *, iters: int, seed: int = 0, ctx: DistContext | None = None,
) -> EigenGrid:  # fmt: skip
    """(lambda_min, lambda_max) of the weights' Hessian at base + sum_k coords[i, k] d_k, from
    ``iters`` Lanczos steps per point (``Hessian.extremes``, the same seed everywhere). Under
    torchrun rank r computes the points i with i % world_size == r."""
    ctx = ctx or DistContext()
    started = time.perf_counter()
    values = torch.zeros((len(coords), 3), dtype=torch.float64, device=base.device)
    for i, point in enumerate(coords):
        if i % ctx.world_size != ctx.rank:
            continue
        probe.move_to(base, directions, point)
        hessian = Hessian(probe.model, batches, weights_only=True)
        lo, hi = hessian.extremes(iters, seed)
        values[i] = torch.tensor([lo, hi, hessian.hvps], dtype=torch.float64)
    probe.move_to(base, directions, [0.0] * len(directions))
    if ctx.active:
        dist.all_reduce(values)  # each point was computed by exactly one rank; others sent 0
    out = values.cpu().numpy()
    return EigenGrid(out[:, 0].copy(), out[:, 1].copy(), int(out[:, 2].sum()),
                     time.perf_counter() - started)  # fmt: skip


def eigen_ratio(lam_min: np.ndarray, lam_max: np.ndarray) -> np.ndarray:
    """Li et al.'s |lambda_min / lambda_max| (their ``plot_2d_eig_ratio``); nan where
    lambda_max is not positive (no meaningful scale: a maximum, not a basin)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(lam_min / lam_max)
    return np.where(lam_max > 0, ratio, np.nan)
