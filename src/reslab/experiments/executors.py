"""Where the independent tasks of a sweep run: a local process pool, or Ray.

Both take the same top-level task function and report each result as it arrives, so the driver
can write it to disk at once. Spreading *independent runs* is their job; one training that spans
GPUs is PyTorch DDP's, through torchrun.

On a CPU, tiny 1-D nets are dominated by per-op overhead and use a second core poorly: two
single-threaded processes train ~1.4x more steps per second than one two-threaded process
(measured on 2 cores). On GPUs, small runs leave most of a device idle, so ``runs_per_gpu``
packs several per GPU: local processes are pinned through ``CUDA_VISIBLE_DEVICES``, Ray tasks
ask for ``num_gpus=1/K``. A pooled task sets its torch threads to its share of the cores, a
Ray task to its one CPU: on 2 cores with 2 workers both give 1, and the same seeds give the
same numbers.

When a task fails, the first error is raised once the executor has stopped: the local pool
cancels the tasks not started yet and still reports those already running (they finish anyway,
and the driver keeps their records); Ray cancels every pending task. A resumed run redoes only
the failed and cancelled tasks.

SIGTERM and Ctrl-C stop a run cleanly (``stopping.py``): while an executor runs, either raises
``Stopped`` in the driver, which ends the local pool's workers (terminate, then kill after a
short grace) or force-cancels the Ray tasks, and lets it through; a result being recorded when
the signal comes is recorded first.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from reslab.experiments.stopping import (
    SignalStop,
    die_with_parent,
    end_processes,
    leave_on_sigterm,
    worker_task,
)

T = TypeVar("T")
R = TypeVar("R")
OnResult = Callable[[str, Any], None]


class Executor(Protocol):
    def run(self, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult) -> None:
        """Call ``on_result(key, fn(task))`` once for every task, in any order."""


def cpu_threads(workers: int) -> int:
    """Torch threads per run: the cores shared evenly among the runs that run at once."""
    return max(1, torch.get_num_threads() // max(1, workers))


def visible_gpus(device: str) -> list[int]:
    """The GPUs a sweep may spread over: all of them for ``auto``/``cuda``, none for an explicit
    ``cuda:N`` (the user chose that one) or the CPU. Indices as torch numbers them, i.e. into
    this process's ``CUDA_VISIBLE_DEVICES`` when it is set."""
    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return []
    return list(range(torch.cuda.device_count()))


def call_with_threads(fn: Callable[[T], R], task: T, threads: int) -> R:
    torch.set_num_threads(threads)
    return fn(task)


@dataclass
class LocalExecutor:
    """A spawn process pool (1 worker and no GPU slots: in this process, one task after another).

    ``gpus`` and ``runs_per_gpu``: each worker process takes one slot, a GPU index, for its
    life and sees only that GPU (``CUDA_VISIBLE_DEVICES``); the slots alternate between GPUs,
    so fewer tasks than slots still spread over every GPU. ``fresh_process``: every task in a
    new process of its own (``max_tasks_per_child=1``): a process's peak RSS never goes down, so
    runs sharing a process would see each other's peaks. The pool starts a process's successor
    only once it has exited, so a GPU never holds more than ``runs_per_gpu`` live processes.
    """

    workers: int
    gpus: tuple[int, ...] = ()
    runs_per_gpu: int = 1
    fresh_process: bool = False

    def slots(self) -> list[int]:
        # Round-robin (0, 1, 0, 1, ...): the first workers started land on different GPUs.
        return [g for _ in range(self.runs_per_gpu) for g in self.gpus]

    def run(self, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult) -> None:
        if not tasks:
            return
        with SignalStop() as stop:
            self._run(fn, tasks, _shielded(on_result, stop))

    def _run(self, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult) -> None:
        slots = self.slots()
        workers = len(slots) if slots else max(1, self.workers)
        if not (self.fresh_process or slots) and (workers == 1 or len(tasks) <= 1):
            for key, task in tasks.items():
                on_result(key, fn(task))
            return
        if self.fresh_process and sys.version_info < (3, 11):
            raise RuntimeError(
                "fresh_process=True needs Python 3.11 or newer (max_tasks_per_child)"
            )
        ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
        free: Any = ctx.Queue()
        for slot in slots:
            free.put(slot)
        threads = cpu_threads(workers)
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_start_worker,
            initargs=(free, bool(slots), os.getpid()),
            max_tasks_per_child=1 if self.fresh_process else None,
        ) as pool:  # fmt: skip
            processes = pool._processes  # the pool's live dict of workers: shutdown drops it
            futures: dict[Future[Any], str] = {}
            try:
                for key, task in tasks.items():
                    futures[pool.submit(_in_slot, fn, task, threads, self.fresh_process)] = key
                _report(futures, on_result)
            except KeyboardInterrupt:  # SIGTERM or Ctrl-C: the running tasks end too
                _end_workers(pool, processes)
                raise
            except BaseException:  # the first error, once the running tasks ended
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def _shielded(on_result: OnResult, stop: SignalStop) -> OnResult:
    """``on_result`` that a signal does not cut short: the record is kept, then it stops."""

    def report(key: str, value: Any) -> None:
        with stop.shield():
            on_result(key, value)

    return report


