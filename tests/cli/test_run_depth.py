from __future__ import annotations

import json

import pytest
from tests.cli.commands import COMMANDS, one_error_line, runner

from reslab.cli import app

TINY = COMMANDS["depth"]


pytestmark = pytest.mark.usefixtures("one_thread")


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
    runs = {(r["kind"], r["depth"]): r for r in results["records"]}
    assert (
        len(runs) == 4
        and runs["preact", 20]["checkpointed"]
        and not runs["preact", 11]["checkpointed"]
    )
    assert all(r["peak_mem_mb"] > 0 and 0 <= r["final_train_err"] <= 100 for r in runs.values())
    assert "shared process" in results["summary"]["memory"]  # --no-isolate
    assert (out / "report.html").exists()
    assert (out / "depth.png").exists() and (out / "depth_curves.png").exists()


def test_checkpoint_from_none_turns_checkpointing_off(tmp_path) -> None:
    out = tmp_path / "run"
    args = [*TINY, "--depths", "11", "--checkpoint-from", "none", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["checkpoint_from"] is None
    assert not any(r["checkpointed"] for r in results["records"])


def test_options_have_help() -> None:
    result = runner.invoke(app, ["run", "depth", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--checkpoint-from", "none: no checkpointing at any depth", "--isolate",
                 "--no-isolate", "reuses worker processes", "--deepest-seeds",
                 "none: --seeds", "--width", "--block", "9n+2"):  # fmt: skip
        assert text in result.output, text
    for gone in ("--no-checkpoint ", "--in-process"):  # the generated options replace them
        assert gone not in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--depths", "11,21"], ["depth=21", "9n+2"]),
        (["--depths", "11,x"], ["--depths='11,x'", "comma-separated"]),
        (["--block", "wide"], ["block='wide' is unknown", "accepted: bottleneck, basic"]),
        (["--preset", "huge"], ["preset='huge' is unknown", "accepted: quick, paper"]),
        (["--epochs", "2"], ["not both"]),
        (["--checkpoint-from", "many"], ["--checkpoint-from='many'", "int or none"]),
        (["--checkpoint-from", "-1"], ["checkpoint_from=-1", "none"]),
        (["--deepest-seeds", "0"], ["deepest_seeds=0"]),
        (["--width", "0"], ["width=0"]),
        (["--set", "optim.lr=fast"], ["optim.lr"]),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args: list[str], words: list[str]) -> None:
    out = tmp_path / "x"
    line = one_error_line(runner.invoke(app, [*TINY, *args, "--out", str(out)]), out)
    for word in words:
        assert word in line, line


def test_old_flags_are_gone(tmp_path) -> None:
    for flag in ("--no-checkpoint", "--in-process"):
        result = runner.invoke(app, [*TINY, flag, "--out", str(tmp_path / "x")])
        assert result.exit_code == 2 and flag in result.output
