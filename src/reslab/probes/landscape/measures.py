"""Numbers that say how rough a 2-D loss surface is, so a verdict can be computed, not asserted.

Li et al. 2018 (section 6) judge convexity by the ratio |lambda_min / lambda_max| of the
Hessian's extreme eigenvalues. Here the Hessian is that of the plotted 2-D surface itself,
estimated by central finite differences at each interior grid point (no Hessian-vector
products): it tells whether the surface *as drawn* bends down somewhere, which is what the
"chaotic versus convex" contrast of their Figure 5 is about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SurfaceMeasures:
    center_loss: float  # at (0, 0): the trained model
    min_loss: float
    max_loss: float
    loss_range: float  # max - min over the finite points of the grid
    nonfinite: int  # points whose loss overflowed (excluded from everything below)
    neg_laplacian_frac: float  # interior points where f_xx + f_yy < 0
    nonconvex_frac: float  # interior points where the 2x2 Hessian has an eigenvalue < 0
    neg_curvature_ratio: float  # mean over interior points of max(-l_min, 0) / max|l|
    local_minima: int  # interior points strictly below all 8 neighbours


def second_derivatives(
    z: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f_xx, f_yy, f_xy at interior points of z[y, x] (central differences, uniform spacing)."""
    hx, hy = xs[1] - xs[0], ys[1] - ys[0]
    c = z[1:-1, 1:-1]
    fxx = (z[1:-1, 2:] - 2 * c + z[1:-1, :-2]) / hx**2
    fyy = (z[2:, 1:-1] - 2 * c + z[:-2, 1:-1]) / hy**2
    fxy = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / (4 * hx * hy)
    return fxx, fyy, fxy


def hessian_eigenvalues(
    fxx: np.ndarray, fyy: np.ndarray, fxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(lambda_min, lambda_max) of [[f_xx, f_xy], [f_xy, f_yy]], elementwise."""
    mean = (fxx + fyy) / 2
    radius = np.sqrt(((fxx - fyy) / 2) ** 2 + fxy**2)
    return mean - radius, mean + radius


def local_minima(z: np.ndarray) -> int:
    c = z[1:-1, 1:-1]
    ny, nx = z.shape
    lower = np.ones_like(c, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                lower &= c < z[1 + dy : ny - 1 + dy, 1 + dx : nx - 1 + dx]
    return int(lower.sum())


def measure_surface(z: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> SurfaceMeasures:
    """Measures of loss z[y, x] on the grid xs x ys, which must contain (0, 0)."""
    if z.shape != (len(ys), len(xs)) or min(z.shape) < 3:
        raise ValueError(f"surface of shape {z.shape} must be (len(ys), len(xs)), at least 3x3")
    finite = np.isfinite(z)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where the loss overflowed
        fxx, fyy, fxy = second_derivatives(z, xs, ys)
        lo, hi = hessian_eigenvalues(fxx, fyy, fxy)
    # A point counts only if its whole 3x3 stencil is finite (np.isfinite of the result says so).
    ok = np.isfinite(lo) & np.isfinite(hi)
    scale = np.where(ok, np.maximum(np.abs(lo), np.abs(hi)), 0.0)
    ratio = np.maximum(-np.where(ok, lo, 0.0), 0) / np.where(scale > 0, scale, 1.0)
    center = z[int(np.argmin(np.abs(ys))), int(np.argmin(np.abs(xs)))]
    vals = z[finite]
    return SurfaceMeasures(
        center_loss=float(center),
        min_loss=float(vals.min()) if vals.size else float("nan"),
        max_loss=float(vals.max()) if vals.size else float("nan"),
        loss_range=float(vals.max() - vals.min()) if vals.size else float("nan"),
        nonfinite=int((~finite).sum()),
        neg_laplacian_frac=_frac((fxx + fyy)[ok] < 0),
        nonconvex_frac=_frac(lo[ok] < 0),
        neg_curvature_ratio=float(ratio[ok].mean()) if ok.any() else float("nan"),
        local_minima=local_minima(np.where(finite, z, np.inf)),
    )


def _frac(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else float("nan")
