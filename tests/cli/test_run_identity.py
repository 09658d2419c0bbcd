from __future__ import annotations

import json

import pytest
from tests.cli.commands import COMMANDS, one_error_line, runner

from reslab.cli import app

TINY = COMMANDS["identity"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_options_have_help() -> None:
    result = runner.invoke(app, ["run", "identity", "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option in ("--depth", "--deep-depth", "--continue-steps", "--continue-lr", "--epochs",
                   "--steps", "--set", "--seeds", "--device", "--workers", "--preset"):  # fmt: skip
        assert option in text, option
    assert "Constant learning rate of the continued runs" in text
    assert "quick: 32; paper: 56" in text  # each preset's deep_depth


def test_run_identity_writes_results_and_report(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "do no harm: yes" in result.output
    assert str(out / "report.html") in result.output
    results = json.loads((out / "results.json").read_text())
    config = results["config"]
    assert (config["depth"], config["deep_depth"], config["continue_steps"]) == (8, 14, 4)
    assert config["steps"] == 8 and config["epochs"] is None  # --steps replaced the epochs
    assert [r["seed"] for r in results["records"]] == [0]  # one record per seed
    by = {v["variant"]: v for v in results["records"][0]["variants"]}
    assert by["residual"]["max_abs_diff"] == 0.0
    assert by["residual"]["train_loss0"] == pytest.approx(by["shallow"]["train_loss0"], abs=1e-6)
    assert (out / "report.html").exists() and (out / "identity.png").exists()
    assert (out / "records.csv").exists() and (out / "variants.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--deep-depth", "8"], "deep_depth=8 must be deeper"), (["--depth", "9"], "depth=9"),
     (["--preset", "huge"], "accepted: quick, paper"), (["--epochs", "2"], "not both"),
     (["--set", "optim.nope=1"], "optim.nope"), (["--continue-steps", "0"], "continue_steps=0"),
     (["--device", "tpu"], "device='tpu'"), (["--shortcut", "none"], "accepted: A, B, C")],
)  # fmt: skip
def test_bad_input_is_one_clear_line_before_any_work(tmp_path, args, message) -> None:
    out = tmp_path / "x"
    assert message in one_error_line(runner.invoke(app, [*TINY, *args, "--out", str(out)]), out)
