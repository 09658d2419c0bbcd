"""`reslab run`: the commands generated from the experiment registry."""

from __future__ import annotations

import dataclasses
import json

import pytest
from tests.cli.commands import COMMANDS, one_error_line, runner

from reslab.cli import app
from reslab.experiments import list_experiments

TINY = COMMANDS["degradation"]


def test_list_shows_every_experiment_with_claim_paper_and_time() -> None:
    result = runner.invoke(app, ["run", "--list"])
    assert result.exit_code == 0, result.output
    for spec in list_experiments():
        line = next(line for line in result.output.splitlines() if line.startswith(spec.name))
        assert spec.claim in line and spec.paper in line and spec.quick_time in line


@pytest.mark.parametrize("spec", list_experiments(), ids=lambda s: s.name)
def test_every_config_field_is_an_option_with_help(spec) -> None:
    result = runner.invoke(app, ["run", spec.name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for f in dataclasses.fields(spec.config_type):
        if not f.metadata.get("cli", True):
            continue
        flag = "--set" if f.name == "overrides" else "--" + f.name.replace("_", "-")
        assert flag in result.output, f"{spec.name}: {flag} missing"
    for fixed in ("--preset", "--out", "--resume", "--quiet"):
        assert fixed in result.output


def test_bad_values_are_one_error_line_and_no_directory(tmp_path) -> None:
    out = tmp_path / "run"
    cases = [
        (["--depths", "8,x"], "--depths='8,x': must be comma-separated values of type int"),
        (["--depths", "8,15"], "6n+2"),
        (["--preset", "huge"], "preset='huge' is unknown; accepted: quick, paper"),
        (["--executor", "slurm"], "accepted: local, ray"),
        (["--steps", "5"], "not both"),
        (["--data", "nosuch"], "nosuch"),
        (["--device", "tpu"], "device='tpu' is unknown; accepted: auto, cpu, cuda, cuda:N"),
        (["--set", "optim.lr=abc"], "optim.lr"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*TINY, *args, "--out", str(out)])
        assert message in one_error_line(result, out) and result.output.startswith("error: "), args


def test_run_then_refuse_then_resume(tmp_path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, [*TINY, "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "degradation observed:" in first.output and (out / "report.html").exists()
    numbers = json.loads((out / "results.json").read_text())["summary"]

    again = runner.invoke(app, [*TINY, "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output

    other = runner.invoke(app, [*TINY, "--seeds", "2", "--out", str(out),
                                "--resume"])  # fmt: skip
    assert other.exit_code == 2 and "seeds 1 (saved) != 2 (now)" in other.output

    resumed = runner.invoke(app, [*TINY, "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert f"restored 6 of 6 runs from {out}" in resumed.output  # 4 trainings, 2 cost tasks
    assert json.loads((out / "results.json").read_text())["summary"] == numbers


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unwritable_out_dir_is_refused(tmp_path, name: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, [*COMMANDS[name], "--out", str(blocker / "sub")])
    assert result.exit_code == 2 and "not writable" in result.output


def test_resume_needs_out() -> None:
    result = runner.invoke(app, ["run", "degradation", "--resume"])
    assert result.exit_code == 2 and "--resume needs --out" in result.output