def _end_workers(pool: ProcessPoolExecutor, processes: dict[int, Any]) -> None:
    """End a pool's workers until the pool counts itself broken: a stopped worker leaves without
    reporting (``stopping.leave_now``), so the pool fails the pending tasks and ends the other
    workers itself, and its manager thread exits (the ``with`` block joins it). Until then it may
    start a successor for a worker that has just finished its task (``max_tasks_per_child``):
    look again after each round. Not ``pool.shutdown(wait=False)``: Python 3.11's pool then
    fails to replace such a worker (its list of processes is gone) and hangs at exit."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = [p for p in list(processes.values()) if p.is_alive()]
        if live:
            end_processes(live)
        elif pool._broken or pool._executor_manager_thread is None:  # broken, or never started
            return
        else:
            time.sleep(0.05)


def _report(futures: Mapping[Future[Any], str], on_result: OnResult) -> None:
    """Report every result; after the first error cancel the tasks not started, report the
    running ones as they end (their work is done anyway), then raise that error."""
    error: Exception | None = None
    for future in as_completed(futures):
        if future.cancelled():
            continue
        try:
            on_result(futures[future], future.result())
        except Exception as err:  # the task's error, or on_result's
            if error is None:
                error = err
                for other in futures:
                    other.cancel()  # only those still queued can be
    if error is not None:
        raise error


# A pool worker's GPU slot and the queue of free slots (a queue passes to a process only when
# it starts, hence the initializer and these globals).
_SLOT: int | None = None
_FREE: Any = None


def _start_worker(free: Any, pinned: bool, parent: int) -> None:
    """Pool initializer: die with the driver (``stopping.die_with_parent``); leave Ctrl-C to
    the driver, which ends the workers itself (a terminal sends SIGINT to the whole process
    group: a worker would otherwise report a KeyboardInterrupt as its task's error, or print a
    traceback while starting), and end cleanly when it does (``leave_on_sigterm``); pin this
    worker to one GPU slot before CUDA starts in it."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    leave_on_sigterm()
    _take_slot(free, pinned)


def _take_slot(free: Any, pinned: bool) -> None:
    """Pin this worker to one GPU slot before CUDA starts in it."""
    global _SLOT, _FREE
    if pinned:
        _FREE, _SLOT = free, free.get(timeout=600)
        os.environ["CUDA_VISIBLE_DEVICES"] = _device_id(_SLOT)


