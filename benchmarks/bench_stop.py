"""How long `reslab run` takes to stop after SIGTERM or Ctrl-C, and what of it is left.

Starts a tiny degradation sweep on 2 local workers in a session of its own, waits until its
first record is kept (the other worker is training), sends the signal to the driver alone (as
`kill PID` or a scheduler does), and reports per signal and repetition: seconds from the signal
to the driver's exit, its exit code, seconds until no process of its session is left (zombies
count as gone), the records kept, and the driver's last line.

    .venv/bin/python benchmarks/bench_stop.py               # SIGTERM and SIGINT, 2 each
    .venv/bin/python benchmarks/bench_stop.py --repeats 1
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ["run", "degradation", "--data", "synthetic1d", "--depths", "8,14", "--seeds", "2",
         "--epochs", "20", "--workers", "2", "--cost-steps", "0", "--device", "cpu",
         "--quiet"]  # fmt: skip


def session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def one(signum: int, folder: Path) -> dict[str, object]:
    out, log = folder / "run", folder / "log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "reslab", *SWEEP, "--out", str(out)],
                                env=env, start_new_session=True, stdout=sink,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        while not list((out / "records").glob("*.json")):
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()[-2000:])
            time.sleep(0.02)
        before = len(session_members(proc.pid))
        sent = time.perf_counter()
        os.kill(proc.pid, signum)
        code = proc.wait(timeout=300)
        exited = time.perf_counter() - sent
        while session_members(proc.pid) and time.perf_counter() - sent < 120:
            time.sleep(0.02)
        gone = time.perf_counter() - sent
        left = session_members(proc.pid)
    finally:
        if session_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {
        "signal": signal.Signals(signum).name, "processes_before": before, "exit_code": code,
        "exit_s": round(exited, 2), "session_empty_s": round(gone, 2), "left": left,
        "records_kept": len(list((out / "records").glob("*.json"))),
        "last_line": (log.read_text().strip().splitlines() or [""])[-1][:90],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for signum in (signal.SIGTERM, signal.SIGINT):
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                print(one(signum, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
