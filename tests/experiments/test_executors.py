"""Executors (local pool with GPU slots, Ray) and the driver's crash-safe run directory.

Everything runs on the CPU: the GPU-slot tests only read ``CUDA_VISIBLE_DEVICES`` and never
start CUDA, and the Ray tests declare one logical GPU that no task touches. The task functions
are top-level so that spawned workers can import this module (Ray workers get them by value).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reslab.experiments.executors import (
    LocalExecutor,
    RayExecutor,
    gpu_share,
    make_executor,
)
from reslab.experiments.spec import ExperimentConfig

SRC = Path(__file__).resolve().parents[2] / "src"


# --- task functions (top level: pickled by reference into spawned workers) -------------------


def square(x: int) -> int:
    return x * x


def square_or_fail(task: tuple[str, int]) -> int:
    folder, x = Path(task[0]), task[1]
    (folder / str(x)).touch()  # this task ran
    if x < 0:
        raise ValueError(f"bad task {x}")
    time.sleep(0.5)
    return x * x


def where_am_i(x: int) -> tuple[int, int]:
    return x, os.getpid()


def pinned_probe(task: tuple[str, int]) -> tuple[str | None, int]:
    """Register this process, then wait until ``n`` processes have: the first ``n`` tasks
    therefore run in ``n`` different processes, whatever the start-up order."""
    folder, n = Path(task[0]), task[1]
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(folder.iterdir())) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie has exited: its GPU memory is gone
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def slot_holders(task: tuple[str, float]) -> tuple[str | None, int, int]:
    """(GPU id, pid, live processes pinned to that GPU when this task started, itself included)."""
    folder, pause = Path(task[0]), task[1]
    gpu, me = os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid()
    (folder / f"{gpu}-{me}").touch()
    live = sum(_alive(int(p.name.split("-")[1])) for p in folder.glob(f"{gpu}-*"))
    time.sleep(pause)
    return gpu, me, live


def die_once(task: tuple[str, str]) -> str:
    """Kill this worker process the first time ``key`` runs; return it on the retry."""
    folder, key = Path(task[0]), task[1]
    marker = folder / f"{key}.started"
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return key.upper()


def gpu_env(x: int) -> tuple[int, str | None, int]:
    return x, os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid()


def collect(executor: Any, fn: Any, tasks: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Results by key, and every key in the order on_result saw it (to catch repeats)."""
    results: dict[str, Any] = {}
    seen: list[str] = []
    driver = os.getpid()

    def on_result(key: str, value: Any) -> None:
        assert os.getpid() == driver  # reported in the driver, where records are written
        seen.append(key)
        results[key] = value

    executor.run(fn, tasks, on_result)
    return results, seen


# --- local executor ---------------------------------------------------------------------------


def test_in_process_reports_every_key_once() -> None:
    tasks = {f"t{i}": i for i in range(5)}
    results, seen = collect(LocalExecutor(workers=1), where_am_i, tasks)
    assert sorted(seen) == sorted(tasks)
    assert {k: v[0] for k, v in results.items()} == tasks
    assert {pid for _, pid in results.values()} == {os.getpid()}


