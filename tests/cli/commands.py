"""The tiny `reslab run` command line of each experiment the CLI tests run, and the check every
refused command line shares."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

runner = CliRunner()

COMMANDS: dict[str, list[str]] = {
    "degradation": ["run", "degradation", "--data", "synthetic1d", "--depths", "8,14", "--seeds",
                    "1", "--epochs", "1", "--workers", "1", "--cost-steps", "1", "--quiet"],
    "depth": ["run", "depth", "--data", "synthetic1d", "--depths", "11,20", "--width", "4",
              "--seeds", "1", "--steps", "4", "--batch-size", "32", "--workers", "1",
              "--no-isolate", "--quiet"],
    "gradients": ["run", "gradients", "--data", "synthetic1d", "--depths", "8,14", "--seeds", "1",
                  "--steps", "2", "--batches", "1", "--train-max-depth", "8", "--workers", "1",
                  "--quiet"],
    "identity": ["run", "identity", "--data", "synthetic1d", "--depth", "8", "--deep-depth", "14",
                 "--seeds", "1", "--steps", "8", "--continue-steps", "4", "--workers", "1",
                 "--device", "cpu", "--quiet"],
    "landscape": ["run", "landscape", "--data", "synthetic1d", "--depth", "8", "--steps", "8",
                  "--samples", "64", "--resolution", "5", "--interp-points", "5", "--workers",
                  "1", "--device", "cpu", "--quiet"],
    "lesion": ["run", "lesion", "--data", "synthetic1d", "--depth", "14", "--seeds", "1",
               "--draws", "2", "--steps", "10", "--workers", "1", "--device", "cpu", "--quiet"],
}  # fmt: skip


def one_error_line(result: Result, out: Path) -> str:
    """The one ``error:`` line of a command line refused with exit code 2, no traceback, before
    the run directory ``out`` was made."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # checked before the run directory is made
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]
