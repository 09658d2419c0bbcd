"""Report figures of the U-Net long-skip experiment (Ronneberger et al. 2015; Drozdzal et al.
2016): scores per variant, and example predictions beside the truth."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result, load_arrays
from reslab.reporting.figures import fig_to_png, new_figure
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

SCORES = (("mean_iou", "mean IoU (%)"), ("boundary_f1", "boundary F1 (%)"))
BLOCK_COLORS = {"plain": "#1f77b4", "residual": "#d62728"}


def scores_png(rows: Sequence[dict[str, Any]], paper_iou: float | None) -> bytes:
    fig, axes = new_figure(1, 2, size=(12, 4.5))
    skips = list(dict.fromkeys(r["skip"] for r in rows))
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    width = 0.8 / len(blocks)
    for ax, (field, label) in zip(axes, SCORES, strict=True):
        for j, block in enumerate(blocks):
            got = {r["skip"]: r for r in rows if r["block"] == block}
            x = np.arange(len(skips)) + (j - (len(blocks) - 1) / 2) * width
            ax.bar(x, [got[s][f"{field}_mean"] for s in skips], width,
                   yerr=[got[s][f"{field}_std"] for s in skips], capsize=3, alpha=0.8,
                   color=BLOCK_COLORS.get(block), label=f"{block} blocks (mean ± std)")  # fmt: skip
        if field == "mean_iou" and paper_iou is not None:
            ax.axhline(paper_iou, color="black", ls="--", lw=1,
                       label=f"paper: PhC-U373 IoU {paper_iou:.2f}")  # fmt: skip
        ax.set_xticks(np.arange(len(skips)), [f"{s} skip" for s in skips])
        ax.set_ylabel(label)
        low = min(r[f"{field}_mean"] - r[f"{field}_std"] for r in rows)
        ax.set_ylim(max(0.0, low - 5), 100)
        ax.legend(fontsize=8, loc="lower right")
    return fig_to_png(fig)


def examples_png(arrays: dict[str, np.ndarray], variants: Sequence[str]) -> bytes | None:
    shown = [v for v in variants if f"pred_{v}" in arrays]
    if "image" not in arrays or not shown:
        return None
    images, truth = arrays["image"], arrays["truth"]
    cols = ["image", "truth", *shown]
    fig, axes = new_figure(len(images), len(cols), size=(1.6 * len(cols), 1.7 * len(images)))
    axes = np.asarray(axes).reshape(len(images), len(cols))
    top = max(int(truth.max()), 1)
    for i in range(len(images)):
        picture = images[i].transpose(1, 2, 0)
        panels = [picture if picture.shape[-1] == 3 else picture[..., 0], truth[i],
                  *(arrays[f"pred_{v}"][i] for v in shown)]  # fmt: skip
        for j, (ax, panel) in enumerate(zip(axes[i], panels, strict=True)):
            if j == 0:
                ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
            else:  # ignored pixels (-100) are drawn as the background
                ax.imshow(np.clip(panel, 0, None), cmap="viridis", vmin=0, vmax=top,
                          interpolation="nearest")  # fmt: skip
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(cols[j], fontsize=7)
    return fig_to_png(fig)


@register_figures("unet")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    rows = result.summary["variants"]
    paper = next((r.get("paper_phc_u373_iou_pct") for r in rows if r["skip"] == "concat"), None)
    report.add_section("Long skips")
    report.add_figure(
        scores_png(rows, paper),
        caption="Test-split mean IoU (left) and boundary F1 (right, Csurka et al. 2013: edge "
        "pixels within the tolerance of a true edge) per long skip and block, mean ± std over "
        "seeds. Dashed: U-Net's IoU on PhC-U373 (Ronneberger et al. 2015, Table 2), the "
        "reference on its own data; its ISBI 2012 warping error 0.000353 (Table 1) has no "
        "counterpart here.",
        save_as=Path(run_dir) / "unet.png",
    )
    variants = [f"{r['skip']}-{r['block']}" for r in rows]
    examples = examples_png(load_arrays(run_dir), variants)
    if examples is not None:
        report.add_section("Example predictions")
        report.add_figure(
            examples,
            caption="First test images, their truth and each variant's prediction (seed 0). "
            "Without long skips the decoder rebuilds the map from the coarsest level alone: "
            "thin structures break up or vanish and outlines blur.",
        )
