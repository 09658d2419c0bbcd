from __future__ import annotations

import json

import pytest
from tests.cli.commands import COMMANDS, one_error_line, runner

from reslab.cli import app

TINY = COMMANDS["gradients"]


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
    assert (out / "report.html").exists()
    assert (out / "gradients_profiles.png").exists() and (out / "raw.npz").exists()


def test_options_have_help() -> None:
    result = runner.invoke(app, ["run", "gradients", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--train-max-depth", "none: every depth", "--steps", "0: measure at",
                 "--batches", "--block", "bottleneck (9n+2)", "--recipe"):  # fmt: skip
        assert text in result.output, text
    assert "--epochs" not in result.output  # a fixed number of steps, no epochs


def test_train_max_depth_none_trains_every_depth(tmp_path) -> None:
    out = tmp_path / "run"
    args = [*TINY[:4], "--depths", "8", "--seeds", "1", "--steps", "1", "--batches", "1",
            "--train-max-depth", "none", "--workers", "1", "--quiet"]  # fmt: skip
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["train_max_depth"] is None
    assert {r["status"] for r in results["records"]} == {"completed"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--depths", "8,15"], ["depth=15", "6n+2"]),
        (["--block", "bottleneck", "--depths", "14"], ["9n+2"]),
        (["--block", "wide"], ["block='wide'", "accepted: basic, bottleneck"]),
        (["--preset", "huge"], ["preset='huge'", "accepted: quick, paper"]),
        (["--train-max-depth", "many"], ["--train-max-depth='many'", "int or none"]),
        (["--batches", "99"], ["batches=99", "accepted: batches <="]),
        (["--steps", "-1"], ["steps=-1", ">= 0"]),
    ],
)
def test_bad_value_is_one_clear_line(tmp_path, args, words) -> None:
    out = tmp_path / "x"
    line = one_error_line(runner.invoke(app, [*TINY, *args, "--out", str(out)]), out)
    for word in words:
        assert word in line, line


def test_epochs_is_not_an_option(tmp_path) -> None:
    result = runner.invoke(app, [*TINY, "--epochs", "2", "--out", str(tmp_path / "e")])
    assert result.exit_code == 2 and "--epochs" in result.output
    assert not (tmp_path / "e").exists()
