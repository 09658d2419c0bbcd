"""Report of the degradation experiment: He et al. 2015, Figure 6, plus a verdict table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.figures import depth_colors, fig_to_png, new_figure, plot_curves
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

KINDS = ("plain", "residual")


def stacked_curves(arrays: dict[str, np.ndarray], kind: str, depth: int, part: str) -> np.ndarray:
    """(seeds, points) for one network; x = row 0 of the first seed (identical across seeds)."""
    keys = sorted(k for k in arrays if k.startswith(f"{kind}{depth}_seed") and k.endswith(part))
    rows = [arrays[k] for k in keys]
    n = min(r.shape[1] for r in rows)  # a diverged seed stops early: compare the common prefix
    return np.stack([rows[0][0, :n]] + [r[1, :n] for r in rows])


def figure_png(arrays: dict[str, np.ndarray], depths: list[int]) -> bytes:
    fig, axes = new_figure(1, 2, size=(11, 4.2), sharey=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        colors = depth_colors(depths, kind)
        for depth in depths:
            label = f"{kind}-{depth}"
            train = stacked_curves(arrays, kind, depth, "_train")
            test = stacked_curves(arrays, kind, depth, "_test")
            plot_curves(ax, train[0], {label: train[1:]}, bold=True, colors={label: colors[depth]})
            plot_curves(
                ax,
                test[0],
                {f"{label} test": test[1:]},
                colors={f"{label} test": colors[depth]},
                band=False,
            )
        ax.set_title(f"{kind} nets")
        ax.set_xlabel("iteration")
        ax.set_ylim(0, None)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error (%)")
    return fig_to_png(fig)


def protocol_text(training: dict[str, Any]) -> str:
    """What every net trained with, from the resolved recipe the result saved."""
    if not training:  # results saved before the recipe was recorded
        return "Every net trains with the same recipe."
    loop, optim, sched = training["train"], training["optim"], training["schedule"]
    length = f"{loop['epochs']} epochs" if loop.get("epochs") else f"{loop['steps']} iterations"
    text = (
        f"Every net trains with the same recipe ({training['recipe']}): {length} at batch "
        f"{training['data']['batch_size']}, {optim['name']} lr {optim['lr']:g}, weight decay "
        f"{optim['weight_decay']:g}, {sched['kind']} schedule"
    )
    if sched["kind"] == "step":
        marks = ", ".join(f"{m:.0%}" for m in sched["milestones"])
        text += f" (lr x{sched['gamma']:g} at {marks} of the run)"
    if sched.get("warmup"):
        text += f", linear warm-up over the first {sched['warmup']:.0%}"
    return text + "."


@register_figures("degradation")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    depths = sorted(result.config.depths)
    png = figure_png(result.arrays(), depths)
    (Path(run_dir) / "degradation.png").write_bytes(png)
    report.add_section("Training curves")
    report.add_text(protocol_text(result.summary.get("training") or {}))
    report.add_figure(
        png,
        caption="Bold: training error (running, over each log interval); thin: test error after "
        "each epoch. Mean over seeds, band ±1 std. Left: plain nets, right: the same nets with "
        "identity shortcuts (option A).",
    )
    report.add_text(
        "A plain net of depth 56 contains the solution of the 20-layer one (extra layers set to "
        "identity), so a higher *training* error is an optimisation failure, not overfitting. "
        "Training error is measured on the whole training split in eval mode, without "
        "augmentation. The verdict compares the deepest and the shallowest net of each kind: a "
        "gap counts when it exceeds 1 point and twice its standard error over seeds."
    )
