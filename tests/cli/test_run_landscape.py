from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.cli.commands import COMMANDS, one_error_line, runner

from reslab.cli import app

TINY = COMMANDS["landscape"]
REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_options_have_help() -> None:
    result = runner.invoke(app, ["run", "landscape", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    options = ("--depth", "--span", "--resolution", "--interp-span", "--interp-points",
               "--samples", "--eval-batch", "--save-every", "--recipe", "--resume")  # fmt: skip
    for option in options:
        assert option in result.output
    assert "filter-normalised" in result.output and "(0: all)" in result.output


def test_run_landscape_writes_results_and_report_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, [*TINY, "--span", "-1,1", "--out", str(out)])
    assert first.exit_code == 0, first.output
    results = json.loads((out / "results.json").read_text())
    assert results["verdict"]["text"] in first.output
    assert str(out / "report.html") in first.output
    assert results["config"]["span"] == [-1.0, 1.0] and results["config"]["steps"] == 8
    assert [n["surface_evaluated"] for n in results["records"]] == [25, 25]
    centers = [n["center_loss"] for n in results["records"]]
    assert all(0 < c < 10 for c in centers)
    for name in ("landscape_contours.png", "report.html", "raw.npz", "net-plain8-seed0.safetensors",
                 "surface-residual8-seed0.npz", "interp-plain8-seed0.npz"):  # fmt: skip
        assert (out / name).exists(), name
    # Killed after the nets and grids were kept, before the records: --resume recomputes no point.
    shutil.rmtree(out / "records")
    again = runner.invoke(app, [*TINY, "--out", str(out), "--resume"])
    assert again.exit_code == 0, again.output
    resumed = json.loads((out / "results.json").read_text())
    assert [n["surface_resumed"] for n in resumed["records"]] == [25, 25]
    assert [n["train"]["reused"] for n in resumed["records"]] == [True, True]
    assert [n["center_loss"] for n in resumed["records"]] == centers


def test_an_existing_out_without_resume_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "net-plain8-seed0.safetensors").write_text("")
    result = runner.invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 2 and "--resume" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depth", "9"], "6n+2"),
        (["--resolution", "6"], "misses 0.0"),
        (["--span", "-1"], "--span='-1': needs 2 comma-separated values"),
        (["--span", "a,1"], "--span='a,1': must be comma-separated values of type float"),
        (["--interp-span", "0.5,1.5"], "misses 0.0"),
        (["--samples", "-1"], "samples=-1 must be >= 0"),
        (["--preset", "huge"], "accepted: quick, paper"),
        (["--epochs", "2"], "not both"),
        (["--set", "optim.lr=fast"], "optim.lr='fast'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "x"
    assert message in one_error_line(runner.invoke(app, [*TINY, *args, "--out", str(out)]), out)


@pytest.mark.slow
def test_torchrun_two_ranks_give_the_single_process_grids(tmp_path: Path) -> None:
    """2 gloo ranks share the grid points; with the same trained nets (checkpoints copied from
    the single-process run) every value must match the single-process grids."""
    single, multi = tmp_path / "single", tmp_path / "multi"
    # With a trajectory: only rank 0 reads the reused path; its PCA reaches the other rank.
    traj = ["--trajectory-points", "4", "--trajectory-resolution", "5"]
    assert runner.invoke(app, [*TINY, *traj, "--out", str(single)]).exit_code == 0
    multi.mkdir()
    # The run's manifest and its nets, not its records or grids: every point is computed again.
    for path in [single / "run.json", *single.glob("net-*.safetensors")]:
        shutil.copy(path, multi / path.name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "reslab", *TINY[:-1], *traj, "--out", str(multi), "--resume"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("results:") == 1  # only rank 0 saves and prints
    results = json.loads((multi / "results.json").read_text())
    assert [n["surface_evaluated"] for n in results["records"]] == [25, 25]
    assert [n["train"]["reused"] for n in results["records"]] == [True, True]
    assert [n["trajectory"]["evaluated"] for n in results["records"]] == [25, 25]
    with np.load(single / "raw.npz") as a, np.load(multi / "raw.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-6, err_msg=key)
