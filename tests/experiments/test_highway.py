"""The highway experiment (Srivastava et al. 2015, Fig. 1-2): plain, highway and residual MLPs."""

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
    judge,
    loss_gap,
    summarize,
    tasks,
)
from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.experiments.spec import configure
from reslab.probes.gates import gate_stats

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tiny_run_records_every_net_and_its_gates(tiny_run) -> None:
    run_dir = tiny_run("highway")
    result = load_result(run_dir)
    assert len(result.records) == 3 * 2 * 2 * 2  # kinds, depths, lrs, seeds
    for r in result.records:
        assert r.params > 0 and r.status in ("completed", "diverged")
        assert math.isfinite(r.best_train_loss) and r.best_train_loss > 0
        layers = r.depth - 1 if r.kind == "highway" else 0
        assert len(r.gate_t_mean) == len(r.gate_bias_mean) == layers
        assert all(0 < t < 1 for t in r.gate_t_mean)
    rows = {(r["kind"], r["depth"]): r for r in result.summary["depths"]}
    assert set(rows) == {(k, d) for k in ("plain", "highway", "residual") for d in (3, 5)}
    assert rows[("highway", 5)]["width"] == 6 and rows[("plain", 5)]["width"] == 8
    grid = result.summary["lr_search"]
    assert len(grid) == 3 * 2 * 2 and all(g["seeds"] == 2 for g in grid)
    for (kind, depth), row in rows.items():
        own = {g["lr"]: g for g in grid if (g["kind"], g["depth"]) == (kind, depth)}
        best = min(own.values(), key=lambda g: g["best_train_loss_mean"])
        assert own[row["lr"]]["chosen"] and row["lr"] == best["lr"]
        assert row["best_train_loss_mean"] == best["best_train_loss_mean"]
    gates = [g for g in result.summary["gates"] if g["depth"] == 5]
    assert [g["layer"] for g in gates] == [2, 3, 4, 5]
    assert result.verdict.text.startswith("(1) deep plain nets")
    arrays = load_arrays(run_dir)
    assert arrays["highway5_lr0.03_seed0_gates"].shape == (3, 4)


def test_nets_have_the_papers_widths_and_matched_parameters() -> None:
    bundle = load_data("synthetic")
    config = PRESETS["quick"]
    nets = {k: build(config, k, 10, bundle) for k in ("plain", "highway", "residual")}
    per_layer = {k: sum(p.numel() for p in net.blocks[0].parameters()) for k, net in nets.items()}
    assert per_layer == {"highway": 2 * (50 * 50 + 50), "plain": 71 * 71 + 71,
                         "residual": 71 * 71 + 71}  # fmt: skip
    assert all(torch.all(b.gate.fc.bias == -2.0) for b in nets["highway"].blocks)
    deep = build(config, "highway", 50, bundle).blocks
    assert all(torch.all(b.gate.fc.bias == -4.0) for b in deep)  # the default for depth > 30
    fixed = build(replace(config, gate_bias=-1.0), "highway", 50, bundle).blocks
    assert all(torch.all(b.gate.fc.bias == -1.0) for b in fixed)


def test_gate_stats_are_the_gates_own_outputs() -> None:
    bundle = load_data("synthetic")
    torch.manual_seed(0)
    net = build(replace(TINY, gate_bias=-50.0), "highway", 4, bundle)
    stats = gate_stats(net, bundle, torch.device("cpu"))
    # b_T = -50: T = sigmoid(-50 + small) ~ 2e-22 on every sample.
    assert stats.bias_mean == [-50.0] * 3
    assert all(0 < t < 1e-15 for t in stats.t_mean)
    assert gate_stats(build(TINY, "plain", 4, bundle), bundle, torch.device("cpu")).t_mean == []


def test_tasks_cover_every_net_deepest_first() -> None:
    keys = [t.key for t in tasks(TINY, None)]
    assert len(keys) == 24 and keys[0] == "plain5_lr0.01_seed0"
    assert keys[-1] == "residual3_lr0.03_seed1"


def test_quick_preset_is_mnist_at_the_papers_depths() -> None:
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    assert quick.data == paper.data == "mnist" and quick.seeds >= 3
    assert quick.depths == paper.depths == (10, 20, 50, 100)
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
    ],
)
def test_bad_config_names_the_accepted_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(configure(TINY, changes))


