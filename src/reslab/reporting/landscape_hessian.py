"""The landscape's Hessian figures (runs with ``--curvature``): Li et al. 2018's convexity map
(Figure 7) beside the loss contours of the same plane, and the eigenvalue density at the trained
nets (PyHessian's ESD plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.landscape.curvature import RATIO_THRESHOLD
from reslab.experiments.result import Result
from reslab.probes.hessian import Spectrum, smooth_density
from reslab.probes.landscape.curvature import eigen_ratio
from reslab.reporting.figures import fig_to_png, kind_color, new_figure
from reslab.reporting.html import Report

KINDS = ("plain", "residual")
# Li et al.'s plot_2D.plot_2d_eig_ratio: viridis from 0 (convex, blue) to 0.5 (yellow).
RATIO_MAX = 0.5


def has_hessian(arrays: dict[str, np.ndarray]) -> bool:
    return "hessian_xs" in arrays


def hessian_map_png(arrays: dict[str, np.ndarray], depth: int, seed: int = 0) -> bytes:
    """Per kind (rows): the loss contours (left) and |lambda_min / lambda_max| (right)."""
    from reslab.reporting.landscape import ZMAX, contour_levels

    xs, ys, hx = arrays["xs"], arrays["ys"], arrays["hessian_xs"]
    fig, axes = new_figure(2, 2, size=(10, 9.2))
    step = hx[1] - hx[0]
    extent = (hx[0] - step / 2, hx[-1] + step / 2, hx[0] - step / 2, hx[-1] + step / 2)
    for row, kind in zip(axes, KINDS, strict=True):
        prefix = f"{kind}_seed{seed}"
        z = arrays[f"{prefix}_loss"]
        z = np.where(np.isfinite(z), z, ZMAX)
        lines = row[0].contour(xs, ys, z, levels=contour_levels(z), cmap="summer")
        row[0].clabel(lines, lines.levels[::2], fontsize=7, fmt="%.1f")
        row[0].set_title(f"{kind}-{depth}: loss")
        lam_min, lam_max = arrays[f"{prefix}_hessian_lam_min"], arrays[f"{prefix}_hessian_lam_max"]
        ratio = eigen_ratio(lam_min, lam_max)
        image = row[1].imshow(ratio, origin="lower", extent=extent, cmap="viridis", vmin=0,
                              vmax=RATIO_MAX)  # fmt: skip
        flagged = (lam_min < 0) & (ratio > RATIO_THRESHOLD)
        gx, gy = np.meshgrid(hx, hx)
        row[1].plot(gx[flagged], gy[flagged], "x", color="red", markersize=7, markeredgewidth=2,
                    label=f"lambda_min < 0, ratio > {RATIO_THRESHOLD:g}")  # fmt: skip
        row[1].set_title(f"{kind}-{depth}: |lambda_min / lambda_max|")
        fig.colorbar(image, ax=row[1], shrink=0.85)
        # Each cell is centred on its grid point, so the map reaches half a cell past the span.
        for ax, (x0, x1, y0, y1) in zip(row, [(xs[0], xs[-1], ys[0], ys[-1]), extent],
                                        strict=True):  # fmt: skip
            ax.plot([0], [0], marker="*", color=kind_color(kind), markersize=11)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_aspect("equal")
            ax.set_xlabel("direction 1 (filter-normalised)")
        row[0].set_ylabel("direction 2 (filter-normalised)")
        if flagged.any():
            row[1].legend(loc="upper right", fontsize=7)
    return fig_to_png(fig)


def density_png(arrays: dict[str, np.ndarray], depth: int, seed: int = 0) -> bytes:
    """The SLQ eigenvalue density of each trained net (log scale, as PyHessian plots it)."""
    fig, ax = new_figure(1, 1, size=(8, 3.8))
    for kind in KINDS:
        prefix = f"{kind}_seed{seed}"
        spectrum = Spectrum(arrays[f"{prefix}_density_nodes"], arrays[f"{prefix}_density_weights"])
        grid, density = smooth_density(spectrum)
        ax.semilogy(grid, density + 1e-12, color=kind_color(kind), label=f"{kind}-{depth}")
    ax.set_xlabel("eigenvalue of the Hessian at the trained weights")
    ax.set_ylabel("density (smoothed SLQ)")
    ax.set_ylim(bottom=1e-6)
    ax.legend()
    return fig_to_png(fig)


def hessian_figures(
    result: Result[Any, Any], report: Report, run_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    """Nothing for a run without ``--curvature``."""
    if not has_hessian(arrays):
        return
    config, depth = result.config, result.config.depth
    res, (lo, hi), seed = config.curvature_resolution, config.span, config.first_seed
    report.add_section("Hessian curvature")
    report.add_figure(
        hessian_map_png(arrays, depth, seed),
        caption=f"Left: the loss contours of the plane above. Right: Li et al.'s convexity map "
        f"(2018, section 6, Figure 7), |lambda_min / lambda_max| of the full network's Hessian "
        f"at {res}x{res} points of the same plane over [{lo:g}, {hi:g}]^2 (seed {seed}), on the "
        f"colour scale of their code (viridis, 0 to {RATIO_MAX:g}); crosses mark the points "
        f"counted non-convex (lambda_min < 0 and ratio > {RATIO_THRESHOLD:g}).",
        save_as=run_dir / "landscape_hessian_map.png",
    )
    report.add_figure(
        density_png(arrays, depth, seed),
        caption=f"Eigenvalue density of the Hessian at the trained weights (seed {seed}; "
        f"stochastic Lanczos quadrature, {config.density_iters} steps, Gaussian kernel as "
        "PyHessian's).",
        save_as=run_dir / "landscape_hessian_density.png",
    )
    report.add_text(hessian_method_text(config))


def hessian_method_text(config: Any) -> str:
    samples = config.curvature_samples or config.samples or "all"
    return (
        f"**How the Hessian is measured.** Hessian-vector products (double backward, Pearlmutter "
        f"1994) of the same cross-entropy on **{samples}** training samples (the first of the "
        "surface's subset), BatchNorm in eval mode with the trained running statistics, as in Li "
        "et al.'s and PyHessian's code. *Map*: at each point, lambda_min and lambda_max are the "
        f"extreme Ritz values of {config.curvature_iters} Lanczos steps, w.r.t. the weights of "
        "two or more dimensions (biases and BN parameters held fixed, as in Li et al.'s "
        "hess_vec_prod.py); Ritz values lie inside the spectrum, so both are underestimated in "
        "magnitude. A point counts as **non-convex when lambda_min < 0 and |lambda_min / "
        f"lambda_max| > {RATIO_THRESHOLD:g}**: Li et al. give no number; on their code's colour "
        "scale (viridis, 0 to 0.5) ratios below about 0.2 are the blue they call 'more convex', "
        "and 0.1 lies well inside it. *Sharpness* (table sharpness, every parameter, as "
        "PyHessian): lambda_max by power iteration (PyHessian's tolerance 1e-3), the trace by "
        f"Hutchinson's estimator with {config.hessian_probes} Rademacher probes (± its standard "
        "error), the density by stochastic Lanczos quadrature. *Cost*: one Hessian-vector "
        "product against one gradient on the same batches (hvp per grad), and the map's wall "
        "time. The verdict adds whether the map calls the same net more convex as the surface "
        "measure does (by more than 5% of the points)."
    )