def _device_id(index: int) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` entry of torch's GPU ``index`` in the parent: the parent may
    itself see only some GPUs ("2,3", or UUIDs), and a child's value names physical devices."""
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    if inherited is None:
        return str(index)
    ids = [part.strip() for part in inherited.split(",") if part.strip()]
    if index >= len(ids):
        raise RuntimeError(
            f"GPU {index} is not visible: CUDA_VISIBLE_DEVICES={inherited!r} lists {len(ids)}"
        )
    return ids[index]


def _in_slot(fn: Callable[[T], R], task: T, threads: int, fresh: bool) -> R:
    try:
        with worker_task():  # a stopped worker leaves (stopping.py)
            return call_with_threads(fn, task, threads)
    finally:
        # This process ends after its one task: free its GPU slot. The pool starts the next
        # process (which takes a free slot) only after joining this one.
        if fresh and _SLOT is not None:
            with contextlib.suppress(OSError, ValueError, queue.Full):  # the pool is shutting down
                _FREE.put(_SLOT)


@dataclass
class RayExecutor:
    """Ray core tasks: with no address, a local Ray with zero set-up (shut down again after the
    run); ``auto`` or HOST:PORT, a cluster. A task whose worker dies is retried by Ray
    (``max_retries``); that is safe because only the driver writes records, one file per task
    key, and each task reports once.

    ``use_gpus``: each task asks for ``1/runs_per_gpu`` of a GPU (None: if the cluster has GPUs).
    A GPU task runs in a new worker process (Ray's default for GPU tasks): a reused worker keeps
    the GPU its CUDA started on even when Ray hands its next task another one. Every task also
    takes one CPU, so a node runs at most as many tasks at once as it has CPUs.
    """

    address: str | None = None
    runs_per_gpu: int = 1
    use_gpus: bool | None = False
    fresh_process: bool = False
    max_retries: int = 3

    def run(self, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult) -> None:
        if not tasks:
            return
        ray = _import_ray()
        started = not ray.is_initialized()
        with SignalStop() as stop:
            try:
                if started:
                    env = ray_worker_env() if self.address is None else None  # a cluster's own
                    ray.init(
                        address=self.address, include_dashboard=False, log_to_driver=False,
                        configure_logging=False, runtime_env=env,
                    )  # fmt: skip
                stop.install()  # ray.init sets its own SIGTERM handler (sys.exit)
                self._run(ray, fn, tasks, _shielded(on_result, stop))
            finally:
                if started:
                    ray.shutdown()

    def _run(
        self, ray: Any, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult
    ) -> None:
        gpus = ray.cluster_resources().get("GPU", 0)
        use_gpus = gpus > 0 if self.use_gpus is None else self.use_gpus
        if use_gpus and not gpus:
            raise ValueError("use_gpus=True but the Ray cluster has no GPU; use device=cpu or auto")
        remote = ray.remote(
            num_cpus=1, num_gpus=gpu_share(self.runs_per_gpu) if use_gpus else 0,
            max_retries=self.max_retries, max_calls=1 if self.fresh_process or use_gpus else 0,
        )(call_with_threads)  # fmt: skip
        pending = {remote.remote(fn, task, 1): key for key, task in tasks.items()}
        error: Exception | None = None
        stopped = False
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                key = pending.pop(done[0])
                try:
                    on_result(key, ray.get(done[0]))
                except Exception as err:
                    error = err
                    break
        except KeyboardInterrupt:  # SIGTERM or Ctrl-C: the running tasks end too
            stopped = True
            raise
        finally:
            for ref in pending:  # after an error or a signal: nobody waits for them
                with contextlib.suppress(Exception):  # one already finished or lost
                    ray.cancel(ref, force=stopped)  # force: kill the worker running it
        if error is not None:
            raise error


def gpu_share(runs_per_gpu: int) -> float:
    """``1/runs_per_gpu`` rounded *down* to Ray's resource precision (1e-4): Ray rounds a
    quantity to the nearest unit, and 1/6 -> 0.1667 would fit only 5 tasks on a GPU."""
    return math.floor(10_000 / runs_per_gpu) / 10_000


def ray_worker_env() -> dict[str, Any] | None:
    """The runtime env of a local Ray: workers start as a fresh ``python`` with this process's
    environment, so they import reslab from PYTHONPATH or site-packages, which need not be
    the copy this process runs (a source tree put on ``sys.path`` by hand). Then, and only
    then, its directory goes first on the workers' PYTHONPATH."""
    # The package this module belongs to, found without importing ``reslab`` from below it.
    mine = Path(__file__).resolve().parents[1] / "__init__.py"
    probe = "import importlib.util as u; s = u.find_spec('reslab'); print(s.origin if s else '')"
    try:
        found = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found and Path(found).resolve() == mine:
        return None
    root = str(mine.parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {"env_vars": {"PYTHONPATH": root + (os.pathsep + path if path else "")}}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(
            "executor='ray' needs Ray: pip install 'reslab[ray]'; accepted without it: local"
        ) from None
    return ray


def make_executor(config: Any, *, fresh_process: bool = False) -> Executor:
    """The executor a config asks for (``executor``, ``workers``, ``runs_per_gpu``...)."""
    if config.executor == "ray":
        _import_ray()  # fail now, before any work, when Ray is missing
        if config.device.startswith("cuda:"):
            raise ValueError(
                f"device={config.device!r} names one GPU of this machine; with executor='ray' "
                "give device=cuda or auto: Ray gives each run its GPU"
            )
        use_gpus = {"cpu": False, "cuda": True}.get(config.device)  # auto: if the cluster has
        return RayExecutor(config.ray_address, config.runs_per_gpu, use_gpus, fresh_process)
    gpus = visible_gpus(config.device)
    # workers=0, or GPU slots (which decide the number of processes): 2 processes on a CPU.
    workers = config.workers if config.workers and not gpus else min(2, os.cpu_count() or 1)
    return LocalExecutor(workers, tuple(gpus), config.runs_per_gpu, fresh_process)
