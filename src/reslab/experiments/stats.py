"""The one place a verdict's statistics are computed: per-seed numbers in, an outcome out.

A claim says that one group of per-seed values exceeds another by at least a minimum effect,
declared before the run (``Threshold``). ``compare`` measures the effect (a difference of means,
or a log-ratio of geometric means where the values are small errors or losses whose meaningful
changes are relative), its standard error over seeds, and how many seeds, paired by index,
agree in sign; then it decides, with z = 2 (about a 95% interval):

- ``reproduced``: the effect reaches the minimum and its interval excludes zero (for a
  non-inferiority claim, a negative minimum: the interval lies above it);
- ``contradicted``: the interval lies below the minimum effect (the claimed effect, or a larger
  one, is ruled out; an effect the other way is the clearest case);
- ``inconclusive``: neither: too few seeds or too much spread to tell.

Several parts of one claim combine by ``combine``: all reproduced is reproduced, any contradicted
is contradicted, anything else is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Outcome = Literal["reproduced", "contradicted", "inconclusive"]
OUTCOMES: tuple[Outcome, ...] = ("reproduced", "contradicted", "inconclusive")
SYMBOL: dict[str, str] = {"reproduced": "✓", "contradicted": "✗", "inconclusive": "?"}
Z = 2.0  # half-width of the interval in standard errors
Scale = Literal["difference", "log_ratio"]


@dataclass(frozen=True)
class Threshold:
    """The smallest effect that counts as the claim's, declared in the experiment's spec before
    any run. ``absolute`` is in the effect's units (points of error for a difference, natural log
    units for a log-ratio: log(2) is "twice as large"); ``relative`` is a fraction of the
    reference group's mean, for a difference whose baseline can be small (a 0.5-point effect at a
    2% error is large, at 50% it is noise): the larger of the two applies. ``margin=True``
    declares a non-inferiority claim instead ("a is no lower than b by more than this"): the
    effect's minimum is then minus that size (see ``decide``)."""

    absolute: float = 0.0
    relative: float = 0.0
    margin: bool = False

    def __post_init__(self) -> None:
        if self.absolute < 0 or self.relative < 0:
            raise ValueError(
                f"absolute={self.absolute}, relative={self.relative}; accepted: sizes >= 0 "
                "(margin=True for a non-inferiority claim)"
            )

    def of(self, baseline: float) -> float:
        size = max(self.absolute, self.relative * abs(baseline))
        return -size if self.margin else size


@dataclass(frozen=True)
class Comparison:
    effect: float  # mean(a) - mean(b), or mean(log a) - mean(log b)
    se: float  # its standard error over seeds (0 with one seed per group)
    threshold: float  # the minimum effect that counts, in the effect's units
    agree: int  # seeds, paired by index, whose own difference has the claimed sign
    paired: int  # seeds that could be paired (min of the two group sizes)
    scale: Scale
    outcome: Outcome

    @property
    def symbol(self) -> str:
        return SYMBOL[self.outcome]

    def describe(self, unit: str = "") -> str:
        """``+1.23 ± 0.40 (≥ 0.50), 3/3 seeds``: the effect, its standard error, the threshold."""
        seeds = f"{self.agree}/{self.paired} seeds"
        if self.scale == "log_ratio":
            ratio, least = math.exp(self.effect), math.exp(self.threshold)
            return f"x{ratio:.3g} (log {self.effect:+.2f} ± {self.se:.2f}, ≥ x{least:.3g}), {seeds}"
        return f"{self.effect:+.3g}{unit} ± {self.se:.2g} (≥ {self.threshold:.3g}{unit}), {seeds}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    a: Sequence[float], b: Sequence[float], *, threshold: Threshold = Threshold(),
    scale: Scale = "difference", floor: float = 0.0,
) -> Comparison:  # fmt: skip
    """Does ``a`` exceed ``b`` by at least ``threshold``? Two groups of per-seed values (a value
    per seed; NaN and inf are refused: a diverged run must be given a value, e.g. chance error,
    before it is compared). ``scale="log_ratio"`` compares logs of values clipped below at
    ``floor`` (declared with the threshold: an error of 0.00% would be log(0))."""
    x, y = _values(a, "a"), _values(b, "b")
    if scale == "log_ratio":
        if floor <= 0 and (min(x.min(), y.min()) <= 0):
            raise ValueError("log_ratio of values <= 0 needs floor > 0; accepted: floor > 0")
        x, y = np.log(np.maximum(x, floor)), np.log(np.maximum(y, floor))
        thr = threshold.absolute
    elif scale == "difference":
        thr = threshold.of(float(y.mean()))
    else:
        raise ValueError(f"scale={scale!r} is unknown; accepted: difference, log_ratio")
    effect = float(x.mean() - y.mean())
    se = math.sqrt(_var(x) / len(x) + _var(y) / len(y))
    paired = min(len(x), len(y))
    agree = int(np.sum(x[:paired] - y[:paired] > 0))
    return Comparison(effect, se, thr, agree, paired, scale, decide(effect, se, thr))


def decide(effect: float, se: float, threshold: float) -> Outcome:
    """The rule of the module docstring for the claim "effect >= threshold". A negative
    threshold is a non-inferiority claim ("no worse than by more than |threshold|"): reproduced
    once the whole interval lies above it."""
    if effect >= threshold and effect - Z * se > min(0.0, threshold):
        return "reproduced"
    if effect + Z * se < threshold:
        return "contradicted"
    return "inconclusive"


def combine(outcomes: Iterable[str]) -> Outcome:
    """One outcome for a claim of several parts: all reproduced, any contradicted, or else
    inconclusive (a part that cannot be told keeps the whole from being told)."""
    parts = list(outcomes)
    for outcome in parts:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome={outcome!r} is unknown; accepted: {', '.join(OUTCOMES)}")
    if parts and all(o == "reproduced" for o in parts):
        return "reproduced"
    if any(o == "contradicted" for o in parts):
        return "contradicted"
    return "inconclusive"


def _values(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} has no values; accepted: one value per seed")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}={arr.tolist()} holds a non-finite value; accepted: finite")
    return arr


def _var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if len(x) > 1 else 0.0
