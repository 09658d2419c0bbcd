"""The figure the block ablations share (``experiments/ablation.py``): each variant's test error
beside the paper's, and its per-block input-gradient norms at initialisation and after training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.figures import fig_to_png, new_figure
from reslab.reporting.html import Report

PANELS = (  # row of each variant's (3, blocks) gradient array, and its title
    (0, "||dL/dx_l|| at initialisation"),
    (2, "at initialisation, through the shortcuts alone"),
    (1, "||dL/dx_l|| after training"),
)


def gradient_profile(arrays: dict[str, np.ndarray], variant: str, phase: int) -> np.ndarray:
    """Geometric mean over seeds of one variant's per-block input-gradient norms (``PANELS``);
    norms span orders of magnitude, so seeds average in log space."""
    rows = [a[phase] for k, a in sorted(arrays.items()) if k.startswith(f"{variant}_seed")]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.mean(np.log(np.stack(rows)), axis=0))


def ablation_png(
    rows: Sequence[dict[str, Any]], arrays: dict[str, np.ndarray], paper_key: str
) -> bytes:
    fig, axes = new_figure(2, 2, size=(13, 9))
    err_ax, grad_axes = axes[0][0], [axes[0][1], axes[1][0], axes[1][1]]
    names = [r["variant"] for r in rows]
    x = np.arange(len(rows))
    err_ax.bar(x, [r["test_err_mean"] for r in rows], yerr=[r["test_err_std"] for r in rows],
               color="#1f77b4", alpha=0.75, capsize=3, label="ours (mean ± std)")  # fmt: skip
    paper = [(i, r.get(paper_key)) for i, r in enumerate(rows)]
    numeric = [(i, v) for i, v in paper if isinstance(v, (int, float))]
    if numeric:
        err_ax.scatter(*zip(*numeric, strict=True), marker="D", color="black", zorder=3,
                       label="paper")  # fmt: skip
    for i, v in paper:
        if isinstance(v, str):  # "fail (>20)"
            err_ax.annotate("paper: fail", (i, 0), rotation=90, fontsize=7, va="bottom",
                            ha="center", xytext=(0, 4), textcoords="offset points")  # fmt: skip
    err_ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    err_ax.set_ylabel("test error (%)")
    err_ax.set_title("test error")
    err_ax.legend(fontsize=8)
    for ax, (phase, title) in zip(grad_axes, PANELS, strict=True):
        for name in names:
            profile = gradient_profile(arrays, name, phase)
            if np.any(profile > 0):  # a plain net's shortcut path carries nothing: no line
                ax.plot(np.arange(1, len(profile) + 1), profile, label=name, lw=1.4)
        ax.set_yscale("log")
        ax.set_xlabel("block")
        ax.set_title(title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("input-gradient norm (geometric mean over seeds)")
    grad_axes[0].legend(fontsize=7, ncol=2)
    return fig_to_png(fig)


def add_ablation_figure(
    result: Result[Any, Any], report: Report, run_dir: Path, paper_key: str, caption: str
) -> None:
    report.add_section("Variants")
    report.add_figure(
        ablation_png(result.summary["variants"], result.arrays(), paper_key),
        caption=caption,
        save_as=Path(run_dir) / f"{result.experiment}.png",
    )
