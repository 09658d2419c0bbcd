"""Report of the degradation experiment: He et al. 2015, Figures 6 and 7, plus a verdict table
and what a shortcut costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.figures import depth_colors, fig_to_png, new_figure, plot_curves
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

KINDS = ("plain", "residual")
LINESTYLE = {"plain": "--", "residual": "-"}  # He et al. 2015, Figure 7


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


def mean_responses(arrays: dict[str, np.ndarray], kind: str, depth: int) -> np.ndarray | None:
    """Per layer, the response std of one net, mean over its seeds (None: not measured)."""
    rows = [arrays[k] for k in sorted(arrays) if k.startswith(f"{kind}{depth}_seed")
            and k.endswith("_responses")]  # fmt: skip
    return np.mean(rows, axis=0) if rows else None


def responses_png(arrays: dict[str, np.ndarray], depths: list[int]) -> bytes | None:
    """He et al. 2015, Figure 7: std of each 3x3 layer's response by layer index (top) and the
    same values sorted in descending order (bottom); plain dashed, residual solid."""
    curves = {(k, d): mean_responses(arrays, k, d) for k in KINDS for d in depths}
    if all(c is None for c in curves.values()):
        return None  # a result saved before responses were measured
    fig, (top, bottom) = new_figure(2, 1, size=(8, 7))
    for (kind, depth), std in curves.items():
        if std is None:
            continue
        style = {"color": depth_colors(depths, kind)[depth], "linestyle": LINESTYLE[kind],
                 "label": f"{kind}-{depth}"}  # fmt: skip
        layers = np.arange(1, len(std) + 1)
        top.plot(layers, std, **style)
        bottom.plot(layers, np.sort(std)[::-1], **style)
    top.set(xlabel="layer index (original)", ylabel="std")
    bottom.set(xlabel="layer index (sorted by magnitude)", ylabel="std")
    top.legend(fontsize=8, ncols=2)
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
    report.add_section("Training curves")
    report.add_text(protocol_text(result.summary.get("training") or {}))
    report.add_figure(
        figure_png(result.arrays(), depths),
        caption="Bold: training error (running, over each log interval); thin: test error after "
        "each epoch. Mean over seeds, band ±1 std. Left: plain nets, right: the same nets with "
        "identity shortcuts (option A).",
        save_as=Path(run_dir) / "degradation.png",
    )
    report.add_text(
        "A plain net of depth 56 contains the solution of the 20-layer one (extra layers set to "
        "identity), so a higher *training* error is an optimisation failure, not overfitting. "
        "Training error is measured on the whole training split in eval mode, without "
        "augmentation. The verdict compares the deepest and the shallowest net of each kind: a "
        "gap counts when it exceeds 1 point and twice its standard error over seeds."
    )
    add_responses(result, report, run_dir, depths)
    if result.summary.get("cost_of_a_shortcut"):
        report.add_section("Cost of a shortcut").add_text(COST_TEXT)


COST_TEXT = (
    "The *cost of a shortcut* table (under Summary) puts each residual net beside its plain twin, "
    "built side by side in one process on the experiment's device, data and batch size. Option "
    "A shortcuts have no parameters, and PyTorch's FLOP counter, which counts the convolutions "
    "and the linear head, gives both nets the same multiply-adds (macs ratio 1). What a "
    "shortcut adds is one addition per element of its block's output (shortcut adds, per sample; "
    "adds per mac relates them to the multiply-adds). Step ratio: the median time of a training "
    "step (forward and backward) of the residual net over the plain net's, the two taking turns "
    "step by step after a warm-up, so that both see the same machine state. The plain twin is "
    "the same net with its shortcuts removed; its blocks still add a scalar 0 (an element-wise "
    "pass of their own), so the step ratio compares adding a tensor with adding a constant, plus "
    "option A's subsampling and zero padding where a stage starts. The verdict does not depend "
    "on any of this."
)


def add_responses(
    result: Result[Any, Any], report: Report, run_dir: Path, depths: list[int]
) -> None:
    png = responses_png(result.arrays(), depths)
    if png is None:
        return
    report.add_section("Layer responses")
    report.add_text(
        "He et al. 2015 (4.2, Figure 7) measure the standard deviation of each 3x3 layer's "
        "response: its output after BN and before the ReLU or the addition. Here: every trained "
        "net, on the whole test split in eval mode; the stem's 3x3 conv counts as layer 1, then "
        "two layers per block. Each channel's std is taken over samples and positions, then "
        "averaged over the layer's channels (the spread between channel means is a BN bias, not "
        "a response)."
    )
    report.add_figure(
        png,
        caption="Std of each 3x3 layer's response, mean over seeds: top in layer order, bottom "
        "sorted in descending order. Dashed: plain nets; solid: residual nets (option A).",
        save_as=Path(run_dir) / "responses.png",
    )
    report.add_text(
        "In the paper (CIFAR-10), ResNets have generally smaller responses than their plain "
        "counterparts, and the deeper the ResNet the smaller its responses: ResNet-110 < 56 < 20 "
        "(plain-20 and plain-56 above them). The figure has no table of numbers; ours are in "
        "the *responses* table (each net's std averaged over its layers, mean ± std over seeds)."
    )
    if claim := result.summary.get("responses_claim"):
        report.add_text(claim[0].upper() + claim[1:] + ".")
