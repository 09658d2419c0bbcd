"""Figure of the "do no harm" experiment: continued training of a net deepened by insertion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from reslab.experiments.result import Result
from reslab.reporting.figures import fig_to_png, kind_color, new_figure, plot_curves
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

# Drawn in this order: the shallow net's curve last and dashed, as it lies on the residual one.
VARIANTS = ("residual", "plain", "plain_zero", "shallow")
STYLE = {  # variant: (label, colour, line style)
    "shallow": ("shallow net, continued", "0.1", "--"),
    "residual": ("+ zero-init residual blocks", kind_color("residual"), "-"),
    "plain": ("+ plain layers, He init", kind_color("plain"), "-"),
    "plain_zero": ("+ plain layers, zero init", kind_color("plain"), ":"),
}
ZOOM_STEPS = 20


def loss_curves(arrays: dict[str, np.ndarray], variant: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, (seeds, steps)); a diverged seed stops early, so seeds share the common prefix."""
    rows = [arrays[k] for k in sorted(arrays) if k.startswith(f"{variant}_seed")]
    n = min(r.shape[1] for r in rows)
    return rows[0][0, :n], np.stack([r[1, :n] for r in rows])


def figure_png(arrays: dict[str, np.ndarray]) -> bytes:
    fig, axes = new_figure(1, 2, size=(11, 4.2))
    for ax, zoom in zip(axes, (False, True), strict=True):
        for variant in VARIANTS:
            label, color, style = STYLE[variant]
            steps, curves = loss_curves(arrays, variant)
            if zoom:
                steps, curves = steps[:ZOOM_STEPS], curves[:, :ZOOM_STEPS]
            # Step s of the history is the loss of the batch trained at update s, computed with
            # the weights before it: step 1 shows the net exactly as it was built.
            plot_curves(ax, steps - 1, {label: curves}, bold=variant == "residual",
                        colors={label: color}, linestyle=style)  # fmt: skip
        ax.set_xlabel("update (0: as inserted)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="training loss (per batch)", title="continued training")
    axes[1].set(title=f"first {ZOOM_STEPS} updates")
    axes[0].legend(fontsize=8)
    return fig_to_png(fig)


@register_figures("identity")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    config = result.config
    report.add_section("Continued training")
    report.add_figure(
        figure_png(result.arrays()),
        caption=f"Training loss of each continued step (label smoothing as in the recipe), "
        f"mean over seeds, band ±1 std; every net starts from the same trained "
        f"resnet{config.depth} and sees the same batches at lr {config.continue_lr:g}. "
        f"Right: the first {ZOOM_STEPS} updates.",
        save_as=Path(run_dir) / "identity.png",
    )
    report.add_text(
        f"The deeper net (resnet{config.deep_depth}) keeps the trained blocks in place and "
        f"appends {result.summary['inserted_blocks']} same-shape blocks (the new ones last in "
        "each stage). A residual block whose branch ends in a zeroed scale computes "
        "act(x + 0) = x on ReLU outputs: the deeper net *is* the shallow one, so its loss cannot "
        "start higher. A plain layer has no such identity: He-initialised (variant plain) it "
        "changes the function; zero-initialised (plain_zero) it outputs ReLU(0) = 0, and since "
        "ReLU's gradient at 0 is 0, no gradient reaches the layers before it."
    )
    report.add_text(
        "In the variants table, mean ± std over seeds: max abs diff is the largest change of a "
        "logit at insertion (test split, eval mode); eval loss0 the cross-entropy over the "
        "whole training split in eval mode and train loss0 the first training batch's loss "
        "(train mode), both before any update; final train loss / err and final test err are "
        "measured after the continued steps, the training split in eval mode."
    )
