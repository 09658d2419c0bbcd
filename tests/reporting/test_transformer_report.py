from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reslab.experiments.registry import get_experiment, load_result
from reslab.experiments.result import Result
from reslab.experiments.transformer import (
    PRESETS,
    RunRecord,
    calibration_cells,
    cells,
    failed,
    judge,
    summarize,
)
from reslab.reporting import build_report

CONFIG = replace(PRESETS["quick"], depths=(2, 6), calibration_lrs=(1e-3, 3e-3), seeds=2,
                 first_seed=0, device="cpu")  # fmt: skip
LOSS = {"pre": 2.5, "post": 2.6, "deepnorm": 2.55, "plain": 3.4}


def fake_run(variant: str, depth: int, lr: float, warmup: bool, seed: int) -> RunRecord:
    loss = LOSS[variant] + 0.02 * seed + (0.6 if variant == "post" and not warmup else 0.0)
    # Xiong et al.'s shapes: post-LN's FFN gradient grows towards the output, pre-LN's is flat
    # and falls like 1/sqrt(depth).
    grads = [(i + 1) / depth if variant == "post" else depth**-0.5 for i in range(depth)]
    return RunRecord(
        variant, depth, lr, warmup, seed, loss, failed("completed", loss, 3.3), "completed",
        None, 3.3, grads, grads, [10, 20], [3.0, loss], 1.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fake_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    calibration = [fake_run(*cell, s) for cell in calibration_cells(CONFIG) for s in (1000, 1001)]
    runs = calibration + [fake_run(*cell, s) for cell in cells(CONFIG, 1e-3) for s in range(2)]
    summary = summarize(CONFIG, runs)
    result = Result("transformer", CONFIG, {"device": "cpu", "seeds": [0, 1]},
                    judge(CONFIG, summary), summary, runs,
                    spec=get_experiment("transformer"))  # fmt: skip
    return result.save(tmp_path_factory.mktemp("transformer_run"))


def test_report_holds_the_figures_tables_and_the_papers_numbers(fake_run_dir: Path) -> None:
    html = build_report(fake_run_dir).read_text()
    for name in ("transformer.png", "transformer_grads.png", "transformer_grads_xavier.png"):
        assert (fake_run_dir / name).read_bytes().startswith(b"\x89PNG")
    assert html.count("<img") == 3
    assert "8.45" in html and "1.4697" in html and "xiong bleu iwslt14 (paper)" in html
    assert "(1) no skips untrainable at 6 layers" in html
    assert "width 32, 2 heads, context 32" in html
    assert "calibration seeds: post-LN at 6 layers" not in html  # a figure title, not text
    assert "lr, 0.001, was chosen on the calibration seeds" in html


def test_slopes_read_back_from_the_saved_summary(fake_run_dir: Path) -> None:
    for key in ("grad_slopes", "grad_slopes_xavier"):
        slopes = {r["variant"]: r for r in load_result(fake_run_dir).summary[key]}
        assert slopes["pre"]["last_layer_slope"] == pytest.approx(-0.5)
        assert slopes["post"]["last_layer_slope"] == pytest.approx(0.0, abs=1e-9)


def test_transformer_report_renders(fake_run_dir: Path, browser) -> None:
    from .browser import is_blank, load_and_check

    errors, screenshot, images, _ = load_and_check(build_report(fake_run_dir), browser)
    assert errors == [] and images == 3 and not is_blank(screenshot)
