from __future__ import annotations

import json

from tests.cli.commands import COMMANDS, runner

from reslab.cli import app

TINY = COMMANDS["degradation"]


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


def test_steps_and_epochs_are_exclusive(tmp_path) -> None:
    result = runner.invoke(app, [*TINY, "--steps", "5", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "not both" in result.output
