"""Figures of the depth experiment: He et al. 2016, Table 3 and Figure 6 (1001-layer ResNets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.degradation import stacked_curves
from reslab.reporting.figures import fig_to_png, kind_color, new_figure, plot_curves
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

KINDS = ("postact", "preact")
LABEL = {"postact": "post-activation", "preact": "pre-activation"}
COLOR = {"postact": kind_color("residual"), "preact": kind_color("preact")}


def errors_vs_depth_png(summary: list[dict[str, Any]]) -> bytes:
    """Final training and test error against depth (log x), mean ± std over seeds."""
    fig, axes = new_figure(1, 2, size=(11, 4.2), sharey=True)
    for ax, part in zip(axes, ("train", "test"), strict=True):
        for kind in KINDS:
            rows = sorted((r for r in summary if r["kind"] == kind), key=lambda r: r["depth"])
            depths = [r["depth"] for r in rows]
            ax.errorbar(
                depths, [r[f"{part}_err_mean"] for r in rows],
                yerr=[r[f"{part}_err_std"] for r in rows], color=COLOR[kind], marker="o",
                capsize=3, label=LABEL[kind],
            )  # fmt: skip
            paper = [(r["depth"], r["paper_test_err"]) for r in rows if r["paper_test_err"]]
            if part == "test" and paper:
                ax.plot(*zip(*paper, strict=True), "x", color=COLOR[kind], ms=9,
                        label=f"{LABEL[kind]} (paper)")  # fmt: skip
        ax.set_xscale("log")
        ticks = sorted({r["depth"] for r in summary})  # the measured depths, not powers of 10
        ax.set_xticks(ticks, labels=[str(d) for d in ticks], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_xlabel("depth (layers)")
        ax.set_title(f"final {part}ing error" if part == "train" else "final test error")
        ax.set_ylim(0, None)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error (%)")
    return fig_to_png(fig)


def curves_png(arrays: dict[str, np.ndarray], depth: int) -> bytes:
    """Training curves of the deepest nets, as He et al. 2016, Figure 6 draws them."""
    fig, (err_ax, loss_ax) = new_figure(1, 2, size=(11, 4.2))
    for kind in KINDS:
        label, color = f"{LABEL[kind]}-{depth}", COLOR[kind]
        train = stacked_curves(arrays, kind, depth, "_train")
        test = stacked_curves(arrays, kind, depth, "_test")
        loss = stacked_curves(arrays, kind, depth, "_loss")
        plot_curves(
            err_ax, train[0], {f"{label} train": train[1:]}, colors={f"{label} train": color}
        )
        if test.shape[1]:
            plot_curves(err_ax, test[0], {f"{label} test": test[1:]}, bold=True,
                        colors={f"{label} test": color}, band=False)  # fmt: skip
        plot_curves(loss_ax, loss[0], {label: loss[1:]}, colors={label: color})
    err_ax.set(xlabel="iteration", ylabel="error (%)", title=f"{depth} layers: error")
    err_ax.set_ylim(0, None)
    # Log scale: a deep post-activation net can start ten times above ln(classes) (measured).
    loss_ax.set(xlabel="iteration", ylabel="training loss", title=f"{depth} layers: training loss",
                yscale="log")  # fmt: skip
    for ax in (err_ax, loss_ax):
        ax.legend(fontsize=8)
    return fig_to_png(fig)


def protocol_text(config: Any) -> str:
    length = f"{config.steps} iterations" if config.steps else f"{config.epochs} epochs"
    start = config.checkpoint_from
    checkpointing = "at no depth" if start is None else f"from {start} layers on"
    return (
        f"Every net: {config.block} blocks at width {config.width}, recipe {config.recipe}, "
        f"batch {config.batch_size}, {length}; gradient checkpointing {checkpointing}."
    )


@register_figures("depth")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    summary, depth = result.summary["nets"], max(result.config.depths)
    report.add_text(protocol_text(result.config))
    report.add_section("Error against depth")
    report.add_figure(
        errors_vs_depth_png(summary),
        caption="Final error on the whole training split (eval mode, no augmentation) and on "
        "the test split; mean ± std over seeds (the deepest net may have fewer seeds). Crosses: "
        "He et al. 2016, Table 3, when the data and nets match the paper's.",
        save_as=Path(run_dir) / "depth.png",  # first by path: the figure the index shows
    )
    report.add_section(f"Training curves at {depth} layers")
    report.add_figure(
        curves_png(result.arrays(), depth),
        caption="Thin: running training error (left) and training loss (right) over each log "
        "interval; bold: test error after each epoch. Mean over seeds, band ±1 std.",
        save_as=Path(run_dir) / "depth_curves.png",
    )
    report.add_text(
        _NOTES.format(
            threshold=result.verdict.numbers["threshold"], memory=result.summary["memory"]
        )
    )


_NOTES = """\
The verdict compares the two kinds at the deepest depth on final training error, the quantity \
the paper's Figure 6 shows separating (optimisation, not overfitting): a gap counts when it \
exceeds {threshold:.2g} points (1 point, or twice its standard error over seeds). A diverged \
run counts at chance level.

In the summary table, errors are mean ± std over seeds. *peak mem mb*: {memory}, the largest \
over seeds; *run mem mb* subtracts what was resident before the model was built. Times are \
means per run; CPU time counts every thread and excludes waiting for a core.

*Gradient checkpointing* recomputes each residual block's activations in the backward pass: \
memory grows with the number of blocks instead of the number of layers, for one more forward \
pass per step (about a third more arithmetic). With tiny 1-D nets on a CPU the per-operator \
overhead of the recomputation weighs more than the arithmetic, so compare CPU times at equal \
depth with `--checkpoint-from` before drawing conclusions. The recomputed forward does not \
count twice in BatchNorm's running statistics: they are saved before it and restored after \
(`reslab.nn.checkpoint`), so they move once per step at the usual momentum, as without \
checkpointing; the training losses match those of the same net trained without it, up to \
floating-point rounding.
"""
