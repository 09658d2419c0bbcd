"""From surface measures to a summary table and a computed verdict (Li et al. 2018, Figure 5:
without shortcuts a deep net's surface turns chaotic; with them it stays a smooth basin)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from reslab.experiments.common import mean_std
from reslab.experiments.landscape.config import KINDS

# The non-convex fractions must differ by more than this to call one surface smoother: 5% of
# the interior points (about 18 of 361 on a 21x21 grid), well above the handful of points that
# flip sign where a smooth surface is nearly flat.
MARGIN = 0.05
MEASURES = (
    "center_loss", "loss_range", "nonconvex_frac", "neg_laplacian_frac", "neg_curvature_ratio",
    "local_minima", "nonfinite",
)  # fmt: skip


@dataclass
class Verdict:
    ok: bool | None  # residual smoother (the paper's claim); None: no clear difference
    plain_nonconvex: float  # mean over seeds
    residual_nonconvex: float
    plain_minima: float
    residual_minima: float
    text: str


def summarize(records: list[Any]) -> list[dict[str, Any]]:
    """Mean and std over seeds of each measure, per kind of net."""
    rows = []
    for kind in KINDS:
        group = [r for r in records if r.kind == kind]
        row: dict[str, Any] = {"kind": kind, "depth": group[0].depth, "seeds": len(group)}
        for name in MEASURES:
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std(
                [asdict(r.measures)[name] for r in group]
            )
        for name in ("train_err", "test_err"):
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std(
                [getattr(r.train, name) for r in group]
            )
        rows.append(row)
    return rows


def judge(summary: list[dict[str, Any]], resolution: int, span: tuple[float, float]) -> Verdict:
    by = {row["kind"]: row for row in summary}
    p, r = by["plain"], by["residual"]
    p_nc, r_nc = p["nonconvex_frac_mean"], r["nonconvex_frac_mean"]
    p_min, r_min = p["local_minima_mean"], r["local_minima_mean"]
    if np.isnan(p_nc) or np.isnan(r_nc):
        smoother = None
    elif r_nc < p_nc - MARGIN and r_min <= p_min:
        smoother = True
    elif r_nc > p_nc + MARGIN and r_min >= p_min:
        smoother = False
    else:
        smoother = None
    depth = p["depth"]
    lead = {
        True: f"residual-{depth} surface is smoother than plain-{depth}",
        False: f"plain-{depth} surface is smoother than residual-{depth}",
        None: f"no clear difference in smoothness between plain-{depth} and residual-{depth}",
    }[smoother]
    text = (
        f"{lead}: {100 * r_nc:.0f}% vs {100 * p_nc:.0f}% of grid points non-convex (a negative "
        f"curvature in the plotted plane), {r_min:.3g} vs {p_min:.3g} local minima, loss range "
        f"{r['loss_range_mean']:.3g} vs {p['loss_range_mean']:.3g} (residual vs plain; "
        f"{resolution}x{resolution} grid over [{span[0]:g}, {span[1]:g}]^2, "
        f"{p['seeds']} seed{'s' if p['seeds'] > 1 else ''})"
    )
    return Verdict(smoother, p_nc, r_nc, p_min, r_min, text)
