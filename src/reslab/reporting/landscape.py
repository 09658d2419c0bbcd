"""Figures of the landscape experiment: Li et al. 2018, Figure 5 (contours and 3-D surfaces of
plain and residual nets of one depth, side by side), and the 1-D interpolation from the initial
to the trained weights (Goodfellow et al. 2015)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.figures import fig_to_png, kind_color, new_figure
from reslab.reporting.html import Report
from reslab.reporting.landscape_hessian import hessian_figures
from reslab.reporting.registry import register_figures

KINDS = ("plain", "residual")
# Li et al.'s plot_2D defaults: contour levels from 0.1 to 10 in steps of 0.5. The 3-D surfaces
# are clipped at the same 10, so a corner at 1e7 (deep plain nets reach that) does not flatten
# the rest.
LEVELS = np.arange(0.1, 10, 0.5)
ZMAX = 10.0
LOG_LEVELS = np.logspace(1, 8, 8)


def contour_levels(z: np.ndarray) -> np.ndarray:
    """Li et al.'s levels where they cut the surface; else 10 levels spanning its range."""
    lo, hi, ladder = float(z.min()), float(z.max()), LEVELS
    inside = ladder[(ladder > lo) & (ladder < hi)]
    if len(inside) >= 2 or lo == hi:
        return inside if len(inside) else LEVELS
    return np.linspace(lo, hi, 12)[1:-1]


def contour_png(arrays: dict[str, np.ndarray], depth: int, seed: int = 0) -> bytes:
    xs, ys = arrays["xs"], arrays["ys"]
    fig, axes = new_figure(1, 2, size=(11, 4.8), sharey=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        z = arrays[f"{kind}_seed{seed}_loss"]
        z = np.where(np.isfinite(z), z, ZMAX)
        lines = ax.contour(xs, ys, z, levels=contour_levels(z), cmap="summer")
        ax.clabel(lines, lines.levels[::2], fontsize=7, fmt="%.1f")
        ax.plot([0], [0], marker="*", color=kind_color(kind), markersize=11, label="trained net")
        ax.set_title(f"{kind}-{depth}")
        ax.set_xlabel("direction 1 (filter-normalised)")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=8)
    axes[0].set_ylabel("direction 2 (filter-normalised)")
    return fig_to_png(fig)


def interpolation_png(arrays: dict[str, np.ndarray], depth: int, seed: int = 0) -> bytes:
    alphas = arrays["alphas"]
    fig, (ax_loss, ax_acc) = new_figure(1, 2, size=(11, 3.8))
    for kind in KINDS:
        style = {"color": kind_color(kind), "label": f"{kind}-{depth}", "linewidth": 2}
        ax_loss.plot(alphas, arrays[f"{kind}_seed{seed}_interp_loss"], **style)
        ax_acc.plot(alphas, 100 * arrays[f"{kind}_seed{seed}_interp_acc"], **style)
    for ax, label in ((ax_loss, "loss (cross-entropy)"), (ax_acc, "accuracy (%)")):
        for mark in (0.0, 1.0):
            ax.axvline(mark, color="0.6", linewidth=0.8, linestyle=":")
        ax.set_xlabel("alpha  (0: initial weights, 1: trained)")
        ax.set_ylabel(label)
        ax.legend()
    ax_loss.set_yscale("log")
    return fig_to_png(fig)


