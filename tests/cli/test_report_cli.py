from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reslab.cli import app
from reslab.reporting import Report, registry

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(registry, "_REPORTS", {})
    registry.register_report("clitoy")(lambda d: Report("cli toy").add_verdict("fine", True))
    run = tmp_path / "runs" / "clitoy-1"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"experiment": "clitoy", "verdict": "fine"}))
    return run


def test_report_rebuilds_a_run(run_dir: Path):
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    written = run_dir / "report.html"
    assert result.stdout.strip() == str(written)
    assert "<title>cli toy</title>" in written.read_text(encoding="utf-8")


def test_report_index(run_dir: Path):
    runs = run_dir.parent
    (runs / "crashed").mkdir()
    result = runner.invoke(app, ["report", "--index", str(runs)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(runs / "index.html")
    html = (runs / "index.html").read_text(encoding="utf-8")
    assert "clitoy-1" in html and "crashed" in html


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