def record(kind: str, depth: int, seed: int, loss: float, test: float, lr: float = 0.03) -> object:
    from reslab.experiments.highway import RunRecord

    return RunRecord(
        kind=kind, depth=depth, seed=seed, width=50 if kind == "highway" else 71, lr=lr, params=1,
        best_train_loss=loss, epoch_train_loss=[loss], final_train_err=test, final_test_err=test,
        status="completed", diverged_step=None, gate_t_mean=[0.1] * (depth - 1) if kind ==
        "highway" else [], gate_t_unit_std=[0.0] * (depth - 1) if kind == "highway" else [],
        gate_bias_mean=[-2.0] * (depth - 1) if kind == "highway" else [], wall_s=0.0,
    )  # fmt: skip


def summary_of(losses: dict[tuple[str, int], float], tests: dict[tuple[str, int], float]) -> dict:
    """Every net at two lrs: at lr 0.01 it trains as given, at 0.03 it diverges on one seed
    and sits at chance, so the choice must take 0.01 everywhere."""
    config = replace(TINY, depths=(10, 50))
    noise = (0.98, 1.0, 1.02)
    records = [
        record(k, d, s, losses[(k, d)] * n, tests[(k, d)] + (n - 1) * 5, lr=0.01)
        for (k, d) in losses
        for s, n in enumerate(noise)
    ]
    records += [
        replace(record(k, d, s, math.log(10), 90.0), status="diverged" if s == 0 else "completed")
        for (k, d) in losses
        for s in range(len(noise))
    ]
    return summarize(config, records)


def test_judge_confirms_the_papers_picture() -> None:
    # Plain at depth 50 stuck near chance; residual beats highway by 3 points of test error.
    losses = {("plain", 10): 0.1, ("highway", 10): 0.1, ("residual", 10): 0.1,
              ("plain", 50): 2.0, ("highway", 50): 0.1, ("residual", 50): 0.08}  # fmt: skip
    tests = {("plain", 10): 3.0, ("highway", 10): 3.0, ("residual", 10): 3.0,
             ("plain", 50): 80.0, ("highway", 50): 6.0, ("residual", 50): 3.0}  # fmt: skip
    summary = summary_of(losses, tests)
    verdict = judge(TINY, summary)
    assert verdict.ok, verdict.text
    assert set(verdict.numbers["chosen_lr"].values()) == {0.01}
    assert verdict.numbers["diverged_over_grid"] == {"plain": 2, "highway": 2, "residual": 2}
    assert "highway 2/12" in verdict.text and "(lr 0.01)" in verdict.text
    picked = [g for g in summary["lr_search"] if g["chosen"]]
    assert len(picked) == 6 and all(g["lr"] == 0.01 and g["diverged"] == 0 for g in picked)
    assert verdict.numbers["plain_fails_at"] == [50]
    assert verdict.numbers["residual_better_at"] == [50]
    assert verdict.numbers["highway_better_at"] == []


def test_judge_refutes_when_plain_trains_or_gates_help() -> None:
    even = {(k, d): 0.1 for k in ("plain", "highway", "residual") for d in (10, 50)}
    tests = {(k, d): 3.0 for k in ("plain", "highway", "residual") for d in (10, 50)}
    verdict = judge(TINY, summary_of(even, tests))
    assert not verdict.ok and verdict.numbers["plain_fails_at"] == []
    assert "do not clearly fail" in verdict.text
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
    net = build(PRESETS["quick"], "highway", 10, bundle)
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
    # chance (mean (0.05 + 2.30) / 2), the choice is lr 0.01 (mean 0.2). Plain: 0.03 is better.
    records = [
        record("highway", 10, 0, 0.05, 2.0, lr=0.03),
        replace(record("highway", 10, 1, math.log(10), 90.0, lr=0.03), status="diverged",
                diverged_step=45),
        record("highway", 10, 0, 0.2, 5.0, lr=0.01), record("highway", 10, 1, 0.2, 5.0, lr=0.01),
        record("plain", 10, 0, 0.1, 3.0, lr=0.03), record("plain", 10, 1, 0.1, 3.0, lr=0.03),
        record("plain", 10, 0, 0.4, 8.0, lr=0.01), record("plain", 10, 1, 0.4, 8.0, lr=0.01),
    ]  # fmt: skip
    summary = summarize(config, records)
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
    rows = summarize(config, [good, bad])["gates"]
    assert [(r["layer"], r["seeds"], r["t_mean"]) for r in rows] == [(2, 1, 0.1), (3, 1, 0.1),
                                                                     (4, 1, 0.1)]  # fmt: skip
    assert summarize(config, [bad])["gates"] == []
