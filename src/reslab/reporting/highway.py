"""Report of the highway experiment: Srivastava et al. 2015, Figure 1 (best training loss by
depth, plain against highway, with the residual twin beside them) and Figure 2 (what the
transform gates do per layer after training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np

from reslab.experiments.result import Result
from reslab.reporting._markup import Markup, escape
from reslab.reporting.figures import fig_to_png, kind_color, new_figure
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

# Highway has no hue of its own in figures.KIND_COLORS: purple beside plain red, residual blue.
HIGHWAY_COLOR, HIGHWAY_CMAP = "#9467bd", "Purples"
MARKERS = {"plain": "s", "highway": "o", "residual": "^"}


def color(kind: str) -> str:
    return HIGHWAY_COLOR if kind == "highway" else kind_color(kind)


def loss_png(rows: list[dict[str, Any]]) -> bytes:
    """Left: best training loss by depth (log scale), mean ± std over seeds, one line per kind
    (Figure 1's best loss of each net). Right: test error by depth."""
    fig, (left, right) = new_figure(1, 2, size=(11, 4.2))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        own = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["depth"])
        depths = [r["depth"] for r in own]
        style = {"color": color(kind), "marker": MARKERS.get(kind, "o"), "capsize": 3,
                 "label": f"{kind} ({own[0]['width']} units)"}  # fmt: skip
        left.errorbar(depths, [r["best_train_loss_mean"] for r in own],
                      yerr=[r["best_train_loss_std"] for r in own], **style)  # fmt: skip
        right.errorbar(depths, [r["test_err_mean"] for r in own],
                       yerr=[r["test_err_std"] for r in own], **style)  # fmt: skip
    left.set(xscale="log", yscale="log", xlabel="depth (layers)", ylabel="best training loss")
    right.set(xscale="log", xlabel="depth (layers)", ylabel="test error (%)")
    for ax in (left, right):
        ticks = sorted({r["depth"] for r in rows})
        ax.set_xticks(ticks, [str(t) for t in ticks], minor=False)
        ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())  # only the measured depths
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig_to_png(fig)


def gates_png(rows: list[dict[str, Any]]) -> bytes | None:
    """Per highway layer: mean transform gate T over the test split (left) and mean gate bias
    b_T (right), one line per depth, mean over seeds (Figure 2's first two columns)."""
    depths = sorted({r["depth"] for r in rows})
    if not depths:
        return None
    cmap = mpl.colormaps[HIGHWAY_CMAP]
    shades = dict(zip(depths, np.linspace(0.45, 0.95, len(depths)), strict=True))
    fig, (left, right) = new_figure(1, 2, size=(11, 4.2))
    for depth in depths:
        own = [r for r in rows if r["depth"] == depth]
        layers = [r["layer"] for r in own]
        style = {"color": cmap(float(shades[depth])), "label": f"highway-{depth}"}
        left.plot(layers, [r["t_mean"] for r in own], **style)
        right.plot(layers, [r["bias_mean"] for r in own], **style)
        right.axhline(own[0]["bias_init"], color=style["color"], linestyle=":", linewidth=0.8)
    left.set(xlabel="layer", ylabel="mean transform gate T(x)", ylim=(0, None))
    right.set(xlabel="layer", ylabel="mean gate bias b_T (dotted: at init)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig_to_png(fig)


def lr_table(report: Report, rows: list[dict[str, Any]]) -> None:
    """Each net's calibration grid (lr, and b_T for highway nets): median and mean best training
    loss over the calibration seeds and divergences per setting, the chosen one in bold."""
    if not rows:
        return
    settings = sorted({(r["lr"], r.get("gate_bias")) for r in rows},
                      key=lambda s: (s[0], s[1] or 0.0))  # fmt: skip
    cells = {(r["kind"], r["depth"], r["lr"], r.get("gate_bias")): r for r in rows}
    nets = list(dict.fromkeys((r["kind"], r["depth"]) for r in rows))
    table = []
    for kind, depth in nets:
        line: list[Any] = [kind, depth]
        for lr, bias in settings:
            r = cells.get((kind, depth, lr, bias))
            seeds = len(r.get("calibration_seeds", [])) or r.get("seeds", 0) if r else 0
            text = "—" if r is None else (
                f"{r.get('best_train_loss_median', r['best_train_loss_mean']):.3g} "
                f"(mean {r['best_train_loss_mean']:.3g}; {r['diverged']}/{seeds} diverged)"
            )  # fmt: skip
            line.append(Markup(f"<b>{escape(text)}</b>") if r and r["chosen"] else text)
        table.append(line)
    report.add_section("Learning rate per net")
    report.add_text(
        "The paper picks each net's hyper-parameters by a random search (section 4.1, Figure 1: "
        "the best run of each). Here, on calibration seeds (from 1000) kept apart from the "
        "verdict's, every net trains at every learning rate of a small grid, and every highway "
        "net also at every initial gate bias b_T of another; each net keeps the setting with the "
        "lowest median best training loss (a diverged run counts at chance, ln(classes)). All "
        "other tables and figures are the confirmation runs: fresh seeds at that setting."
    )
    heads = [f"lr {lr:g}" + ("" if b in (None, 0.0) else f", b_T {b:g}") for lr, b in settings]
    report.add_table(
        ["net", "depth", *heads], table,
        caption="Calibration: best training loss, median (mean) over the calibration seeds, and "
        "diverged runs; bold: chosen.",
    )  # fmt: skip


@register_figures("highway")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    summary = result.summary
    report.add_section("Training loss by depth (Figure 1)")
    report.add_text(
        "Every net: a plain first layer, then depth - 1 units of one kind, then the softmax "
        "layer. Highway units have 50 units per layer (H and T: 2 x (50x50 + 50) = 5,100 "
        "parameters), plain and residual ones 71 (71x71 + 71 = 5,112), as in the paper. The "
        "best training loss is the lowest of each epoch's mean training loss and the final "
        "loss on the whole training split; a net that diverged before any finite loss counts "
        "at chance, ln(classes)."
    )
    report.add_figure(
        loss_png(summary["depths"]),
        caption="Mean ± std over seeds. Left: best training loss (log scale); right: test "
        "error. In the paper's Figure 1 (MNIST, best of 100 random-search runs per net) plain "
        "nets get worse with depth and far worse at 50 and 100 layers, while highway nets of "
        "every depth reach about the same loss.",
        save_as=Path(run_dir) / "highway_loss.png",
    )
    lr_table(report, summary.get("lr_search", []))
    gates = gates_png(summary.get("gates", []))
    if gates is None:
        return
    report.add_section("Transform gates after training (Figure 2)")
    report.add_text(
        "For each highway layer of each trained net, on the whole test split in eval mode: the "
        "mean of T(x) over samples and units, and the mean of the gate bias b_T over units. The "
        "paper's Figure 2 shows the best 50-layer highway nets on MNIST and CIFAR-100 (biases "
        "initialised to -2 and -4): most biases fell further during training, and the mean "
        "transform gate activity per layer is low, while single samples open different gates: "
        "each sample uses a few layers and the rest carry it through."
    )
    report.add_figure(
        gates, caption="Left: mean transform gate per layer; right: mean gate bias per layer "
        "(dotted: its value at initialisation). Mean over the seeds that did not diverge (the "
        "gates table gives their number; a depth where all diverged has no line); layer 1 is "
        "the plain first layer, without a gate.",
        save_as=Path(run_dir) / "highway_gates.png",
    )  # fmt: skip
