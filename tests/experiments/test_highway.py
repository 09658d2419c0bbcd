"""The highway experiment (Srivastava et al. 2015, Fig. 1-2): plain, highway and residual MLPs,
each net's lr (and b_T) chosen on calibration seeds, the verdict on fresh confirmation seeds."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.conftest import shared_data_dir
from tests.experiments.tiny import HIGHWAY as TINY

from reslab.data import load_data
from reslab.experiments.highway import (
    PRESETS,
    build,
    check,
    followup,
    judge,
    loss_gap,
    summarize,
    tasks,
)
from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.experiments.spec import CALIBRATION_SEED0, configure
from reslab.probes.gates import gate_stats

pytestmark = pytest.mark.usefixtures("one_thread")
C0 = CALIBRATION_SEED0


def test_tiny_run_calibrates_then_confirms(tiny_run) -> None:
    run_dir = tiny_run("highway")
    result = load_result(run_dir)
    grid = (2 + 2 + 2 * len(TINY.gate_biases)) * 2 * TINY.calibration_seeds  # lrs x b_T, depths
    assert len(result.records) == grid + 3 * 2 * TINY.seeds
    calibration = [r for r in result.records if r.calibration]
    assert len(calibration) == grid and {r.seed for r in calibration} == {C0}
    for r in result.records:
        assert r.params > 0 and r.status in ("completed", "diverged")
        assert math.isfinite(r.best_train_loss) and r.best_train_loss > 0
        layers = r.depth - 1 if r.kind == "highway" else 0
        assert len(r.gate_t_mean) == len(r.gate_bias_mean) == layers
        assert all(0 < t < 1 for t in r.gate_t_mean)
    rows = {(r["kind"], r["depth"]): r for r in result.summary["depths"]}
    assert set(rows) == {(k, d) for k in ("plain", "highway", "residual") for d in (3, 5)}
    assert all(r["seeds"] == TINY.seeds for r in rows.values())  # confirmation seeds only
    assert rows[("highway", 5)]["width"] == 6 and rows[("plain", 5)]["width"] == 8
    search = result.summary["lr_search"]
    for (kind, depth), row in rows.items():
        own = [g for g in search if (g["kind"], g["depth"]) == (kind, depth)]
        best = min(own, key=lambda g: g["best_train_loss_median"])
        assert best["chosen"] and sum(g["chosen"] for g in own) == 1
        assert (row["lr"], row["gate_bias"]) == (best["lr"], best["gate_bias"])
    assert result.provenance["seeds"] == [0, 1] and result.provenance["calibration_seeds"] == [C0]
    gates = [g for g in result.summary["gates"] if g["depth"] == 5]
    assert [g["layer"] for g in gates] == [2, 3, 4, 5]
    assert result.verdict.text.startswith("(1) deep plain nets")
    hw = rows[("highway", 5)]
    name = f"highway5_lr{hw['lr']:g}_b{hw['gate_bias']:g}_seed0_gates"
    assert load_arrays(run_dir)[name].shape == (3, 4)


def test_nets_have_the_papers_widths_and_matched_parameters() -> None:
    bundle = load_data("synthetic")
    config = PRESETS["quick"]
    nets = {k: build(config, k, 10, bundle, -2.0) for k in ("plain", "highway", "residual")}
    per_layer = {k: sum(p.numel() for p in net.blocks[0].parameters()) for k, net in nets.items()}
    assert per_layer == {"highway": 2 * (50 * 50 + 50), "plain": 71 * 71 + 71,
                         "residual": 71 * 71 + 71}  # fmt: skip
    assert all(torch.all(b.gate.fc.bias == -2.0) for b in nets["highway"].blocks)
    deep = build(config, "highway", 50, bundle, -4.0).blocks
    assert all(torch.all(b.gate.fc.bias == -4.0) for b in deep)


def test_gate_stats_are_the_gates_own_outputs() -> None:
    bundle = load_data("synthetic")
    torch.manual_seed(0)
    net = build(TINY, "highway", 4, bundle, -50.0)
    stats = gate_stats(net, bundle, torch.device("cpu"))
    # b_T = -50: T = sigmoid(-50 + small) ~ 2e-22 on every sample.
    assert stats.bias_mean == [-50.0] * 3
    assert all(0 < t < 1e-15 for t in stats.t_mean)
    plain = build(TINY, "plain", 4, bundle, 0.0)
    assert gate_stats(plain, bundle, torch.device("cpu")).t_mean == []


def test_calibration_covers_every_setting_deepest_first_then_confirmation_follows() -> None:
    config = replace(TINY, calibration_seeds=3, gate_biases=(-2.0, -4.0))
    seeds = (C0, C0 + 1, C0 + 2)
    keys = [t.key for t in tasks(config, None)]
    assert len(keys) == 2 * 3 * (2 + 2 + 2 * 2) and keys[0] == f"plain5_lr0.01_b0_seed{C0}"
    assert keys[-1] == f"residual3_lr0.03_b0_seed{C0 + 2}"
    assert {t.seed for t in tasks(config, None)} == set(seeds)
    # Confirmation: one run per net and confirmation seed, at the setting with the lowest median.
    records = [record(k, d, s, 0.5 if lr == 0.03 else 1.0, 5.0, lr=lr, gate_bias=b)
               for k in ("plain", "highway", "residual") for d in (3, 5) for s in seeds
               for lr in (0.01, 0.03) for b in ((-2.0, -4.0) if k == "highway" else (0.0,))]
    records = [replace(r, best_train_loss=0.1) if (r.kind, r.gate_bias, r.seed) ==
               ("highway", -4.0, C0) else r for r in records]  # one lucky seed: not the median
    # One diverged seed (at chance) of three does not move the median: lr 0.03 still wins.
    records = [replace(r, best_train_loss=math.log(10), status="diverged") if (r.kind, r.lr,
               r.seed) == ("plain", 0.03, C0) else r for r in records]  # fmt: skip
    confirm = followup(config, records)
    assert [t.key for t in confirm][:3] == ["plain5_lr0.03_b0_seed0", "highway5_lr0.03_b-4_seed0",
                                            "residual5_lr0.03_b0_seed0"]  # fmt: skip
    assert len(confirm) == 3 * 2 * TINY.seeds


def test_quick_preset_is_mnist_where_plain_nets_fail() -> None:
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    assert quick.data == paper.data == "mnist" and quick.seeds >= 4
    # Three calibration seeds at least: the median of two is their mean, and one divergence
    # would decide a net's setting.
    assert quick.calibration_seeds >= 3 and quick.depths == (50, 100)
    assert quick.first_seed >= 10 and -6.0 in quick.gate_biases  # fresh seeds for the new grid
    assert paper.depths == (10, 20, 50, 100)
    assert (quick.highway_width, quick.plain_width) == (50, 71)
    check(quick)
    check(paper)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kinds": ("plain", "gated")}, "among: plain, highway, residual"),
        ({"depths": (1, 10)}, "must be >= 2"),
        ({"train_size": 10}, "train_size=10 must be >= batch_size=32"),
        ({"activation": "gelu"}, "accepted: relu, tanh"),
        ({"lrs": (0.01, 0.01)}, "must be distinct and > 0"),
        ({"lrs": ()}, "must be distinct and > 0"),
        ({"gate_biases": (-2.0, -2.0)}, "must be distinct"),
        ({"calibration_seeds": 0}, "calibration_seeds=0 must be >= 1"),
        ({"first_seed": 999}, "apart from the calibration seeds"),
    ],
)
def test_bad_config_names_the_accepted_values(changes: dict, message: str) -> None:
    config = configure(TINY, changes)
    with pytest.raises(ValueError, match=message):
        config.check()
        check(config)


def record(
    kind: str, depth: int, seed: int, loss: float, test: float, lr: float = 0.03,
    gate_bias: float = 0.0,
) -> object:  # fmt: skip
    from reslab.experiments.highway import RunRecord

    return RunRecord(
        kind=kind, depth=depth, seed=seed, width=50 if kind == "highway" else 71, lr=lr, params=1,
        best_train_loss=loss, epoch_train_loss=[loss], final_train_err=test, final_test_err=test,
        status="completed", diverged_step=None, gate_t_mean=[0.1] * (depth - 1) if kind ==
        "highway" else [], gate_t_unit_std=[0.0] * (depth - 1) if kind == "highway" else [],
        gate_bias_mean=[-2.0] * (depth - 1) if kind == "highway" else [], wall_s=0.0,
        gate_bias=gate_bias,
    )  # fmt: skip


def summary_of(losses: dict[tuple[str, int], float], tests: dict[tuple[str, int], float]) -> dict:
    return summarize(replace(TINY, depths=(10, 50), seeds=3), records_of(losses, tests))


def records_of(losses: dict[tuple[str, int], float], tests: dict[tuple[str, int], float]) -> list:
    """Calibration (3 seeds) at two lrs: at lr 0.01 every net trains as given, at 0.03 it
    diverges on two seeds and sits at chance, so the choice is 0.01 everywhere; then three
    confirmation seeds at 0.01 as given."""
    noise = (0.98, 1.0, 1.02)
    records = []
    for first, diverge in ((C0, True), (0, False)):
        records += [
            record(k, d, first + s, losses[(k, d)] * n, tests[(k, d)] + (n - 1) * 5, lr=0.01)
            for (k, d) in losses
            for s, n in enumerate(noise)
        ]
        records += [
            replace(record(k, d, C0 + s, math.log(10), 90.0),
                    status="diverged" if s < 2 else "completed")
            for (k, d) in losses
            for s in range(len(noise))
            if diverge
        ]
    return records


def test_judge_confirms_the_papers_picture() -> None:
    # Plain at depth 50 stuck near chance; residual beats highway by 3 points of test error.
    losses = {("plain", 10): 0.1, ("highway", 10): 0.1, ("residual", 10): 0.1,
              ("plain", 50): 2.0, ("highway", 50): 0.1, ("residual", 50): 0.08}  # fmt: skip
    tests = {("plain", 10): 3.0, ("highway", 10): 3.0, ("residual", 10): 3.0,
             ("plain", 50): 80.0, ("highway", 50): 6.0, ("residual", 50): 3.0}  # fmt: skip
    summary = summary_of(losses, tests)
    verdict = judge(TINY, summary)
    assert verdict.ok and verdict.outcome == "reproduced", verdict.text
    assert set(verdict.numbers["chosen_lr"].values()) == {0.01}
    assert verdict.numbers["diverged_in_calibration"] == {"plain": 4, "highway": 4, "residual": 4}
    assert verdict.numbers["diverged_in_confirmation"] == {"plain": 0, "highway": 0, "residual": 0}
    assert "highway 4/12" in verdict.text and "(lr 0.01" in verdict.text
    picked = [g for g in summary["lr_search"] if g["chosen"]]
    assert len(picked) == 6 and all(g["lr"] == 0.01 and g["diverged"] == 0 for g in picked)
    assert verdict.numbers["plain_fails_at"] == [50]
    assert verdict.numbers["residual_better_at"] == [50]
    assert verdict.numbers["highway_better_at"] == []


def test_judge_refutes_when_plain_trains_or_gates_help() -> None:
    even = {(k, d): 0.1 for k in ("plain", "highway", "residual") for d in (10, 50)}
    tests = {(k, d): 3.0 for k in ("plain", "highway", "residual") for d in (10, 50)}
    verdict = judge(TINY, summary_of(even, tests))
    assert verdict.parts["plain_fails"] == "contradicted"
    assert verdict.numbers["plain_fails_at"] == []
    assert "do not fail" in verdict.text
    gated = {**even, ("plain", 50): 2.0, ("residual", 50): 0.5}
    verdict = judge(TINY, summary_of(gated, {**tests, ("residual", 50): 9.0}))
    assert not verdict.ok and verdict.numbers["highway_better_at"] == [50]
    assert verdict.numbers["plain_fails_at"] == [50]


def test_loss_gap_needs_a_factor_of_two() -> None:
    a = [record("plain", 10, s, v, 0.0) for s, v in enumerate((0.3, 0.3, 0.3))]
    b = [record("highway", 10, s, v, 0.0) for s, v in enumerate((0.2, 0.2, 0.2))]
    assert loss_gap(a, b)[1] == "tied"  # 1.5x
    assert loss_gap(a, b)[0].outcome == "contradicted"  # 1.5x, on every seed: not 2x
    c = [record("highway", 10, s, v, 0.0) for s, v in enumerate((0.1, 0.1, 0.1))]
    gap, outcome = loss_gap(a, c)
    assert outcome == "higher" and gap.effect == pytest.approx(np.log(3))
    assert gap.threshold == pytest.approx(np.log(2)) and gap.outcome == "reproduced"


def test_mnist_loader_works_offline(shared_mnist: Path) -> None:
    bundle = load_data("mnist", data_dir=shared_mnist)
    net = build(PRESETS["quick"], "highway", 10, bundle, -2.0)
    assert net(bundle.train.x[:4].float()).shape == (4, 10)
    assert bundle.input_size == (1, 28, 28)


@pytest.fixture
def shared_mnist(tmp_path: Path) -> Path:
    """The shared MNIST .gz files linked into a writable root (torchvision extracts beside them)."""
    raw = shared_data_dir() / "MNIST" / "raw"
    if not raw.is_dir():
        pytest.skip(f"shared datasets not found at {raw.parent.parent} (set RESLAB_SHARED_DATA)")
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    for gz in raw.glob("*.gz"):
        (tmp_path / "MNIST" / "raw" / gz.name).symlink_to(gz)
    return tmp_path


def test_each_net_keeps_its_own_lr_and_divergence_counts_at_chance() -> None:
    config = replace(TINY, depths=(10,), kinds=("plain", "highway"))
    # Highway: lr 0.03 reached 0.05 before diverging on seed 1; as a diverged run counts at
    # chance (median of 0.05 and 2.30), the choice is lr 0.01 (0.2). Plain: 0.03 is better.
    calibration = [
        record("highway", 10, C0, 0.05, 2.0, lr=0.03),
        replace(record("highway", 10, C0 + 1, math.log(10), 90.0, lr=0.03), status="diverged",
                diverged_step=45),
        record("highway", 10, C0, 0.2, 5.0, lr=0.01),
        record("highway", 10, C0 + 1, 0.2, 5.0, lr=0.01),
        record("plain", 10, C0, 0.1, 3.0, lr=0.03), record("plain", 10, C0 + 1, 0.1, 3.0, lr=0.03),
        record("plain", 10, C0, 0.4, 8.0, lr=0.01), record("plain", 10, C0 + 1, 0.4, 8.0, lr=0.01),
    ]  # fmt: skip
    confirmation = [record("highway", 10, s, 0.2, 5.0, lr=0.01) for s in (0, 1)]
    confirmation += [record("plain", 10, s, 0.1, 3.0, lr=0.03) for s in (0, 1)]
    summary = summarize(config, calibration + confirmation)
    rows = {r["kind"]: r for r in summary["depths"]}
    assert (rows["highway"]["lr"], rows["plain"]["lr"]) == (0.01, 0.03)
    assert rows["highway"]["best_train_loss_mean"] == pytest.approx(0.2)
    assert rows["highway"]["diverged"] == 0
    grid = {(g["kind"], g["lr"]): g for g in summary["lr_search"]}
    assert grid[("highway", 0.03)]["diverged"] == 1
    assert grid[("highway", 0.03)]["diverged_steps"] == [45]
    assert not grid[("highway", 0.03)]["chosen"] and grid[("plain", 0.03)]["chosen"]


def test_a_diverged_run_counts_at_chance() -> None:
    from reslab.experiments.highway import best_loss

    assert best_loss([2.0, 0.4, math.nan], 10, diverged=True) == pytest.approx(math.log(10))
    assert best_loss([2.0, 0.4, 0.5], 10) == 0.4
    assert best_loss([math.nan], 10) == pytest.approx(math.log(10))


def test_gate_rows_leave_out_diverged_nets() -> None:
    config = replace(TINY, depths=(4,), kinds=("highway",))
    good = record("highway", 4, 0, 0.1, 3.0)
    bad = replace(record("highway", 4, 1, 2.3, 90.0), status="diverged",
                  gate_t_mean=[math.nan] * 3, gate_bias_mean=[math.nan] * 3)  # fmt: skip
    calibration = [record("highway", 4, C0, 0.1, 3.0)]
    rows = summarize(config, [good, bad, *calibration])["gates"]
    assert [(r["layer"], r["seeds"], r["t_mean"]) for r in rows] == [(2, 1, 0.1), (3, 1, 0.1),
                                                                     (4, 1, 0.1)]  # fmt: skip
    assert summarize(config, [bad, *calibration])["gates"] == []


def test_one_divergence_among_the_confirmation_seeds_is_reported_not_deciding() -> None:
    losses = {("plain", 10): 0.1, ("highway", 10): 0.1, ("residual", 10): 0.1,
              ("plain", 50): 2.0, ("highway", 50): 0.1, ("residual", 50): 0.08}  # fmt: skip
    tests = {k: 3.0 for k in losses} | {("plain", 50): 80.0}
    records = records_of(losses, tests)
    # A fourth confirmation seed (the quick preset's count), then seed 2 of highway-50 diverges
    # in confirmation: it counts at chance, ln 10.
    records += [replace(r, seed=3) for r in records if r.seed == 1]
    records = [replace(r, best_train_loss=math.log(10), status="diverged")
               if (r.kind, r.depth, r.seed) == ("highway", 50, 2) else r for r in records]
    config = replace(TINY, depths=(10, 50), seeds=4)
    verdict = judge(config, summarize(config, records))
    assert verdict.parts["plain_fails"] == "reproduced", verdict.text
    assert verdict.numbers["diverged_in_confirmation"]["highway"] == 1
    # With three seeds the same divergence leaves the part undecided, never contradicted.
    three = [r for r in records if r.seed != 3]
    config = replace(config, seeds=3)
    assert judge(config, summarize(config, three)).parts["plain_fails"] == "inconclusive"