def surface_plotly(arrays: dict[str, np.ndarray], depth: int, seed: int = 0) -> dict[str, Any]:
    """Two 3-D surfaces side by side (plain left, residual right) as a Plotly figure dict."""
    data, layout = [], {"margin": {"l": 0, "r": 0, "t": 30, "b": 0}, "showlegend": False}
    for i, kind in enumerate(KINDS):
        # Clipped rather than left out: holes would give a smooth basin a jagged rim.
        z = np.minimum(np.nan_to_num(arrays[f"{kind}_seed{seed}_loss"], nan=ZMAX), ZMAX)
        scene = "scene" if i == 0 else "scene2"
        data.append(
            {
                "type": "surface",
                "scene": scene,
                "name": f"{kind}-{depth}",
                "x": arrays["xs"].tolist(),
                "y": arrays["ys"].tolist(),
                "z": z.tolist(),
                "colorscale": "Viridis",
                "cmin": 0,
                "cmax": ZMAX,
                "showscale": i == 1,
            }
        )
        layout[scene] = {
            "domain": {"x": [0.0, 0.48] if i == 0 else [0.52, 1.0], "y": [0, 1]},
            "xaxis": {"title": {"text": "d1"}},
            "yaxis": {"title": {"text": "d2"}},
            "zaxis": {"title": {"text": "loss"}, "range": [0, ZMAX]},
            "camera": {"eye": {"x": 1.9, "y": 1.9, "z": 1.2}},
        }
    layout["annotations"] = [
        {
            "text": f"{kind}-{depth}",
            "x": x,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "showarrow": False,
            "font": {"size": 14},
        }
        for kind, x in zip(KINDS, (0.24, 0.76), strict=True)
    ]
    return {"data": data, "layout": layout}


@register_figures("landscape")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    config, arrays, run_dir = result.config, result.arrays(), Path(run_dir)
    depth, (lo, hi) = config.depth, config.span
    report.add_section("Loss surfaces")
    seed = config.first_seed  # the figures show the first seed's surfaces
    report.add_figure(
        contour_png(arrays, depth, seed),
        caption=f"Loss at theta* + a d1 + b d2 for a, b in [{lo:g}, {hi:g}] (seed {seed}, "
        f"{config.resolution}x{config.resolution} grid); contour levels 0.1 to 10 in steps of "
        "0.5 as in Li et al.'s plots; the star is the trained net. Left: no shortcuts; right: "
        "identity shortcuts (option A).",
        save_as=run_dir / "landscape_contours.png",
    )
    report.add_plotly(
        surface_plotly(arrays, depth, seed),
        caption="The same surfaces in 3-D (drag to turn; loss clipped at 10). Li et al. describe "
        "deep plain nets as 'chaotic' and residual nets as a smooth, nearly convex basin.",
    )
    report.add_text(method_text(config.samples))
    report.add_section("From initial to trained weights")
    report.add_figure(
        interpolation_png(arrays, depth, seed),
        caption=f"Loss and accuracy along (1 - alpha) theta0 + alpha theta* (seed {seed}), as in "
        "Goodfellow et al. 2015. BN running statistics stay those of the trained net all along.",
        save_as=run_dir / "landscape_interpolation.png",
    )
    hessian_figures(result, report, run_dir, arrays)  # --curvature runs only
    if all(f"{kind}_seed{seed}_traj_loss" in arrays for kind in KINDS):
        trajectory_section(arrays, depth, report, run_dir, seed)


def method_text(samples: int) -> str:
    return (
        f"**How the surfaces are measured.** The loss is the mean cross-entropy (no label "
        f"smoothing) on a fixed subset of **{samples or 'all'}** training samples, the same for "
        "both nets and every seed, with BatchNorm in **eval mode, using the trained running "
        "statistics** at every point. Directions d1 and d2 are Gaussian, drawn from a seed, and "
        "**filter-normalised** (Li et al. 2018, section 4): each filter of a direction is "
        "rescaled to the norm of the matching filter of the trained weights; biases and BN "
        "parameters are zeroed in the directions (the reference code's ignore='biasbn'). Each "
        "point is computed afresh from the trained weights, never by stepping from the previous "
        "point, so the value at (0, 0) is exactly the trained net's loss.\n\n"
        "**Measures** (the summary table, mean ± std over seeds). *nonconvex frac*: the fraction "
        "of interior grid points where the 2x2 finite-difference Hessian of the plotted surface "
        "has a negative eigenvalue; *neg laplacian frac*: where f_xx + f_yy < 0; *neg curvature "
        "ratio*: mean of max(-lambda_min, 0) / max|lambda|, a 2-D analogue of Li et al.'s "
        "|lambda_min / lambda_max| map (section 6); *local minima*: interior points lower than "
        "all 8 neighbours; *nonfinite*: points whose loss overflowed. A smooth basin has one "
        "local minimum; the verdict calls a surface smoother when its non-convex fraction is "
        "lower by more than 5 points and it has no more local minima. In the runs table, "
        "*points resumed* were read back from the run directory's surface files."
    )


