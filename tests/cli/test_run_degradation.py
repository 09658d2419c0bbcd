from __future__ import annotations

import json

from typer.testing import CliRunner

from reslab.cli import app

runner = CliRunner()
TINY = [
    "run",
    "degradation",
    "--data",
    "synthetic1d",
    "--depths",
    "8,14",
    "--seeds",
    "1",
    "--epochs",
    "1",
    "--workers",
    "1",
    "--cost-steps",
    "1",
    "--quiet",
]


def test_run_degradation_writes_results_and_report(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "degradation observed:" in result.output
    assert str(out / "report.html") in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["depths"] == [8, 14] and results["config"]["epochs"] == 1
    assert (out / "degradation.png").exists() and (out / "raw.npz").exists()


def test_bad_depth_is_one_clear_line(tmp_path) -> None:
    result = runner.invoke(app, [*TINY[:4], "--depths", "8,15", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "depth=15" in result.output and "6n+2" in result.output
    assert "Traceback" not in result.output


def test_unwritable_out_dir(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, [*TINY, "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "not writable" in result.output


def test_steps_and_epochs_are_exclusive(tmp_path) -> None:
    result = runner.invoke(app, [*TINY, "--steps", "5", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "not both" in result.output
