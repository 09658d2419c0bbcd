"""Report of the depth experiment: He et al. 2016, Table 3 and Figure 6 (1001-layer ResNets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.common import load_arrays
from reslab.reporting import MeanStd, Report, load_results, register_report
from reslab.reporting.degradation import stacked_curves
from reslab.reporting.figures import fig_to_png, kind_color, new_figure, plot_curves

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


def summary_rows(summary: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    with_paper = any(r.get("paper_test_err") is not None for r in summary)
    columns = ["net", "depth", "params", "train err (%)", "test err (%)", "peak memory (MB)",
               "above baseline (MB)", "wall time (s)", "CPU time (s)", "checkpointed",
               "diverged"] + (["paper test err (%)"] if with_paper else [])  # fmt: skip
    rows = []
    for r in sorted(summary, key=lambda r: (r["depth"], KINDS.index(r["kind"]))):
        row = [
            LABEL[r["kind"]], r["depth"], r["params"], _ms(r, "train"), _ms(r, "test"),
            r["peak_mem_mb"], r["run_mem_mb"], r["wall_s_mean"],
            r["cpu_s_mean"], "yes" if r["checkpointed"] else "no",
            f"{r['diverged']} of {r['seeds']}",
        ]  # fmt: skip
        rows.append(row + ([r.get("paper_test_err")] if with_paper else []))
    return columns, rows


def _ms(row: dict[str, Any], part: str) -> MeanStd | float:
    if row["seeds"] == 1:  # one run has no spread to show
        return row[f"{part}_err_mean"]
    return MeanStd(row[f"{part}_err_mean"], row[f"{part}_err_std"], row["seeds"])


def _settings(config: dict[str, Any]) -> str:
    length = f"{config['steps']} iterations" if config["steps"] else f"{config['epochs']} epochs"
    return (
        f"{config['data']}, {config['block']} blocks at width {config['width']}, recipe "
        f"{config['recipe']}, batch {config['batch_size']}, {length}, preset {config['preset']}"
    )


@register_report("depth")
def depth_report(run_dir: Path) -> Report:
    results = load_results(run_dir)
    config, verdict, summary = results["config"], results["verdict"], results["summary"]
    arrays = load_arrays(run_dir)
    pngs = {  # the index shows a run's first PNG by path: the errors-vs-depth figure
        "depth.png": errors_vs_depth_png(summary),
        "depth_curves.png": curves_png(arrays, verdict["depth"]),
    }
    for name, png in pngs.items():
        (Path(run_dir) / name).write_bytes(png)
    report = Report(
        "Training 1000-layer ResNets",
        subtitle=f"He et al. 2016, Table 3 and Figure 6 — {_settings(config)}",
    )
    report.add_verdict(verdict["text"], ok=verdict["preact_better"])
    report.add_section("Error against depth")
    report.add_figure(
        pngs["depth.png"],
        caption="Final error on the whole training split (eval mode, no augmentation) and on "
        "the test split; mean ± std over seeds (the deepest net may have fewer seeds). Crosses: "
        "He et al. 2016, Table 3, when the data and nets match the paper's.",
    )
    report.add_section(f"Training curves at {verdict['depth']} layers")
    report.add_figure(
        pngs["depth_curves.png"],
        caption="Thin: running training error (left) and training loss (right) over each log "
        "interval; bold: test error after each epoch. Mean over seeds, band ±1 std.",
    )
    report.add_section("Every net")
    columns, rows = summary_rows(summary)
    caption = (
        f"Errors: mean ± std over seeds. Memory: {results['memory']}, the largest over seeds; "
        "'above baseline' subtracts what was resident before the model was built. Times: mean "
        "per run; CPU time counts every thread and excludes waiting for a core."
    )
    report.add_table(columns, rows, caption=caption)
    report.add_text(_NOTES.format(threshold=verdict["threshold"]))
    report.add_provenance({**results["provenance"], "config": config})
    return report


_NOTES = """\
The verdict compares the two kinds at the deepest depth on final training error, the quantity \
the paper's Figure 6 shows separating (optimisation, not overfitting): a gap counts when it \
exceeds {threshold:.2g} points (1 point, or twice its standard error over seeds). A diverged \
run counts at chance level.

*Gradient checkpointing* recomputes each residual block's activations in the backward pass: \
memory grows with the number of blocks instead of the number of layers, for one more forward \
pass per step (about a third more arithmetic). With tiny 1-D nets on a CPU the per-operator \
overhead of the recomputation weighs more than the arithmetic, so compare CPU times at equal \
depth with `--checkpoint-from` before drawing conclusions. The recomputed forward also updates \
BatchNorm's running statistics a second time per step: training losses are identical, but the \
statistics used at test time move nearly twice as fast (momentum 0.19 instead of 0.1).
"""
