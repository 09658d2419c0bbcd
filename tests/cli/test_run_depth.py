from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from reslab.cli import app

runner = CliRunner()
TINY = ["run", "depth", "--data", "synthetic1d", "--depths", "11,20", "--width", "4",
        "--seeds", "1", "--steps", "4", "--batch-size", "32", "--workers", "1", "--in-process",
        "--quiet"]  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny nets gain nothing from a second thread; on a busy machine OpenMP spin-waits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_run_depth_writes_results_and_report(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--checkpoint-from", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pre-activation 20:" in result.output and "post-activation 20:" in result.output
    assert str(out / "report.html") in result.output
    results = json.loads((out / "results.json").read_text())
    config = results["config"]
    assert config["depths"] == [11, 20] and config["steps"] == 4 and config["width"] == 4
    assert config["isolate"] is False and config["checkpoint_from"] == 20
    runs = {(r["kind"], r["depth"]): r for r in results["runs"]}
    assert (
        len(runs) == 4
        and runs["preact", 20]["checkpointed"]
        and not runs["preact", 11]["checkpointed"]
    )
    assert all(r["peak_mem_mb"] > 0 and 0 <= r["final_train_err"] <= 100 for r in runs.values())
    assert (out / "depth.png").exists() and (out / "depth_curves.png").exists()


def test_no_checkpoint_flag(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--depths", "11", "--no-checkpoint", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["config"]["checkpoint_from"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depths", "11,21"], "depth=21"),
        (["--block", "wide"], "block='wide' is unknown"),
        (["--preset", "huge"], "preset='huge' is unknown"),
        (["--epochs", "2"], "not both"),
        (["--checkpoint-from", "5", "--no-checkpoint"], "not both"),
        (["--set", "optim.lr=fast"], "optim.lr"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args: list[str], message: str) -> None:
    out = tmp_path / "x"
    result = runner.invoke(app, [*TINY, *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (out / "results.json").exists()


def test_unwritable_out_dir(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, [*TINY, "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "not writable" in result.output
