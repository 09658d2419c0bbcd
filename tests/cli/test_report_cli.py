from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reslab.cli import app

runner = CliRunner()


@pytest.fixture
def run_dir(tiny_run, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "degradation-1"
    shutil.copytree(tiny_run("degradation"), run)
    (run / "report.html").unlink(missing_ok=True)
    return run


def test_report_rebuilds_a_run(run_dir: Path):
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    written = run_dir / "report.html"
    assert result.stdout.strip() == str(written)
    assert "<title>The degradation problem</title>" in written.read_text(encoding="utf-8")


def test_report_index(run_dir: Path):
    runs = run_dir.parent
    (runs / "crashed").mkdir()
    result = runner.invoke(app, ["report", "--index", str(runs)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(runs / "index.html")
    html = (runs / "index.html").read_text(encoding="utf-8")
    assert "degradation-1" in html and "crashed" in html
    assert any(f"{m} {o}" in html for m, o in (("✓", "reproduced"), ("✗", "contradicted"),
                                                ("?", "inconclusive")))  # the outcome, a mark


def test_report_errors_are_clear(tmp_path: Path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "error:" in result.stderr and "results.json' is missing" in result.stderr
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("args", [["report"], ["report", "a", "--index", "b"]])
def test_report_needs_exactly_one_target(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "exactly one of" in result.output
