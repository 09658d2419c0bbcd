"""Report figures of the DenseNet experiment (Huang et al. 2017, Table 2 and Figure 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.figures import fig_to_png, new_figure
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

COLORS = {
    "densenet": "#d62728", "resnet": "#1f77b4", "plain": "#7f7f7f",
    "densenet_efficient": "#ff9896",
}  # fmt: skip


@register_figures("densenet")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    summary = result.summary
    report.add_section("Concatenation vs addition")
    report.add_figure(
        overview_png(summary),
        caption="Left: test error, mean ± std over seeds; diamonds: the paper's Table 2 on C10+ "
        "(DenseNet-BC-100 and ResNet-110 on CIFAR-10 with augmentation: the reference, on its "
        "own data; Table 2 has no plain net). Middle: per-unit RMS gradient of the parameters "
        "(norm / sqrt(count)), mean over seeds, against the unit's relative position (the "
        "DenseNet and the ResNet have different numbers of units); solid at initialisation, "
        "dashed after training. The plain net is the ResNet without its shortcuts: what a "
        "vanishing gradient looks like on this measure. Right: peak training memory per sample "
        "(slope of one SGD step's peak between two batch sizes).",
        save_as=Path(run_dir) / "densenet.png",
    )
    report.add_section("Feature reuse (Figure 5)")
    report.add_figure(
        reuse_png(summary["reuse_maps"]["trained"]),
        caption="Per dense block of the trained DenseNet (mean over seeds): the average absolute "
        "weight of target layer l (rows; the last row is the transition, or the classifier after "
        "the last block) on the feature maps of source s (columns; 0 is the block's input), "
        "normalised by the number of maps and then by each row's largest value. Huang et al. "
        "2017, Figure 5: weights spread over many inputs, including early ones.",
        save_as=Path(run_dir) / "densenet_reuse.png",
    )
    report.add_text(
        "reuse in the nets table is the mean weight a layer puts on sources older than its "
        "immediate predecessor, relative to its strongest source (1: as strong), averaged over "
        "layers and blocks; at initialisation every source has the same expected weight. "
        "log10 grad first over last is the first unit's RMS gradient over the last unit's; the "
        "verdict compares its size after training, |log10|: the ResNet's against the DenseNet's "
        "(gradient_flow), and the plain twin's against the ResNet's (plain_vanishes: the measure "
        "must see the gradient that vanishes without shortcuts before it can rank two nets that "
        "have them)."
    )


def overview_png(summary: dict[str, Any]) -> bytes:
    fig, (err_ax, grad_ax, mem_ax) = new_figure(1, 3, size=(15, 4.5))
    rows = summary["nets"]
    x = np.arange(len(rows))
    colors = [COLORS[r["net"]] for r in rows]
    err_ax.bar(x, [r["test_err_mean"] for r in rows], yerr=[r["test_err_std"] for r in rows],
               color=colors, alpha=0.8, capsize=3, label="ours (mean ± std)")  # fmt: skip
    # A net without a number in Table 2 (the plain twin) gets no diamond: None is NaN here.
    paper = np.array([r["paper_c10_plus"] for r in rows], dtype=float)
    err_ax.scatter(x, paper, marker="D", color="black", zorder=3, label="paper, C10+")
    err_ax.set_xticks(x, [f"{r['net']}\n{r['params']:,} params" for r in rows], fontsize=8)
    err_ax.set_ylabel("test error (%)")
    err_ax.set_title("test error")
    err_ax.legend(fontsize=8)
    for net, profiles in summary["gradient_profiles"].items():
        for part, style in (("grad_init", "-"), ("grad_trained", "--")):
            values = np.asarray(profiles[part], dtype=float)
            position = np.linspace(0, 1, len(values))
            label = f"{net}, {'init' if part == 'grad_init' else 'trained'}"
            grad_ax.plot(position, values, style, color=COLORS[net], label=label, lw=1.4)
    grad_ax.set_yscale("log")
    grad_ax.set_xlabel("unit position (0: first, 1: last)")
    grad_ax.set_ylabel("RMS parameter gradient")
    grad_ax.set_title("per-layer gradient")
    grad_ax.legend(fontsize=8)
    memory = summary["memory"]
    mx = np.arange(len(memory))
    mem_ax.bar(mx, [r["mb_per_sample_mean"] for r in memory],
               yerr=[r["mb_per_sample_std"] for r in memory],
               color=[COLORS[r["variant"]] for r in memory], alpha=0.8, capsize=3)  # fmt: skip
    mem_ax.set_xticks(mx, [r["variant"].replace("_", "\n") for r in memory], fontsize=8)
    mem_ax.set_ylabel("MB per sample")
    mem_ax.set_title("training memory per sample")
    return fig_to_png(fig)


def reuse_png(maps: list[list[list[float]]]) -> bytes:
    fig, axes = new_figure(1, len(maps), size=(4.5 * len(maps), 4.2))
    axes = np.atleast_1d(axes)
    for i, (ax, grid) in enumerate(zip(axes, maps, strict=True)):
        values = np.asarray(grid, dtype=float)
        with np.errstate(invalid="ignore"):
            shown = values / np.nanmax(values, axis=1, keepdims=True)
        image = ax.imshow(np.ma.masked_invalid(shown), cmap="viridis", vmin=0, vmax=1)
        ax.grid(False)
        ax.set_title(f"dense block {i + 1}")
        ax.set_xlabel("source layer s")
        ax.set_ylabel("target layer l")
        last = len(values)
        ax.set_yticks(range(last), [*map(str, range(1, last)), "out"], fontsize=7)
        ax.set_xticks(range(last), [str(s) for s in range(last)], fontsize=7)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="weight / row maximum")
    return fig_to_png(fig)
