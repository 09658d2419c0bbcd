from __future__ import annotations

import json

from typer.testing import CliRunner

from reslab.cli import app

runner = CliRunner()
TINY = ["run", "gradients", "--data", "synthetic1d", "--depths", "8,14", "--seeds", "1",
        "--steps", "2", "--batches", "1", "--train-max-depth", "8", "--workers", "1",
        "--quiet"]  # fmt: skip


def test_run_gradients_writes_results_and_report(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "gradient highway" in result.output and "after 2 steps plain-8" in result.output
    assert str(out / "report.html") in result.output
    results = json.loads((out / "results.json").read_text())
    config = results["config"]
    assert config["depths"] == [8, 14] and config["steps"] == 2 and config["train_max_depth"] == 8
    statuses = {(r["depth"], r["status"]) for r in results["records"]}
    assert statuses == {(8, "completed"), (14, "init-only")}
    assert (out / "gradients_profiles.png").exists() and (out / "raw.npz").exists()


def test_bad_depth_is_one_clear_line(tmp_path) -> None:
    result = runner.invoke(app, [*TINY[:4], "--depths", "8,15", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "depth=15" in result.output and "6n+2" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()  # checked before the run directory is made


def test_bottleneck_depth_rule(tmp_path) -> None:
    args = [*TINY[:4], "--block", "bottleneck", "--depths", "14", "--out", str(tmp_path / "b")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "9n+2" in result.output


def test_unknown_preset_and_block(tmp_path) -> None:
    result = runner.invoke(app, [*TINY, "--preset", "huge", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "accepted: quick, paper" in result.output
    result = runner.invoke(app, [*TINY, "--block", "wide", "--out", str(tmp_path / "q")])
    assert result.exit_code == 2 and "accepted: basic, bottleneck" in result.output


def test_unwritable_out_dir(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, [*TINY, "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "not writable" in result.output