def trajectory_png(arrays: dict[str, np.ndarray], depth: int, seed: int = 0) -> bytes:
    """Li et al. 2018, Figure 10: the loss in the plane of the path's two PCA directions, with
    the path drawn on it (a marker per snapshot), the explained variance on the axes."""
    fig, axes = new_figure(1, 2, size=(11, 4.8))
    for ax, kind in zip(axes, KINDS, strict=True):
        prefix = f"{kind}_seed{seed}_traj"
        xs, ys, z = arrays[f"{prefix}_xs"], arrays[f"{prefix}_ys"], arrays[f"{prefix}_loss"]
        z = np.where(np.isfinite(z), z, np.nanmax(np.where(np.isfinite(z), z, 0)))
        lines = ax.contour(xs, ys, z, levels=contour_levels(z), cmap="summer")
        ax.clabel(lines, lines.levels[::2], fontsize=7, fmt="%.2g")
        # Li et al.'s plot_contour_trajectory adds levels 1e1..1e8 for the far, high parts a
        # path starting from random weights crosses (a plain net's reach 1e6 here).
        low, top, ladder = max(float(lines.levels.max()), float(z.min())), z.max(), LOG_LEVELS
        high = ladder[(ladder > low) & (ladder < top)]
        if len(high):
            far = ax.contour(xs, ys, z, levels=high, colors="0.55", linewidths=0.8)
            ax.clabel(far, fontsize=7, fmt="%.0e")
        path, color = arrays[f"{prefix}_path"], kind_color(kind)
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=6, color=color, linewidth=1.2,
                label="optimiser path")  # fmt: skip
        ax.plot(path[:1, 0], path[:1, 1], marker="o", color=color, markersize=7,
                markerfacecolor="white", linestyle="none", label="initial weights")  # fmt: skip
        ax.plot([0], [0], marker="*", color=color, markersize=11, linestyle="none",
                label="trained net")  # fmt: skip
        pc1, pc2 = 100 * arrays[f"{prefix}_explained"]
        ax.set_title(f"{kind}-{depth}")
        ax.set_xlabel(f"1st PC: {pc1:.2f} %")
        ax.set_ylabel(f"2nd PC: {pc2:.2f} %")
        ax.legend(loc="best", fontsize=8)
    return fig_to_png(fig)


def trajectory_section(
    arrays: dict[str, np.ndarray], depth: int, report: Report, run_dir: Path, seed: int = 0
) -> None:
    report.add_section("Training trajectories")
    snapshots = len(arrays[f"plain_seed{seed}_traj_path"])
    report.add_figure(
        trajectory_png(arrays, depth, seed),
        caption=f"The optimiser's path ({snapshots} snapshots, evenly spaced in steps, from the "
        f"initial weights (circle) to the trained net (star), seed {seed}) projected onto the "
        "two "
        "leading PCA directions of the snapshots' differences from the trained weights, over "
        "the loss in that plane, as in Li et al. 2018, section 7 and Figure 10. The axes give "
        "the fraction of the path's variance each direction explains. Grey contours: Li et al.'s "
        "extra levels 1e1 to 1e8 for the high loss far from the trained net.",
        save_as=run_dir / "landscape_trajectory.png",
    )
    report.add_text(
        "**Units.** As in Li et al.'s code, the PCA directions are unit vectors of parameter "
        "space, not filter-normalised: both axes are Euclidean distances in parameter space "
        "(biases and BN parameters left out), the path's points are their dot products with "
        "the directions, and the surface is evaluated in the same units, so the path lies on "
        "it where it really is. The scales therefore do not compare with the filter-normalised "
        "random-direction plots above, and the two axes of a plot are not drawn to one scale."
    )
