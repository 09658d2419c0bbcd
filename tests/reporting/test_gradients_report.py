from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from reslab.experiments.gradients import GradientsConfig, run
from reslab.reporting import build_report, format_mean_std
from reslab.reporting._format import format_value
from reslab.reporting.gradients import ratio_rows

from .browser import is_blank, load_and_check


@pytest.fixture(scope="module")
def gradients_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Depths 8 and 14, two seeds, depth 8 also trained 2 steps."""
    config = GradientsConfig(data="synthetic1d", depths=(8, 14), train_max_depth=8, steps=2,
                             seeds=2, batches=1, batch_size=32, workers=1)  # fmt: skip
    return run(config).save(tmp_path_factory.mktemp("gradients-report"))


def test_gradients_report_renders(gradients_run, browser) -> None:
    path = build_report(gradients_run)
    html = path.read_text()
    assert "gradient highway" in html and "first/last block input-gradient norm ratio" in html
    assert "<th>input, init</th>" in html and "<th>weights, 2 steps</th>" in html
    results = json.loads((gradients_run / "results.json").read_text())
    row = next(r for r in results["summary"] if (r["kind"], r["depth"]) == ("plain", 14))
    assert format_mean_std(row["input_ratio_init_mean"], row["input_ratio_init_std"]) in html
    for law in results["verdict"]["laws"]["init"].values():
        assert f"<td>{law}</td>" in html
    for name in ("gradients_profiles.png", "gradients_ratio.png"):
        assert (gradients_run / name).read_bytes().startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images == 2
    assert not is_blank(screenshot)


def test_report_with_non_finite_norms(gradients_run, tmp_path, browser) -> None:
    # A plain net whose gradient overflowed: inf and nan in its profiles, null ratios in JSON.
    run_dir = tmp_path / "overflow"
    shutil.copytree(gradients_run, run_dir)
    raw = dict(np.load(run_dir / "raw.npz"))
    raw["plain14_seed0_input_init"][:2] = [np.nan, np.inf]
    np.savez(run_dir / "raw.npz", **raw)
    path = build_report(run_dir)
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == [] and images == 2 and not is_blank(screenshot)


def test_report_of_an_init_only_run(tmp_path, browser) -> None:
    config = GradientsConfig(data="synthetic1d", depths=(8,), steps=0, seeds=1, batches=1,
                             batch_size=32, workers=1)  # fmt: skip
    path = build_report(run(config).save(tmp_path / "init-only"))
    html = path.read_text()
    assert "after 0 steps" not in html and "one depth" in html
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == [] and images == 2 and not is_blank(screenshot)


def test_ratio_table_cells_of_extreme_ratios_use_exponents() -> None:
    # A plain net's first/last ratio can be 1e7 or 1e-7: the table shows a shared exponent,
    # not 73000000.0 or 0.0000005.
    row = {"kind": "plain", "depth": 110, "blocks": 54, "seeds": 2,
           "input_ratio_init_mean": 7.3e7, "input_ratio_init_std": 2.1e5,
           "weight_ratio_init_mean": 5e-7, "weight_ratio_init_std": 5e-7,
           "input_ratio_init_nonfinite": 0, "weight_ratio_init_nonfinite": 1}  # fmt: skip
    columns, rows = ratio_rows([row], ["init"], 0)
    cells = dict(zip(columns, rows[0], strict=True))
    assert format_value(cells["input, init"]) == "(7.30 ± 0.02)e+07"
    assert format_value(cells["weights, init"]) == "(5 ± 5)e-07"
    assert cells["non-finite"] == 1
    row["input_ratio_init_mean"] = "inf"  # as to_jsonable writes an overflowed mean
    assert ratio_rows([row], ["init"], 0)[1][0][2] is None