def test_pool_reports_every_key_once_from_worker_processes() -> None:
    tasks = {f"t{i}": i for i in range(6)}
    results, seen = collect(LocalExecutor(workers=2), where_am_i, tasks)
    assert sorted(seen) == sorted(tasks)
    assert {k: v[0] for k, v in results.items()} == tasks
    pids = {pid for _, pid in results.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_pool_stops_at_the_first_error_and_keeps_what_finished(tmp_path: Path) -> None:
    # The failing task comes first: the tasks not started yet are cancelled (they would all
    # run before the error came out otherwise), those already running are still reported.
    tasks = {"bad": (str(tmp_path), -1), **{f"t{i}": (str(tmp_path), i) for i in range(9)}}
    results: dict[str, int] = {}
    with pytest.raises(ValueError, match="bad task -1"):
        LocalExecutor(workers=2).run(square_or_fail, tasks, results.__setitem__)
    ran = {int(p.name) for p in tmp_path.iterdir()}
    assert len(ran) < 10
    assert {tasks[k][1] for k in results} == ran - {-1}
    assert all(value == tasks[k][1] ** 2 for k, value in results.items())


def test_gpu_slots_pin_each_process_to_one_gpu(tmp_path: Path) -> None:
    # 2 GPUs x 2 runs each: 4 processes, each pinned for its life, 2 per GPU.
    tasks = {f"t{i}": (str(tmp_path), 4) for i in range(8)}
    results, seen = collect(LocalExecutor(0, gpus=(0, 1), runs_per_gpu=2), pinned_probe, tasks)
    assert sorted(seen) == sorted(tasks)
    gpu_of: dict[int, set[str | None]] = {}
    for gpu, pid in results.values():
        gpu_of.setdefault(pid, set()).add(gpu)
    assert len(gpu_of) == 4
    assert all(len(gpus) == 1 for gpus in gpu_of.values())  # one GPU for the process's life
    per_gpu = [next(iter(gpus)) for gpus in gpu_of.values()]
    assert sorted(per_gpu) == ["0", "0", "1", "1"]


def test_fewer_tasks_than_slots_spread_over_the_inherited_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 tasks on 2 GPUs x 2 slots: one per GPU, not both on the first. This process sees
    # physical GPUs 5 and 7 as torch's 0 and 1, so a child must be pinned to 5 or 7.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    tasks = {f"t{i}": (str(tmp_path), 2) for i in range(2)}
    results, _ = collect(LocalExecutor(0, gpus=(0, 1), runs_per_gpu=2), pinned_probe, tasks)
    assert sorted(gpu for gpu, _ in results.values()) == ["5", "7"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="fresh_process needs Python 3.11")
def test_fresh_processes_reuse_slots_never_over_packing(tmp_path: Path) -> None:
    tasks = {f"t{i}": (str(tmp_path), 0.5) for i in range(4)}
    executor = LocalExecutor(0, gpus=(0,), runs_per_gpu=2, fresh_process=True)
    results, seen = collect(executor, slot_holders, tasks)
    assert sorted(seen) == sorted(tasks)
    assert len({pid for _, pid, _ in results.values()}) == 4  # a new process per task
    assert {gpu for gpu, _, _ in results.values()} == {"0"}  # the slot went on to the next
    assert max(live for _, _, live in results.values()) <= 2  # never 3 live on one GPU


# --- make_executor ----------------------------------------------------------------------------


def config(**changes: Any) -> ExperimentConfig:
    return dataclasses.replace(ExperimentConfig(), **changes)


def test_make_executor_defaults_to_two_local_processes_on_a_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("auto", "cpu"):
        executor = make_executor(config(device=device))
        assert executor == LocalExecutor(min(2, os.cpu_count() or 1))
    assert make_executor(config(device="cpu", workers=3)) == LocalExecutor(3)
    assert make_executor(config(device="cpu"), fresh_process=True).fresh_process


def test_make_executor_gives_gpu_slots_when_gpus_are_visible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    executor = make_executor(config(device="cuda", runs_per_gpu=3))
    assert isinstance(executor, LocalExecutor)
    assert executor.gpus == (0, 1) and executor.runs_per_gpu == 3
    assert executor.slots() == [0, 1, 0, 1, 0, 1]
    assert make_executor(config(device="cuda:1")).gpus == ()  # the user picked that one GPU


def test_make_executor_ray() -> None:
    pytest.importorskip("ray")
    executor = make_executor(config(executor="ray", ray_address="auto", runs_per_gpu=4))
    assert executor == RayExecutor("auto", runs_per_gpu=4, use_gpus=None)
    assert make_executor(config(executor="ray", device="cpu")).use_gpus is False
    assert make_executor(config(executor="ray", device="cuda")).use_gpus is True
    with pytest.raises(ValueError, match="device=cuda or auto"):
        make_executor(config(executor="ray", device="cuda:1"))


def test_make_executor_ray_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ValueError, match=r"reslab\[ray\]"):
        make_executor(config(executor="ray"))


