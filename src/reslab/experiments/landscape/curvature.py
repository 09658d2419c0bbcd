"""The landscape's Hessian measures (``--curvature``): Li et al.'s convexity map and PyHessian's
sharpness at the trained weights, per net; their summary tables and their part of the verdict.

  - The map (Li et al. 2018, section 6, Figure 7): |lambda_min / lambda_max| of the weights'
    Hessian on a coarse grid of the same plane as the loss surface (same filter-normalised
    directions, same span; ``probes/landscape/curvature.py``).
  - Sharpness at the minimum (Yao et al. 2020, PyHessian; Ghorbani et al. 2019): lambda_max by
    power iteration, the trace by Hutchinson (+- its standard error) and the eigenvalue density
    by stochastic Lanczos quadrature, of the Hessian w.r.t. every parameter.
  - Cost: one Hessian-vector product against one gradient on the same batches, and the map's
    wall time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from reslab.experiments.common import mean_std
from reslab.probes.hessian import Hessian, time_products
from reslab.probes.landscape.curvature import eigen_ratio, hessian_grid
from reslab.probes.landscape.directions import random_direction
from reslab.probes.landscape.surface import Batches, FlatProbe, axis, plane
from reslab.training.distributed import DistContext

if TYPE_CHECKING:
    from reslab.experiments.landscape import LandscapeConfig

# A grid point counts as non-convex when lambda_min < 0 and |lambda_min / lambda_max| exceeds
# this. Li et al. give no number: they call the blue of Figure 7 "more convex (near-zero negative
# eigenvalues relative to the positive eigenvalues)" and its yellow "significant levels of
# negative curvature". Their plotting code (plot_2D.plot_2d_eig_ratio) draws the ratio on
# viridis from 0 to 0.5, where blue covers about 0 to 0.2 and yellow starts near 0.45; 0.1 lies
# well inside the blue, so a point counts only when its most negative curvature exceeds 10% of
# its largest.
RATIO_THRESHOLD = 0.1
# The Hessian maps must differ by more than this share of points to call one net more convex:
# the same margin as the surface measure's (``MARGIN`` of the experiment).
MARGIN = 0.05
POWER_ITERS = 100  # cap of the power iteration for lambda_max (stops at PyHessian's tol 1e-3)


@dataclass
class CurvatureRecord:
    samples: int  # training samples the Hessian is taken on
    # Sharpness at the trained weights, Hessian w.r.t. every parameter (PyHessian).
    lam_max: float
    trace: float
    trace_se: float
    trace_probes: int
    density_nodes: list[list[float]]  # (runs, iters) SLQ nodes
    density_weights: list[list[float]]
    # Cost, on the same batches: seconds per gradient and per Hessian-vector product.
    grad_s: float
    hvp_s: float
    hvp_per_grad: float
    # Li et al.'s map, Hessian w.r.t. the weights (dims >= 2), row-major over (ys, xs).
    resolution: int
    map_lam_min: list[float]
    map_lam_max: list[float]
    map_hvps: int
    map_wall_s: float
    ratio_center: float  # |lambda_min / lambda_max| at the trained net
    ratio_mean: float
    ratio_max: float
    negative_frac: float  # points with lambda_min < 0 at all
    nonconvex_frac: float  # points with lambda_min < 0 and ratio > RATIO_THRESHOLD


def curvature_axes(config: LandscapeConfig) -> np.ndarray:
    return axis(*config.span, config.curvature_resolution)


def check_curvature(config: LandscapeConfig) -> None:
    if config.curvature_resolution < 3:
        raise ValueError(
            f"curvature_resolution={config.curvature_resolution} must be >= 3 (odd, e.g. 11)"
        )
    curvature_axes(config)  # raises unless (0, 0) is a grid point
    if config.curvature_iters < 2:
        raise ValueError(f"curvature_iters={config.curvature_iters} must be >= 2 (Lanczos)")
    if config.curvature_samples < 0:
        raise ValueError(
            f"curvature_samples={config.curvature_samples} must be >= 0 (0: the surface's)"
        )
    if config.samples and config.curvature_samples > config.samples:
        raise ValueError(
            f"curvature_samples={config.curvature_samples} must be <= samples={config.samples}: "
            "the Hessian's samples are the first of the surface's subset"
        )
    if config.hessian_probes < 2:
        raise ValueError(f"hessian_probes={config.hessian_probes} must be >= 2 (for an SE)")
    if config.density_iters < 2:
        raise ValueError(f"density_iters={config.density_iters} must be >= 2")


def measure_curvature(
    config: LandscapeConfig, model: torch.nn.Module, batches: Batches, samples: int, seed: int,
    ctx: DistContext,
) -> CurvatureRecord:  # fmt: skip
    """The map around ``model`` (the trained net) and its sharpness, on ``batches``."""
    hessian = Hessian(model, batches)
    lam_max = hessian.eigenvalues(1, iters=POWER_ITERS, seed=seed)[0]
    trace = hessian.trace(config.hessian_probes, seed=seed)
    spectrum = hessian.density(config.density_iters, runs=1, seed=seed)
    grad_s, hvp_s = time_products(hessian, repeats=3, seed=seed)
    # The surface's own directions (the same seeds), on a coarse version of its grid.
    directions = [random_direction(model, 2 * seed), random_direction(model, 2 * seed + 1)]
    xs = curvature_axes(config)
    coords = plane(xs, xs)
    base = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()
    grid = hessian_grid(FlatProbe(model), batches, base, directions, coords,
                        iters=config.curvature_iters, seed=seed, ctx=ctx)  # fmt: skip
    center = int(np.flatnonzero((coords == 0).all(axis=1))[0])
    stats = map_stats(grid.lam_min, grid.lam_max, center)
    return CurvatureRecord(
        samples=samples, lam_max=lam_max, trace=trace.estimate, trace_se=trace.se,
        trace_probes=trace.probes, density_nodes=spectrum.nodes.tolist(),
        density_weights=spectrum.weights.tolist(), grad_s=grad_s, hvp_s=hvp_s,
        hvp_per_grad=hvp_s / grad_s, resolution=len(xs), map_lam_min=grid.lam_min.tolist(),
        map_lam_max=grid.lam_max.tolist(), map_hvps=grid.hvps, map_wall_s=grid.wall_s, **stats,
    )  # fmt: skip


def map_stats(lam_min: np.ndarray, lam_max: np.ndarray, center: int) -> dict[str, float]:
    ratio = eigen_ratio(lam_min, lam_max)
    finite = np.isfinite(ratio)
    negative = lam_min < 0
    return {
        "ratio_center": float(ratio[center]),
        "ratio_mean": float(np.mean(ratio[finite])) if finite.any() else float("nan"),
        "ratio_max": float(np.max(ratio[finite])) if finite.any() else float("nan"),
        "negative_frac": float(np.mean(negative)),
        "nonconvex_frac": float(np.mean(negative & (ratio > RATIO_THRESHOLD))),
    }


# -- summary, verdict, arrays -------------------------------------------------------------------

SHARPNESS = ("lam_max", "trace", "hvp_per_grad", "hvp_s", "grad_s", "map_wall_s")
MAP = ("nonconvex_frac", "negative_frac", "ratio_mean", "ratio_max", "ratio_center")


def curvature_tables(
    config: LandscapeConfig, records: list[Any], kinds: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    """``sharpness`` and ``hessian_map``: mean and std over seeds per kind; empty without maps."""
    measured = [r for r in records if getattr(r, "curvature", None) is not None]
    if not measured:
        return {}
    sharpness, maps = [], []
    for kind in kinds:
        group = [r.curvature for r in measured if r.kind == kind]
        head = {"kind": kind, "depth": config.depth, "seeds": len(group)}
        row = dict(head)
        for name in SHARPNESS:
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std([getattr(c, name) for c in group])
        row["trace_se_mean"] = float(np.mean([c.trace_se for c in group])) if group else np.nan
        # PyHessian (Yao et al. 2020) reports top eigenvalues of CIFAR-10 ResNets, but we could
        # not verify their values here and our quick nets are MNIST-1D ones: left empty.
        row["paper_lam_max"] = None
        sharpness.append(row)
        row = {**head, "grid": f"{config.curvature_resolution}x{config.curvature_resolution}"}
        for name in MAP:
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std([getattr(c, name) for c in group])
        maps.append(row)
    return {"sharpness": sharpness, "hessian_map": maps}


def hessian_verdict(
    config: LandscapeConfig, summary: dict[str, Any], smoother: bool | None
) -> tuple[str, dict[str, Any]]:
    """The sentence and numbers the map adds to the verdict: which net the Hessian map calls
    more convex (by more than ``MARGIN`` of the points), and whether the surface measure's
    ``smoother`` says the same."""
    by = {row["kind"]: row for row in summary["hessian_map"]}
    p, r = by["plain"]["nonconvex_frac_mean"], by["residual"]["nonconvex_frac_mean"]
    convexer: bool | None
    if np.isnan(p) or np.isnan(r):
        convexer = None
    elif r < p - MARGIN:
        convexer = True
    elif r > p + MARGIN:
        convexer = False
    else:
        convexer = None
    agree = convexer == smoother
    res = config.curvature_resolution
    says = {
        True: "residual more convex", False: "plain more convex", None: "no clear difference",
    }[convexer]  # fmt: skip
    text = (
        f"Li et al.'s Hessian map {'agrees' if agree else 'disagrees'} ({says}): "
        f"|lambda_min/lambda_max| > {RATIO_THRESHOLD:g} with lambda_min < 0 at {100 * r:.0f}% "
        f"vs {100 * p:.0f}% of a {res}x{res} grid, mean ratio "
        f"{by['residual']['ratio_mean_mean']:.3g} vs {by['plain']['ratio_mean_mean']:.3g}"
    )
    numbers = {
        "hessian_convexer": convexer, "measures_agree": agree,
        "plain_hessian_nonconvex": p, "residual_hessian_nonconvex": r,
        "plain_ratio_mean": by["plain"]["ratio_mean_mean"],
        "residual_ratio_mean": by["residual"]["ratio_mean_mean"],
        "ratio_threshold": RATIO_THRESHOLD,
    }  # fmt: skip
    return text, numbers


def curvature_arrays(config: LandscapeConfig, records: list[Any]) -> dict[str, np.ndarray]:
    """raw.npz additions: ``hessian_xs`` and per net ``_hessian_lam_min``/``_lam_max`` (ys x xs)
    and ``_density_nodes``/``_density_weights`` (runs x iters)."""
    measured = [r for r in records if getattr(r, "curvature", None) is not None]
    if not measured:
        return {}
    out = {"hessian_xs": curvature_axes(config)}
    for r in measured:
        c, prefix = r.curvature, f"{r.kind}_seed{r.seed}"
        shape = (c.resolution, c.resolution)
        out[f"{prefix}_hessian_lam_min"] = np.array(c.map_lam_min, dtype=float).reshape(shape)
        out[f"{prefix}_hessian_lam_max"] = np.array(c.map_lam_max, dtype=float).reshape(shape)
        out[f"{prefix}_density_nodes"] = np.array(c.density_nodes, dtype=float)
        out[f"{prefix}_density_weights"] = np.array(c.density_weights, dtype=float)
    return out
