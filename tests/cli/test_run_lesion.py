from __future__ import annotations

import json

import pytest
from tests.cli.commands import COMMANDS, one_error_line, runner

from reslab.cli import app

TINY = COMMANDS["lesion"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_options_have_help() -> None:
    result = runner.invoke(app, ["run", "lesion", "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option in ("--depth", "--draws", "--block", "--shortcut", "--recipe", "--epochs",
                   "--steps", "--set", "--seeds", "--device", "--workers", "--preset"):  # fmt: skip
        assert option in text, option
    assert "Random sets of k blocks deleted per k and per seed" in text
    assert "quick: 56; paper: 110" in text  # each preset's value


def test_run_lesion_writes_results_and_report(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ensemble-like: deleting one non-downsampling block of residual-14" in result.output
    assert str(out / "report.html") in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["depth"] == 14 and results["config"]["steps"] == 10
    assert results["config"]["epochs"] is None and results["config"]["draws"] == 2
    assert {r["kind"] for r in results["records"]} == {"residual", "plain"}
    assert results["verdict"]["text"] in result.output
    assert (out / "report.html").exists() and (out / "blocks.csv").exists()
    assert (out / "lesion_single.png").exists() and (out / "raw.npz").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--depth", "15"], "depth=15"), (["--preset", "huge"], "accepted: quick, paper"),
     (["--device", "tpu"], "device='tpu'"), (["--epochs", "2"], "not both"),
     (["--draws", "0"], "draws=0"), (["--shortcut", "none"], "accepted: A, B, C"),
     (["--block", "dense"], "accepted values: basic"), (["--set", "optim.nope=1"], "optim.nope")],
)  # fmt: skip
def test_bad_input_is_one_clear_line_before_any_work(tmp_path, args, message) -> None:
    out = tmp_path / "x"
    assert message in one_error_line(runner.invoke(app, [*TINY, *args, "--out", str(out)]), out)
