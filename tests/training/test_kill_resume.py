"""SIGKILL a real `python -m reslab train` while it checkpoints every step, then resume it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reslab.training import CheckpointError, read_checkpoint

STEPS = 60


def _command(out: Path) -> list[str]:
    return [
        sys.executable, "-m", "reslab", "train", "resnet20", "--data", "synthetic1d",
        "--recipe", "mnist1d", "--steps", str(STEPS), "--out", str(out), "--quiet",
        "--set", "train.checkpoint_every=1", "--set", "data.batch_size=32",
        "--set", "train.log_every=10",
    ]  # fmt: skip


def _env(tmp_path: Path) -> dict[str, str]:
    # One thread: a subprocess that contends with the test runner for 2 cores only gets slower.
    return {**os.environ, "OMP_NUM_THREADS": "1", "RESLAB_CACHE_DIR": str(tmp_path / "cache")}


def _checkpoint_step(path: Path) -> int:
    try:
        return read_checkpoint(path)[1]["step"]
    except CheckpointError:
        return 0  # not written yet


def test_sigkill_mid_run_then_resume_completes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    latest = out / "checkpoints" / "latest.safetensors"
    proc = subprocess.Popen(_command(out), env=_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while _checkpoint_step(latest) < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    # With a checkpoint after every step, the kill lands inside a checkpoint write (or between
    # two) every time: most of each step is spent writing and fsyncing.
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    _, state = read_checkpoint(latest)  # never torn: the last complete checkpoint
    killed_at = state["step"]
    assert 10 <= killed_at < STEPS

    done = subprocess.run([*_command(out), "--resume"], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == STEPS
    assert [h["step"] for h in summary["history"]] == list(range(10, STEPS + 1, 10))
    assert read_checkpoint(latest)[1]["step"] == STEPS
    assert not list(latest.parent.glob(".*.tmp"))  # stale temp files of the killed writer removed
