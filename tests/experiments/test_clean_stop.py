"""A clean stop of a sweep: SIGTERM / Ctrl-C end the workers, keep the records, say how to resume.

The end-to-end tests send a real signal to a real ``python -m reslab run`` in its own session
and look in /proc for anything of that session left alive; a zombie (state Z) has exited and
counts as gone (a container's init may not reap the orphans it adopts).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.training.helpers import torchrun
from typer.testing import CliRunner

from reslab.experiments.stopping import Interrupted, SignalStop, Stopped

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
# The end-to-end tests read the processes of a session from /proc.
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def env() -> dict[str, str]:
    path = [str(SRC), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}


def session_members(sid: int) -> list[int]:
    """The live processes of session ``sid`` (zombies have exited: not counted)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            members.append(int(entry.name))
    return members


def wait_until_gone(sid: int, patience: float = 60) -> list[int]:
    """Wait for session ``sid`` to empty (the resource tracker exits once its pipe closes);
    return what is left after ``patience`` seconds, which an orphaned worker outlives."""
    deadline = time.monotonic() + patience
    while (left := session_members(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def wait_for_records(proc: subprocess.Popen[Any], records: Path, log: Path, n: int = 1) -> None:
    deadline = time.monotonic() + 300
    while len(list(records.glob("*.json"))) < n:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no record in time"
        time.sleep(0.05)


# --- the signal handler ---------------------------------------------------------------------


@pytest.fixture
def signals_handled() -> Iterator[None]:
    """SIGINT and SIGTERM at Python's defaults for the test: a suite started as a background
    job of a non-interactive shell inherits SIGINT ignored, which SignalStop rightly keeps."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.usefixtures("signals_handled")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stop_raises_stopped_and_restores_the_handlers(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Stopped) as caught, SignalStop():
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises at the next bytecode: this never completes
    assert caught.value.signum == signum and isinstance(caught.value, KeyboardInterrupt)
    assert {s: signal.getsignal(s) for s in before} == before


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with SignalStop():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("signals_handled")
def test_a_signal_during_a_shielded_block_waits_for_its_end() -> None:
    done = []
    with pytest.raises(Stopped) as caught, SignalStop() as stop:
        with stop.shield():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # a second signal while stopping: ignored
            time.sleep(0.05)
            done.append("record written")
        done.append("after the block")  # not reached: the signal is raised on leaving
    assert done == ["record written"] and caught.value.signum == signal.SIGTERM


def test_interrupted_exit_codes_follow_the_shell() -> None:
    assert Interrupted(None, 1, 4, signal.SIGTERM).exit_code == 143
    assert Interrupted(Path("x"), 1, 4, signal.SIGINT).exit_code == 130
    assert "3 of 8 runs kept in x" in str(Interrupted(Path("x"), 3, 8, signal.SIGINT))


# --- the CLI's resume line ------------------------------------------------------------------


def test_the_resume_line_repeats_every_option_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line names every option given, so that the resumed config matches the saved one
    (a resume with another config is refused): parsed back, it asks for the same run."""
    import reslab.api
    from reslab.cli import app

    calls: list[dict[str, Any]] = []

    def interrupted(name: str, preset: str, out: Path, **kwargs: Any) -> None:
        kwargs.pop("log")
        calls.append({"name": name, "preset": preset, "out": out, **kwargs})
        raise Interrupted(out, 3, 8, signal.SIGTERM)

    monkeypatch.setattr(reslab.api, "run_experiment", interrupted)
    out = tmp_path / "a dir"  # a space: the line must quote it
    given = ["--preset", "paper", "--data", "synthetic1d", "--depths", "8,14", "--seeds", "2",
             "--set", "optim.lr=0.05", "--set", "train.log_every=3", "--warmup", "0.2",
             "--workers", "2"]  # fmt: skip
    result = CliRunner().invoke(app, ["run", "degradation", *given, "--out", str(out), "-q"])
    assert result.exit_code == 143, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: 3 of 8 runs finished and kept in {out}; resume with: ")
    words = shlex.split(line.split("resume with: ", 1)[1])
    assert words[:3] == ["reslab", "run", "degradation"] and words[-1] == "--resume"

    result = CliRunner().invoke(app, words[1:])
    assert result.exit_code == 143, result.output
    first, again = calls
    assert again == {**first, "resume": True}


def test_run_all_says_how_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reslab.api
    from reslab.cli import app

    def interrupted(out: Path, **kwargs: Any) -> None:
        raise Interrupted(out / "lesion", 2, 6, signal.SIGINT)

    monkeypatch.setattr(reslab.api, "run_all", interrupted)
    result = CliRunner().invoke(app, ["run", "--all", "--out", str(tmp_path)])
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"interrupted: 2 of 6 runs finished and kept in {tmp_path / 'lesion'}; "
        f"resume with: reslab run --all --out {tmp_path} --resume"
    )


# --- a real signal to a real pool -----------------------------------------------------------

POOL_SCRIPT = """
import json, os, signal, sys, time
from pathlib import Path
from reslab.experiments.executors import LocalExecutor, RayExecutor

def task(i):
    time.sleep(0.2 if i == 0 else 600)  # the rest would outlive any test
    return {{"i": i, "pid": os.getpid()}}

if __name__ == "__main__":
    out = Path(sys.argv[1])
    def on_result(key, value):
        (out / f"{{key}}.json").write_text(json.dumps(value))
    try:
        {executor}.run(task, {{f"t{{i}}": i for i in range(5)}}, on_result)
    except KeyboardInterrupt as stop:
        print(f"stopped by {{stop.signum}}", flush=True)
        sys.exit(128 + stop.signum)
"""


def start_pool(tmp_path: Path, executor: str) -> tuple[subprocess.Popen[Any], Path, Path]:
    """Run ``executor`` on 5 tasks in a new session; return it once the first result is kept
    (the others sleep)."""
    script, records, log = tmp_path / "pool.py", tmp_path / "records", tmp_path / "log"
    script.write_text(textwrap.dedent(POOL_SCRIPT.format(executor=executor)))
    records.mkdir()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(records)], env=env(), start_new_session=True,
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_records(proc, records, log)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc, records, log


