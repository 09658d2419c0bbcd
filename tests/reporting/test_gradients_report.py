from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reslab.experiments.driver import execute
from reslab.experiments.gradients import EXPERIMENT, GradientsConfig
from reslab.reporting import build_report, format_mean_std
from reslab.reporting._format import format_value
from reslab.reporting.summary import table_cells

from .browser import is_blank, load_and_check

TINY = {"data": "synthetic1d", "seeds": 2, "batches": 1, "batch_size": 32, "workers": 1,
        "device": "cpu"}  # fmt: skip


def run_into(run_dir: Path, **changes) -> Path:
    config = GradientsConfig(**{**TINY, **changes})
    execute(EXPERIMENT, config, out=run_dir)
    return run_dir


@pytest.fixture(scope="module")
def gradients_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Depths 8 and 14, two seeds, depth 8 also trained 2 steps."""
    run_dir = tmp_path_factory.mktemp("gradients-report") / "run"
    return run_into(run_dir, depths=(8, 14), train_max_depth=8, steps=2)


def test_gradients_report_holds_figures_tables_and_laws(gradients_run) -> None:
    html = build_report(gradients_run).read_text()
    assert "gradient highway" in html and "first/last block input-gradient norm ratio" in html
    assert "<th>input ratio init</th>" in html and "<th>weight ratio trained</th>" in html
    assert "then trained 2 steps with the mnist1d recipe (depths up to 8)" in html
    results = json.loads((gradients_run / "results.json").read_text())
    row = next(r for r in results["summary"]["nets"] if (r["kind"], r["depth"]) == ("plain", 14))
    assert format_mean_std(row["input_ratio_init_mean"], row["input_ratio_init_std"]) in html
    for law in results["verdict"]["numbers"]["laws"]["init"].values():
        assert f"<td>{law}</td>" in html
    for name in ("gradients_profiles.png", "gradients_ratio.png"):
        assert (gradients_run / name).read_bytes().startswith(b"\x89PNG")
    assert html.count("<img") == 2


def test_gradients_report_renders(gradients_run, browser) -> None:
    errors, screenshot, images, _ = load_and_check(build_report(gradients_run), browser)
    assert errors == []
    assert images == 2
    assert not is_blank(screenshot)


def test_report_with_non_finite_norms(gradients_run, tmp_path, browser) -> None:
    # A plain net whose gradient overflowed: inf and nan in its profiles, an overflowed mean in
    # the summary, as to_jsonable writes them (null, "inf").
    run_dir = tmp_path / "overflow"
    shutil.copytree(gradients_run, run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    record = next(r for r in results["records"] if (r["kind"], r["depth"]) == ("plain", 14))
    record["profiles"]["input_init"][:2] = [None, "inf"]
    results["summary"]["nets"][0]["input_ratio_init_mean"] = "inf"
    (run_dir / "results.json").write_text(json.dumps(results))
    path = build_report(run_dir)
    assert "∞" in path.read_text()
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == [] and images == 2 and not is_blank(screenshot)


@pytest.fixture(scope="module")
def init_only_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("gradients-init") / "run"
    return run_into(run_dir, depths=(8,), steps=0, seeds=1)


def test_report_of_an_init_only_run(init_only_run) -> None:
    html = build_report(init_only_run).read_text()
    assert "after 0 steps" not in html and "one depth" in html and "then trained" not in html
    assert html.count("<img") == 2


def test_report_of_an_init_only_run_renders(init_only_run, browser) -> None:
    errors, screenshot, images, _ = load_and_check(build_report(init_only_run), browser)
    assert errors == [] and images == 2 and not is_blank(screenshot)


def test_ratio_cells_of_extreme_ratios_use_exponents() -> None:
    # A plain net's first/last ratio can be 1e7 or 1e-7: the summary table shows a shared
    # exponent, not 73000000.0 or 0.0000005.
    row = {"kind": "plain", "depth": 110, "blocks": 54, "seeds": 2,
           "input_ratio_init_mean": 7.3e7, "input_ratio_init_std": 2.1e5,
           "weight_ratio_init_mean": 5e-7, "weight_ratio_init_std": 5e-7,
           "input_ratio_init_nonfinite": 0, "weight_ratio_init_nonfinite": 1}  # fmt: skip
    columns, rows = table_cells([row])
    cells = dict(zip(columns, rows[0], strict=True))
    assert format_value(cells["input ratio init"]) == "(7.30 ± 0.02)e+07"
    assert format_value(cells["weight ratio init"]) == "(5 ± 5)e-07"
    assert cells["weight ratio init nonfinite"] == 1
    row["input_ratio_init_mean"] = None  # a ratio never finite: JSON null, an empty cell
    assert table_cells([row])[1][0][columns.index("input ratio init")] is None
