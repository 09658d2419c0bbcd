from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reslab.experiments.highway import PRESETS, RunRecord, judge, summarize
from reslab.experiments.registry import get_experiment
from reslab.experiments.result import Result
from reslab.reporting import build_report, write_index

from .browser import is_blank, load_and_check

CONFIG = replace(PRESETS["quick"], depths=(10, 50), seeds=2, device="cpu")
# Best training loss by net: the paper's picture (plain fails at 50, the others train).
LOSS = {("plain", 10): 0.1, ("highway", 10): 0.08, ("residual", 10): 0.07,
        ("plain", 50): 1.9, ("highway", 50): 0.09, ("residual", 50): 0.05}  # fmt: skip


def fake_run(kind: str, depth: int, seed: int) -> RunRecord:
    loss = LOSS[kind, depth] * (1 + 0.05 * (seed % 1000))
    layers = depth - 1 if kind == "highway" else 0
    return RunRecord(
        kind=kind, depth=depth, seed=seed, width=50 if kind == "highway" else 71, lr=0.03,
        params=depth * 5000, best_train_loss=loss, epoch_train_loss=[2 * loss, loss],
        final_train_err=30 * loss, final_test_err=30 * loss + 1, status="completed",
        diverged_step=None, gate_t_mean=[0.1 + 0.002 * i for i in range(layers)],
        gate_t_unit_std=[0.05] * layers,
        gate_bias_mean=[(-2.0 if depth <= 30 else -4.0) - 0.01 * i for i in range(layers)],
        wall_s=1.0, gate_bias=(-2.0 if depth <= 30 else -4.0) if kind == "highway" else 0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fake_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kinds = ("plain", "highway", "residual")
    # Calibration seeds (from 1000) and the confirmation seeds 0 and 1.
    runs = [fake_run(k, d, s) for d in (10, 50) for k in kinds for s in (0, 1, 1000, 1001)]
    summary = summarize(CONFIG, runs)
    result = Result("highway", CONFIG, {"device": "cpu", "seeds": [0, 1]},
                    judge(CONFIG, summary), summary, runs,
                    spec=get_experiment("highway"))  # fmt: skip
    return result.save(tmp_path_factory.mktemp("highway_run"))


def test_highway_report_holds_both_figures_and_the_papers_numbers(fake_run_dir: Path) -> None:
    html = build_report(fake_run_dir).read_text()
    assert "Training loss by depth (Figure 1)" in html
    assert "Transform gates after training (Figure 2)" in html
    assert "plain far worse than highway" in html  # Figure 1, in words, beside our rows
    assert "99.55" in html and "92.40" in html  # Tables 1 and 3
    for name in ("highway_loss.png", "highway_gates.png"):
        assert (fake_run_dir / name).read_bytes().startswith(b"\x89PNG")
    assert html.count("<img") == 2
    assert "Learning rate per net" in html and "<b>0.0" in html  # the chosen lr, in bold


def test_index_lists_the_highway_run(fake_run_dir: Path) -> None:
    build_report(fake_run_dir)
    index = write_index(fake_run_dir.parent).read_text()
    assert "highway" in index and "deep plain nets fail" in index


def test_highway_report_renders(fake_run_dir: Path, browser) -> None:
    path = build_report(fake_run_dir)
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images == 2
    assert not is_blank(screenshot)
