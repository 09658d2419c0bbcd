from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reslab.experiments.depth import PRESETS, RunRecord, judge, summarize
from reslab.experiments.registry import get_experiment, load_result
from reslab.experiments.result import Result
from reslab.reporting import build_report
from reslab.reporting.summary import table_cells

from .browser import is_blank, load_and_check

CONFIG = replace(PRESETS["paper"], depths=(20, 164, 1001), seeds=2, deepest_seeds=1, device="cpu")
# Final training error (%) by kind and depth: post-activation gets worse past 164 layers.
TRAIN_ERR = {("postact", 20): 6.0, ("postact", 164): 2.0, ("postact", 1001): 9.0,
             ("preact", 20): 5.0, ("preact", 164): 1.5, ("preact", 1001): 0.5}  # fmt: skip


def fake_run(kind: str, depth: int, seed: int) -> RunRecord:
    """A run shaped like a real one: a decaying curve to the final error, 3 epochs of 100 steps."""
    end = TRAIN_ERR[kind, depth] + seed
    steps = list(range(10, 301, 10))
    curve = [end + 80 * np.exp(-s / 60) for s in steps]
    return RunRecord(
        kind=kind, depth=depth, seed=seed, params=depth * 10_000, checkpointed=depth >= 500,
        steps=steps, train_err=curve, train_loss=[c / 40 for c in curve],
        epoch_steps=[100, 200, 300], test_err=[c + 2 for c in curve[9::10]],
        final_train_err=end, final_test_err=end + 2, status="completed", diverged_step=None,
        wall_s=depth / 10, cpu_s=depth / 5, base_mem_mb=800.0, peak_mem_mb=800 + depth / 2,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fake_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = [fake_run(k, d, s) for d in (20, 164) for k in ("postact", "preact") for s in (0, 1)]
    runs += [fake_run(k, 1001, 0) for k in ("postact", "preact")]
    summary = summarize(CONFIG, runs)
    prov = {"device": "cpu", "seeds": [0, 1]}
    result = Result("depth", CONFIG, prov, judge(CONFIG, summary), summary, runs,
                    spec=get_experiment("depth"))  # fmt: skip
    return result.save(tmp_path_factory.mktemp("depth_run"))


def test_table_rows_carry_the_numbers(fake_run_dir: Path) -> None:
    summary = load_result(fake_run_dir).summary
    columns, rows = table_cells(summary["nets"])
    assert columns[-1] == "test err (paper)"  # CIFAR-10 at width 16: Table 3 applies
    by_net = {(row[0], row[1]): dict(zip(columns, row, strict=True)) for row in rows}
    deep = by_net["postact", 1001]
    assert deep["test err (paper)"] == 7.61 and by_net["preact", 1001][columns[-1]] == 4.92
    assert deep["train err"] == 9.0  # one seed: the number, no spread to show
    assert deep["run mem mb"] == pytest.approx(500.5)
    assert deep["checkpointed"] is True and by_net["preact", 164]["checkpointed"] is False
    mid = by_net["preact", 164]["train err"]
    assert mid.mean == pytest.approx(2.0) and mid.std == pytest.approx(np.std([1.5, 2.5], ddof=1))
    assert by_net["preact", 20][columns[-1]] is None  # the paper has no 20-layer row


def test_depth_report_holds_the_verdict_figures_and_notes(fake_run_dir: Path) -> None:
    html = build_report(fake_run_dir).read_text()
    assert "pre-activation 1001: 0.5% train error (test 2.5%)" in html
    assert "better by 8.5 points" in html
    assert "test err (paper)" in html and "7.61" in html and "±" in html
    assert "bottleneck blocks at width 16, recipe preact, batch 128, 64000 iterations" in html
    assert "gradient checkpointing from 500 layers on" in html
    assert "a fresh process per run" in html  # what peak memory measured
    for name in ("depth.png", "depth_curves.png"):
        assert (fake_run_dir / name).read_bytes().startswith(b"\x89PNG")
    assert html.count("<img") == 2


def test_report_says_checkpointing_leaves_the_norm_statistics_alone(fake_run_dir) -> None:
    # reslab.nn.checkpoint restores BN's running statistics after the recomputation (its
    # test_same_output_gradients_and_norm_statistics_as_a_plain_call): no faster momentum.
    html = build_report(fake_run_dir).read_text()
    assert "momentum 0.19" not in html and "twice as fast" not in html
    assert "once per step at the usual momentum" in html


def test_depth_report_renders(fake_run_dir: Path, browser) -> None:
    path = build_report(fake_run_dir)
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images == 2
    assert not is_blank(screenshot)
