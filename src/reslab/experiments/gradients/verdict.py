"""Per kind and depth, the first/last block ratios over seeds, and the verdict: does the input
gradient of the shortcut nets stay off the exponential law that a plain net follows (He et al.
2016, eq. 5)?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from reslab.experiments.common import mean_std
from reslab.experiments.gradients.config import FLAT, KINDS, PHASES, GradientsConfig
from reslab.experiments.gradients.records import GradientRecord, Verdict

# -- summarising ----------------------------------------------------------------------------------


def first_last_ratio(profile: Sequence[float] | np.ndarray) -> float:
    """Norm at the first block over norm at the last; nan unless both are finite, the last > 0."""
    p = np.asarray(profile, dtype=float)
    if len(p) == 0 or not (np.isfinite(p[0]) and np.isfinite(p[-1])) or p[-1] <= 0:
        return math.nan
    return float(p[0] / p[-1])


def summarize(records: list[GradientRecord], config: GradientsConfig) -> list[dict[str, Any]]:
    rows = []
    for kind in KINDS:
        for depth in sorted(config.depths):
            group = [r for r in records if r.kind == kind and r.depth == depth]
            row: dict[str, Any] = {
                "kind": kind, "depth": depth, "seeds": len(group),
                "blocks": len(group[0].profile("input", "init")) if group else 0,
            }  # fmt: skip
            for part in ("input", "weight"):
                for phase in PHASES:
                    row.update(_ratio_stats(group, part, phase))
            row["trained_steps"] = config.steps if config.trains(depth) else 0
            row["diverged"] = sum(r.status == "diverged" for r in group)
            errs = [r.test_err for r in group if r.test_err is not None]
            row["test_err_mean"], row["test_err_std"] = mean_std(errs) if errs else (None, None)
            rows.append(row)
    return rows


def _ratio_stats(group: list[GradientRecord], part: str, phase: str) -> dict[str, Any]:
    measured = [r.profile(part, phase) for r in group if r.profile(part, phase).size]
    ratios = [first_last_ratio(p) for p in measured]
    finite = [x for x in ratios if math.isfinite(x) and x > 0]
    mean, std = mean_std(finite) if finite else (math.nan, math.nan)
    key = f"{part}_ratio_{phase}"
    return {f"{key}_mean": mean, f"{key}_std": std, f"{key}_nonfinite": len(ratios) - len(finite)}


# -- judging --------------------------------------------------------------------------------------


def growth_law(ratios: dict[int, float]) -> str:
    """How a first/last ratio scales with the number of blocks n, from the shallowest and the
    deepest net: "exponential" (ln r proportional to n - 1, as for a product of Jacobians),
    "power-law" (ln r proportional to ln n, the slow growth of a residual sum), "flat" (the
    deepest ratio is within FLAT of 1), "non-finite", or "one depth" (no law from one point).

    The deepest ratio is compared, in log space, with both extrapolations from the shallowest.
    """
    n_deep, n_shallow = max(ratios), min(ratios)
    deep, shallow = ratios[n_deep], ratios[n_shallow]
    if not math.isfinite(deep) or deep <= 0:
        return "non-finite"
    if 1 / FLAT <= deep <= FLAT:
        return "flat"
    if n_deep == n_shallow or not math.isfinite(shallow) or shallow <= 0:
        return "one depth"
    observed, base = abs(math.log(deep)), abs(math.log(shallow))
    exponential = base * (n_deep - 1) / (n_shallow - 1)
    power = base * math.log(n_deep) / math.log(n_shallow)
    return "exponential" if abs(observed - exponential) < abs(observed - power) else "power-law"


def judge(summary: list[dict[str, Any]], config: GradientsConfig) -> Verdict:
    """Eq. 5 of He et al. 2016 predicts that the shortcut nets' input gradient never vanishes and
    does not change exponentially with depth; a plain net's product of Jacobians does. Judged on
    the measurements at initialisation (no training confound); the text adds the trained nets."""
    init = {k: _ratios(summary, k, "init") for k in KINDS}
    phases = [p for p in PHASES if p == "init" or any(config.trains(d) for d in config.depths)]
    laws = {p: {k: growth_law(_ratios(summary, k, p)) for k in KINDS} for p in phases}
    highway = all(
        laws["init"][k] in ("flat", "power-law") and init[k][max(init[k])] >= 1 / FLAT
        for k in ("residual", "preact")
    )
    plain_law = laws["init"]["plain"]
    plain_ratio = init["plain"][max(init["plain"])]
    plain_breaks = plain_law in ("exponential", "non-finite") or (
        plain_law == "one depth" and not 1 / FLAT <= plain_ratio <= FLAT
    )
    parts = [f"at init {_describe(summary, 'init', laws)}"]
    if "trained" in laws:
        parts.append(f"after {config.steps} steps {_describe(summary, 'trained', laws)}")
    text = (
        f"gradient highway {'holds' if highway else 'not seen'}"
        f"{', plain nets break' if plain_breaks else ''} — first/last block input-gradient norm "
        f"ratio, {'; '.join(parts)}"
    )
    return Verdict(highway, plain_breaks, text, laws)


def _ratios(summary: list[dict[str, Any]], kind: str, phase: str) -> dict[int, float]:
    """Blocks -> mean ratio over seeds, for the depths measured in ``phase``."""
    out = {}
    for row in summary:
        if row["kind"] == kind and (phase == "init" or row["trained_steps"]):
            value = row[f"input_ratio_{phase}_mean"]
            out[row["blocks"]] = math.nan if value is None else float(value)
    return out


def _describe(summary: list[dict[str, Any]], phase: str, laws: dict[str, dict[str, str]]) -> str:
    names = {"plain": "plain", "residual": "residual", "preact": "pre-activation"}
    depth_of = {row["blocks"]: row["depth"] for row in summary}
    items = []
    for kind in KINDS:
        ratios = _ratios(summary, kind, phase)
        shallow, deep = min(ratios), max(ratios)
        span = f"{names[kind]}-{depth_of[deep]} {_num(ratios[deep])}"
        if shallow != deep:
            span = f"{names[kind]}-{depth_of[shallow]} {_num(ratios[shallow])} → {span}"
        items.append(f"{span} ({laws[phase][kind]})")
    return ", ".join(items)


def _num(value: float) -> str:
    return f"{value:.2g}" if math.isfinite(value) else "n/a"