def stop_pool(proc: subprocess.Popen[Any], signum: int, log: Path, workers: int) -> None:
    """Send ``signum`` to the driver alone (as ``kill PID`` does) once ``workers`` processes
    besides it are up; it must exit with 128 + signum and leave nothing of its session."""
    try:
        while len(session_members(proc.pid)) < 1 + workers:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        os.kill(proc.pid, signum)
        assert proc.wait(timeout=120) == 128 + signum, log.read_text()
        assert wait_until_gone(proc.pid) == []
    finally:
        if session_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert log.read_text().strip().splitlines()[-1] == f"stopped by {signum}"


@needs_proc
@pytest.mark.parametrize("fresh", [False, True], ids=["pool", "fresh-process"])
def test_sigterm_ends_the_pool_workers(tmp_path: Path, fresh: bool) -> None:
    proc, records, log = start_pool(tmp_path, f"LocalExecutor(workers=2, fresh_process={fresh})")
    stop_pool(proc, signal.SIGTERM, log, workers=3)  # and the resource tracker
    assert json.loads((records / "t0.json").read_text())["i"] == 0


@needs_proc
@pytest.mark.slow  # ~20 s: a local Ray starts
def test_sigint_cancels_the_ray_tasks_and_stops_the_local_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    proc, records, log = start_pool(tmp_path, "RayExecutor()")
    stop_pool(proc, signal.SIGINT, log, workers=4)  # Ray's daemons, 2 task workers at least
    assert [p.name for p in records.iterdir()] == ["t0.json"]


@needs_proc
def test_workers_die_with_a_killed_driver(tmp_path: Path) -> None:
    """SIGKILL leaves no handler to run: the workers end through PR_SET_PDEATHSIG."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    proc, _, _ = start_pool(tmp_path, "LocalExecutor(workers=2)")
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_until_gone(proc.pid) == []
    finally:
        if session_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


# --- a real signal to `reslab run` ----------------------------------------------------------

# 4 runs of ~20 epochs on 2 workers: the signal comes once one record is kept, while the
# other worker trains.
SWEEP = ["run", "degradation", "--data", "synthetic1d", "--depths", "8,14", "--seeds", "1",
         "--epochs", "20", "--workers", "2", "--cost-steps", "0", "--device", "cpu",
         "--quiet"]  # fmt: skip


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_reslab_run_and_resume_completes(tmp_path: Path, signum: int) -> None:
    out, log = tmp_path / "run", tmp_path / "log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reslab", *SWEEP, "--out", str(out)], env=env(),
            start_new_session=True, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_records(proc, out / "records", log)
        assert len(session_members(proc.pid)) >= 3, "the workers should be up"
        os.kill(proc.pid, signum)  # the driver alone
        assert proc.wait(timeout=120) == 128 + signum, log.read_text()[-3000:]
        assert wait_until_gone(proc.pid) == []
    finally:
        if session_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    line = log.read_text().strip().splitlines()[-1]
    kept = {p.name: p.read_bytes() for p in (out / "records").iterdir()}
    assert 1 <= len(kept) < 4 and all(name.endswith(".json") for name in kept)  # no temp file
    assert all(json.loads(data)["kind"] in ("plain", "residual") for data in kept.values())
    assert line.startswith(f"interrupted: {len(kept)} of 4 runs finished and kept in {out}; ")
    assert not (out / "results.json").exists()

    words = shlex.split(line.split("resume with: ", 1)[1])
    assert words[:2] == ["reslab", "run"] and words[-2:] == [str(out), "--resume"]
    resumed = subprocess.run(
        [sys.executable, "-m", "reslab", *words[1:]], env=env(), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"restored {len(kept)} of 4 runs from {out}" in resumed.stderr
    after = {p.name: p.read_bytes() for p in (out / "records").iterdir()}
    assert len(after) == 4 and all(after[name] == data for name, data in kept.items())
    assert len(json.loads((out / "results.json").read_text())["records"]) == 4


def test_a_refused_out_is_one_line_on_every_torchrun_rank(tmp_path: Path) -> None:
    """Rank 0 alone checks the directory; the refusal reaches rank 1, which would otherwise
    go on alone and wait for rank 0 until torchrun killed it."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's")
    done = torchrun(SRC / "reslab" / "__main__.py", *SWEEP, "--out", str(out), check=False)
    refusal = f"error: out={str(out)!r} is not empty; give --resume"
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    assert done.returncode != 0
    assert sum(line.startswith(refusal) for line in lines) == 2, done.stderr[-3000:]
    # torchrun's own report of a failed rank is a traceback through torch, never reslab's.
    assert "reslab/" not in "".join(line for line in lines if line.startswith('  File "'))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