def test_gpu_share_packs_exactly_k_runs_under_rays_rounding() -> None:
    for k in range(1, 17):
        units = int(gpu_share(k) * 10_000 + 0.5)  # Ray's fixed point: the nearest 1e-4
        assert units * k <= 10_000  # k of them fit on one GPU
        assert gpu_share(k) > 1 / k - 1e-4  # and not fewer than k would be asked for


# --- the driver: tiny degradation runs --------------------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Result.save`` looks the experiment up in the registry, which imports every experiment
    module; while some are not ported yet that import fails, so look up what is registered."""
    from reslab.experiments import registry as reg

    try:
        reg._discover()
    except ImportError:
        monkeypatch.setattr(reg, "_discover", lambda: None)


def tiny(**changes: Any) -> Any:
    from reslab.experiments.degradation import PRESETS
    from reslab.experiments.spec import configure

    # No cost tasks: their step times differ from run to run, and these tests compare the
    # records of two runs.
    base = {"data": "synthetic1d", "depths": (8, 14), "epochs": 1, "seeds": 2, "device": "cpu",
            "cost_steps": 0}  # fmt: skip
    return configure(PRESETS["quick"], {**base, "log_every": 2, **changes})


def numbers(record: Any) -> dict[str, Any]:
    """Every field of a record but its wall time, as JSON."""
    from reslab.experiments.jsonable import to_jsonable

    row = to_jsonable(record) if not isinstance(record, dict) else dict(record)
    row.pop("wall_s")
    return row


def saved_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        p.stem: numbers(json.loads(p.read_text())) for p in (run_dir / "records").glob("*.json")
    }


def test_store_save_is_idempotent(tmp_path: Path) -> None:
    from reslab.experiments.degradation import EXPERIMENT
    from reslab.experiments.store import RunStore

    store = RunStore(tmp_path, EXPERIMENT)
    store.open(tiny())
    record = {"kind": "plain", "depth": 8, "seed": 0, "wall_s": 1.0}
    store.save("plain8-seed0", record)
    store.save("plain8-seed0", record)  # a repeated report rewrites the same file
    assert [p.name for p in (tmp_path / "records").iterdir()] == ["plain8-seed0.json"]
    assert json.loads((tmp_path / "records" / "plain8-seed0.json").read_text()) == record


def test_resume_refusals(tmp_path: Path) -> None:
    from reslab.experiments.degradation import EXPERIMENT
    from reslab.experiments.store import RunStore

    RunStore(tmp_path, EXPERIMENT).open(tiny())
    with pytest.raises(ValueError, match="--resume"):
        RunStore(tmp_path, EXPERIMENT).check(tiny(), resume=False)
    with pytest.raises(ValueError, match=r"config differs: seeds 2 \(saved\) != 3"):
        RunStore(tmp_path, EXPERIMENT).check(tiny(seeds=3), resume=True)
    # How the runs are carried out may change between sessions.
    changed = tiny(workers=2, executor="ray", runs_per_gpu=4, ray_address="auto")
    RunStore(tmp_path, EXPERIMENT).check(changed, resume=True)


CRASHING_RUN = """
import sys, torch
torch.set_num_threads(1)
from reslab.experiments import degradation
from reslab.experiments.driver import execute
from reslab.experiments.spec import configure
config = configure(degradation.PRESETS["quick"], {changes!r})
execute(degradation.EXPERIMENT, config, out=sys.argv[1])
"""


def test_sigkill_then_resume_gives_the_uninterrupted_records(
    tmp_path: Path, one_thread: None, registry: None
) -> None:
    from reslab.experiments.degradation import EXPERIMENT
    from reslab.experiments.driver import execute
    from reslab.experiments.executors import LocalExecutor

    # No cost tasks: their step times differ from run to run (see ``tiny``).
    changes = {"data": "synthetic1d", "depths": (8, 14), "epochs": 1, "seeds": 3,
               "device": "cpu", "log_every": 2, "workers": 1, "cost_steps": 0}  # fmt: skip
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    path = [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    script = textwrap.dedent(CRASHING_RUN.format(changes=changes))
    log = tmp_path / "crashed.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(crashed)], env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while len(list((crashed / "records").glob("*.json"))) < 3:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the run wrote no 3 records in time"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = saved_records(crashed)  # every record file parses: written whole or not at all
    assert 3 <= len(kept) < 12
    assert not (crashed / "results.json").exists()

    # Resume with execution fields changed (allowed), then an uninterrupted run to compare.
    logged: list[str] = []
    resumed = execute(EXPERIMENT, tiny(**{**changes, "workers": 2}), out=crashed, resume=True,
                      log=logged.append, executor=LocalExecutor(workers=1))  # fmt: skip
    assert logged == [f"restored {len(kept)} of 12 runs from {crashed}"]
    reference = execute(EXPERIMENT, tiny(**changes), out=clean)
    assert [numbers(r) for r in resumed.records] == [numbers(r) for r in reference.records]
    assert saved_records(crashed) == saved_records(clean)
    assert all(saved_records(crashed)[k] == v for k, v in kept.items())
    assert (crashed / "results.json").exists()

    with pytest.raises(ValueError, match="--resume"):
        execute(EXPERIMENT, tiny(**changes), out=clean)
    with pytest.raises(ValueError, match="seeds 3 \\(saved\\) != 2"):
        execute(EXPERIMENT, tiny(**{**changes, "seeds": 2}), out=clean, resume=True)


# --- Ray --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    # Ray workers do not have tests/ on their path: send this module's functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # One logical GPU (no task touches CUDA) to check fractional GPU requests.
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_ray_reports_every_result_once(ray_cluster: Any) -> None:
    tasks = {f"t{i}": i for i in range(6)}
    results, seen = collect(RayExecutor(), square, tasks)
    assert sorted(seen) == sorted(tasks)
    assert results == {k: v * v for k, v in tasks.items()}


def test_ray_retries_a_task_whose_worker_died(ray_cluster: Any, tmp_path: Path) -> None:
    from reslab.experiments.degradation import EXPERIMENT
    from reslab.experiments.store import RunStore

    store = RunStore(tmp_path / "run", EXPERIMENT)
    store.open(tiny())
    tasks = {key: (str(tmp_path), key) for key in ("a", "b", "c")}
    seen: list[str] = []

    def on_result(key: str, value: str) -> None:
        seen.append(key)
        store.save(key, {"value": value})

    RayExecutor(max_retries=2).run(die_once, tasks, on_result)
    assert sorted(seen) == ["a", "b", "c"]  # once each, though every first attempt died
    assert all((tmp_path / f"{k}.started").exists() for k in tasks)
    files = sorted(p.name for p in store.records_dir.glob("*.json"))
    assert files == ["a.json", "b.json", "c.json"]
    assert [json.loads((store.records_dir / f).read_text())["value"] for f in files] == [
        "A", "B", "C",
    ]  # fmt: skip


def test_ray_packs_fractional_gpus(ray_cluster: Any) -> None:
    tasks = {f"t{i}": i for i in range(2)}
    results, _ = collect(RayExecutor(runs_per_gpu=2, use_gpus=None), gpu_env, tasks)
    assert {gpu for _, gpu, _ in results.values()} == {"0"}  # Ray pinned each to the GPU
    assert len({pid for _, _, pid in results.values()}) == 2  # a new worker per GPU task


def test_ray_and_local_pool_give_identical_records(
    ray_cluster: Any, tmp_path: Path, registry: None, one_thread: None
) -> None:
    # one_thread: the pool's workers get this process's threads / 2, i.e. 1 like a Ray task.
    from reslab.experiments.degradation import EXPERIMENT
    from reslab.experiments.driver import execute

    config = tiny(workers=2)
    local = execute(EXPERIMENT, config, out=tmp_path / "local", executor=LocalExecutor(2))
    ray = execute(EXPERIMENT, config, out=tmp_path / "ray", executor=RayExecutor())
    assert len(local.records) == 8
    assert [numbers(r) for r in ray.records] == [numbers(r) for r in local.records]
    assert saved_records(tmp_path / "ray") == saved_records(tmp_path / "local")
