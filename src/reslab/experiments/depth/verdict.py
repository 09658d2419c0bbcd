"""Per kind and depth, errors, memory and time over seeds, next to He et al. 2016's Table 3, and
the verdict: at the deepest depth, which kind trains better?"""

from __future__ import annotations

from typing import Any

import numpy as np

from reslab.experiments.common import gap_and_threshold, mean_std
from reslab.experiments.depth.config import KIND_LABEL, KINDS, DepthConfig
from reslab.experiments.depth.records import RunRecord, Verdict

# He et al. 2016, Table 3: test error (%) of the original and pre-activation ResNets.
PAPER_TEST_ERR = {
    "cifar10": {("postact", 164): 5.93, ("preact", 164): 5.46,
                ("postact", 1001): 7.61, ("preact", 1001): 4.92},
    "cifar100": {("postact", 164): 25.16, ("preact", 164): 24.33,
                 ("postact", 1001): 27.82, ("preact", 1001): 22.71},
}  # fmt: skip


def summarize(runs: list[RunRecord], config: DepthConfig) -> list[dict[str, Any]]:
    same_nets = config.width == 16 and config.block == "bottleneck"  # the nets of Table 3
    paper = PAPER_TEST_ERR.get(config.data, {}) if same_nets else {}
    rows = []
    for kind in KINDS:
        for depth in sorted(config.depths):
            group = [r for r in runs if r.kind == kind and r.depth == depth]
            train_m, train_s = mean_std([r.final_train_err for r in group])
            test_m, test_s = mean_std([r.final_test_err for r in group])
            rows.append({
                "kind": kind, "depth": depth, "seeds": len(group), "params": group[0].params,
                "train_err_mean": train_m, "train_err_std": train_s,
                "test_err_mean": test_m, "test_err_std": test_s,
                "peak_mem_mb": max(r.peak_mem_mb for r in group),
                "run_mem_mb": max(r.peak_mem_mb - r.base_mem_mb for r in group),
                "wall_s_mean": float(np.mean([r.wall_s for r in group])),
                "cpu_s_mean": float(np.mean([r.cpu_s for r in group])),
                "diverged": sum(r.status == "diverged" for r in group),
                "checkpointed": group[0].checkpointed,
                "paper_test_err": paper.get((kind, depth)),
            })  # fmt: skip
    return rows


def judge(runs: list[RunRecord], depth: int) -> Verdict:
    """Post- vs pre-activation at the deepest depth, on final training error.

    A gap counts beyond ``common.gap_and_threshold``'s threshold (1 point, or twice its standard
    error over seeds).
    """
    post = [r for r in runs if r.kind == "postact" and r.depth == depth]
    pre = [r for r in runs if r.kind == "preact" and r.depth == depth]
    a = np.array([r.final_train_err for r in post])
    b = np.array([r.final_train_err for r in pre])
    gap, threshold = gap_and_threshold(a, b)
    better = None if abs(gap) <= threshold else gap > 0
    post_test = float(np.mean([r.final_test_err for r in post]))
    pre_test = float(np.mean([r.final_test_err for r in pre]))
    outcome = {
        True: f"pre-activation trains the {depth}-layer net better by {gap:.1f} points",
        False: f"post-activation trains the {depth}-layer net better by {-gap:.1f} points",
        None: f"no difference beyond {threshold:.1f} points of training error",
    }[better]
    diverged = [f"{KIND_LABEL[r.kind]} seed {r.seed}" for r in post + pre if r.status == "diverged"]
    text = (
        f"pre-activation {depth}: {b.mean():.1f}% train error (test {pre_test:.1f}%) vs "
        f"post-activation {depth}: {a.mean():.1f}% (test {post_test:.1f}%) — {outcome}"
        + (" (one seed each: no estimate of seed noise)" if len(a) == len(b) == 1 else "")
        + (f"; diverged: {', '.join(diverged)}" if diverged else "")
    )
    return Verdict(depth, float(a.mean()), float(b.mean()), post_test, pre_test, gap, threshold,
                   better, text)  # fmt: skip
