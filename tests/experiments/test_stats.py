"""The one statistics module: each outcome on synthetic per-seed numbers, and its edge cases."""

from __future__ import annotations

import math

import pytest

from reslab.experiments.spec import Verdict
from reslab.experiments.stats import Threshold, combine, compare, decide


def test_a_clear_large_effect_is_reproduced() -> None:
    c = compare([10.2, 9.8, 10.0], [1.1, 0.9, 1.0], threshold=Threshold(absolute=1.0))
    assert c.outcome == "reproduced" and c.symbol == "✓"
    assert c.effect == pytest.approx(9.0) and c.agree == 3 and c.paired == 3
    assert c.se == pytest.approx(math.sqrt(0.04 / 3 + 0.01 / 3))


def test_an_effect_ruled_out_is_contradicted_either_way() -> None:
    # The other way round, clearly: the claim is contradicted.
    assert compare([1.0, 1.1, 0.9], [5.0, 5.2, 4.8]).outcome == "contradicted"
    # The right way, but every seed far below the declared minimum effect: still contradicted.
    small = compare([1.05, 1.06, 1.04], [1.0, 1.0, 1.0], threshold=Threshold(absolute=0.5))
    assert small.outcome == "contradicted" and small.agree == 3


def test_spread_that_cannot_tell_is_inconclusive() -> None:
    c = compare([3.0, -1.0, 4.0], [0.0, 0.5, 0.2], threshold=Threshold(absolute=1.0))
    assert c.outcome == "inconclusive" and c.symbol == "?"
    assert c.agree == 2  # seeds 0 and 2


def test_relative_threshold_follows_a_small_baseline() -> None:
    # He et al. 2016, Table 2 at ResNet-110: 6.61 -> 6.37, an effect of 0.24 points at ~6%:
    # a fixed 1-point rule could never pass; 3% of the baseline can.
    worse, better = [6.60, 6.62, 6.61], [6.36, 6.38, 6.37]
    assert compare(worse, better, threshold=Threshold(absolute=1.0)).outcome == "contradicted"
    relative = compare(worse, better, threshold=Threshold(relative=0.03))
    assert relative.threshold == pytest.approx(0.03 * 6.37) and relative.outcome == "reproduced"


def test_log_ratio_compares_small_errors_relatively_and_needs_a_floor() -> None:
    c = compare([2.0, 2.2, 1.8], [0.5, 0.55, 0.45], scale="log_ratio",
                threshold=Threshold(absolute=math.log(2)))  # fmt: skip
    assert c.outcome == "reproduced" and math.exp(c.effect) == pytest.approx(4.0, rel=0.01)
    with pytest.raises(ValueError, match="floor"):
        compare([1.0], [0.0], scale="log_ratio")
    floored = compare([1.0], [0.0], scale="log_ratio", floor=0.1)
    assert floored.effect == pytest.approx(math.log(10))


def test_one_seed_each_decides_on_the_effect_alone() -> None:
    assert compare([2.0], [0.0], threshold=Threshold(absolute=1.0)).outcome == "reproduced"
    assert compare([0.5], [0.0], threshold=Threshold(absolute=1.0)).outcome == "contradicted"


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        compare([1.0, float("nan")], [0.0])
    with pytest.raises(ValueError, match="no values"):
        compare([], [0.0])
    with pytest.raises(ValueError, match="scale='ratio'"):
        compare([1.0], [0.0], scale="ratio")  # type: ignore[arg-type]


def test_decide_at_the_boundaries() -> None:
    assert decide(1.0, 0.0, 1.0) == "reproduced"  # exactly the minimum effect counts
    assert decide(1.0, 0.5, 1.0) == "inconclusive"  # ... unless zero is inside the interval
    assert decide(0.99, 0.0, 1.0) == "contradicted"


def test_combine_and_the_three_valued_verdict() -> None:
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "contradicted"]) == "contradicted"
    assert combine([]) == "inconclusive"
    with pytest.raises(ValueError, match="accepted"):
        combine(["maybe"])
    v = Verdict.of({"gap": "reproduced", "twin": "inconclusive"}, "text")
    assert (v.ok, v.outcome, v.symbol) == (False, "inconclusive", "?")
    assert Verdict(True, "old result").outcome == "reproduced"  # results saved before outcomes
    with pytest.raises(ValueError, match="contradicts"):
        Verdict(True, "x", outcome="contradicted")


def test_a_margin_is_non_inferiority() -> None:
    with pytest.raises(ValueError, match="margin=True"):
        Threshold(absolute=-1.0)
    # "residual-56 trains no worse than residual-20, within 1 point": deep minus shallow error.
    tied = compare([0.1, 0.2, 0.0], [0.2, 0.1, 0.1], threshold=Threshold(absolute=1.0, margin=True))
    assert tied.outcome == "reproduced"
    margin = Threshold(absolute=1.0, margin=True)
    worse = compare([0.1, 0.2, 0.0], [6.2, 5.9, 6.4], threshold=margin)
    assert worse.outcome == "contradicted"
