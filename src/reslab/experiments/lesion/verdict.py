"""Per-block summary and the verdict: does the residual net tolerate deletions its plain twin
does not (Veit et al. 2016, 4.1)?"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reslab.experiments.common import mean_std
from reslab.experiments.lesion.config import KINDS, Kind
from reslab.experiments.lesion.records import LesionResult, LesionVerdict

NEAR_CHANCE = 10.0  # percentage points below chance error that still count as "at chance"
# Damage of a deletion = (error with it - intact error) / (chance error - intact error): 0 is no
# effect, 1 is chance. Veit et al. (4.1) find single deletions "do not noticeably affect" a
# residual net and send a plain one to chance; with few seeds and short training we call a
# typical (median) deletion tolerated below TOLERATED and a collapse above COLLAPSED.
TOLERATED, COLLAPSED = 0.2, 0.8


def summarize(result: LesionResult) -> list[dict[str, Any]]:
    """Per block: test error with it deleted, mean and std over seeds, for each kind."""
    rows = []
    for i, down in enumerate(result.downsampling):
        row: dict[str, Any] = {"block": i, "stage": result.stage_of[i], "downsampling": down}
        for kind in KINDS:
            errs = [r.single_err[i] for r in result.runs if r.kind == kind]
            m, s = mean_std(errs) if None not in errs else (None, None)
            row.update({f"{kind}_err_mean": m, f"{kind}_err_std": s})
        rows.append(row)
    return rows


def judge(result: LesionResult) -> LesionVerdict:
    same, depth = result.candidates, result.config.depth
    down = [i for i, d in enumerate(result.downsampling) if d]
    res, res_damage = _rises(result, "residual", same)
    plain, plain_damage = _rises(result, "plain", same)
    plain_runs = [r for r in result.runs if r.kind == "plain"]
    plain_err = np.mean([[r.single_err[i] for i in same] for r in plain_runs], axis=0)
    near = int(np.sum(plain_err >= result.chance_err - NEAR_CHANCE))
    down_rise = float(_rises(result, "residual", down)[0].mean()) if down else math.nan
    base = {k: mean_std([r.baseline_err for r in result.runs if r.kind == k])[0] for k in KINDS}
    r_dmg, p_dmg = float(np.median(res_damage)), float(np.median(plain_damage))
    ok = r_dmg < TOLERATED and r_dmg < p_dmg
    worst = same[int(np.argmax(res))]
    text = (
        f"{'ensemble-like' if ok else 'not ensemble-like'}: deleting one non-downsampling block "
        f"of residual-{depth} raises test error by {np.median(res):+.1f} points in the median "
        f"({100 * r_dmg:.0f}% of the way to chance), at most {res.max():+.1f} (block "
        f"{worst + 1}); intact {base['residual']:.1f}%. Plain-{depth}: median "
        f"{np.median(plain):+.1f} points ({100 * p_dmg:.0f}% of the way to chance; {near} of "
        f"{len(same)} within {NEAR_CHANCE:.0f} points of chance, {result.chance_err:.0f}%); "
        f"intact {base['plain']:.1f}%"
    )
    if down:
        text += f". Residual downsampling blocks: {down_rise:+.1f} points on average"
    return LesionVerdict(
        ok, p_dmg > COLLAPSED, float(np.median(res)), float(res.max()), worst, r_dmg,
        float(np.median(plain)), p_dmg, near, len(same), down_rise, text,
    )  # fmt: skip


def _rises(result: LesionResult, kind: Kind, blocks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per block, mean over seeds: (rise in test error in points, damage as defined above)."""
    runs = [r for r in result.runs if r.kind == kind]
    errs = np.array([[r.single_err[i] for i in blocks] for r in runs], dtype=float)
    base = np.array([[r.baseline_err] for r in runs])
    # At least one point of headroom: a net already at chance (diverged) has nothing to lose.
    headroom = np.maximum(result.chance_err - base, 1.0)
    return (errs - base).mean(axis=0), ((errs - base) / headroom).mean(axis=0)
