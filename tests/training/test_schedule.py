"""Learning-rate schedules as pure functions, and He et al.'s error-triggered warm-up."""

from __future__ import annotations

import itertools

import pytest

from reslab.training import ScheduleConfig, load_recipe, lr_at
from reslab.training.schedule import ErrorWarmup, uses_error_warmup


def test_paper_step_schedule_divides_by_10_at_32k_and_48k() -> None:
    s = load_recipe("paper").schedule
    lrs = {step: lr_at(step, 64000, 0.1, s) for step in (0, 31999, 32000, 47999, 48000, 63999)}
    assert lrs[0] == lrs[31999] == 0.1
    assert lrs[32000] == pytest.approx(0.01) and lrs[47999] == pytest.approx(0.01)
    assert lrs[48000] == pytest.approx(0.001) and lrs[63999] == pytest.approx(0.001)


def test_cosine_with_linear_warmup() -> None:
    s = ScheduleConfig(kind="cosine", warmup=0.2, warmup_start=0.1, final_lr=0.0)
    total = 100
    assert lr_at(0, total, 1.0, s) == pytest.approx(0.1)
    assert lr_at(10, total, 1.0, s) == pytest.approx(0.55)  # halfway up the warm-up
    assert lr_at(20, total, 1.0, s) == pytest.approx(1.0)  # peak right after the warm-up
    assert lr_at(60, total, 1.0, s) == pytest.approx(0.5)  # halfway down the cosine
    assert lr_at(99, total, 1.0, s) < 0.001


def test_linear_decay_is_one_cycle() -> None:
    s = ScheduleConfig(kind="linear", warmup=0.5, final_lr=0.2)
    assert lr_at(25, 100, 1.0, s) == pytest.approx(0.5)
    assert lr_at(75, 100, 1.0, s) == pytest.approx(0.6)  # 0.2 + 0.8 * (1 - 0.5)
    lrs = [lr_at(i, 100, 1.0, s) for i in range(100)]
    peak = lrs.index(max(lrs))
    assert peak == 50
    assert all(a <= b for a, b in itertools.pairwise(lrs[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[peak:]))


def test_preact_starts_with_400_steps_at_001() -> None:
    # He et al. 2016, appendix: "0.01 at the beginning 400 iterations", then 0.1.
    s = load_recipe("preact").schedule
    assert [lr_at(i, 64000, 0.1, s) for i in (0, 399, 400)] == [0.01, 0.01, 0.1]
    assert not uses_error_warmup(s, 1001)


def test_constant() -> None:
    assert {lr_at(i, 10, 0.3, ScheduleConfig(kind="constant")) for i in range(10)} == {0.3}


def test_error_warmup_only_for_deep_nets_by_default() -> None:
    auto = ScheduleConfig(error_warmup="auto")
    assert not uses_error_warmup(auto, 56) and uses_error_warmup(auto, 110)
    assert uses_error_warmup(ScheduleConfig(error_warmup="always"), 20)
    assert not uses_error_warmup(ScheduleConfig(error_warmup="never"), 1202)


def test_error_warmup_ends_when_running_error_drops_below_80_percent() -> None:
    w = ErrorWarmup(lr=0.01, until=0.8, window=4)
    for err in (0.9, 0.9, 0.5, 0.5):  # mean 0.7, but only once the window is full
        assert w.active
        w.update(err)
    assert not w.active
    w.update(1.0)  # once over, it never comes back
    assert not w.active


def test_error_warmup_state_round_trips() -> None:
    w = ErrorWarmup(lr=0.01, until=0.8, window=4)
    w.update(0.95)
    w.update(0.85)
    copy = ErrorWarmup(lr=0.01, until=0.8, window=4)
    copy.load(w.state())
    for err in (0.3, 0.3):
        w.update(err)
        copy.update(err)
    assert w.state() == copy.state() and not copy.active
