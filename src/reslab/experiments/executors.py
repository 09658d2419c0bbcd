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
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch

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
    ``cuda:N`` (the user chose that one) or the CPU."""
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
    life and sees only that GPU; ``fresh_process``: every task in a new process of its own
    (``max_tasks_per_child=1``): a process's peak RSS never goes down, so runs sharing a
    process would see each other's peaks.
    """

    workers: int
    gpus: tuple[int, ...] = ()
    runs_per_gpu: int = 1
    fresh_process: bool = False

    def slots(self) -> list[int]:
        return [g for g in self.gpus for _ in range(self.runs_per_gpu)]

    def run(self, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult) -> None:
        slots = self.slots()
        workers = len(slots) if slots else max(1, self.workers)
        if not (self.fresh_process or slots) and (workers == 1 or len(tasks) <= 1):
            for key, task in tasks.items():
                on_result(key, fn(task))
            return
        if self.fresh_process and sys.version_info < (3, 11):
            raise RuntimeError("fresh_process=True needs Python 3.11 or newer (max_tasks_per_child)")
        ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
        free: Any = ctx.Queue()
        for slot in slots:
            free.put(slot)
        threads = cpu_threads(workers)
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_take_slot, initargs=(free, bool(slots)),
            max_tasks_per_child=1 if self.fresh_process else None,
        ) as pool:  # fmt: skip
            futures = {
                pool.submit(_in_slot, fn, task, threads, self.fresh_process): key
                for key, task in tasks.items()
            }
            for future in as_completed(futures):
                on_result(futures[future], future.result())


# A pool worker's GPU slot and the queue of free slots (a queue passes to a process only when
# it starts, hence the initializer and these globals).
_SLOT: int | None = None
_FREE: Any = None


def _take_slot(free: Any, pinned: bool) -> None:
    """Pool initializer: pin this worker to one GPU slot before CUDA starts in it."""
    global _SLOT, _FREE
    if pinned:
        _FREE, _SLOT = free, free.get(timeout=60)
        os.environ["CUDA_VISIBLE_DEVICES"] = str(_SLOT)


def _in_slot(fn: Callable[[T], R], task: T, threads: int, fresh: bool) -> R:
    try:
        return call_with_threads(fn, task, threads)
    finally:
        if fresh and _SLOT is not None:  # this process ends after its one task: free the GPU
            try:
                _FREE.put(_SLOT)
            except (OSError, ValueError, queue.Full):  # the pool is shutting down
                pass


@dataclass
class RayExecutor:
    """Ray core tasks: with no address, a local Ray with zero set-up; ``auto`` or HOST:PORT, a
    cluster. A task whose worker dies is retried by Ray (``max_retries``); that is safe because
    only the driver writes records, one file per task key."""

    address: str | None = None
    runs_per_gpu: int = 1
    use_gpus: bool = False
    fresh_process: bool = False
    max_retries: int = 3

    def run(self, fn: Callable[[T], R], tasks: Mapping[str, T], on_result: OnResult) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)  # fmt: skip
        remote = ray.remote(
            num_cpus=1, num_gpus=1 / self.runs_per_gpu if self.use_gpus else 0,
            max_retries=self.max_retries, max_calls=1 if self.fresh_process else 0,
        )(call_with_threads)  # fmt: skip
        pending = {remote.remote(fn, task, 1): key for key, task in tasks.items()}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            on_result(pending.pop(done[0]), ray.get(done[0]))


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
    gpus = visible_gpus(config.device)
    if config.executor == "ray":
        return RayExecutor(config.ray_address, config.runs_per_gpu, bool(gpus), fresh_process)
    if config.workers and not gpus:
        workers = config.workers
    else:
        workers = max(1, min(2, os.cpu_count() or 1))
    return LocalExecutor(workers, tuple(gpus), config.runs_per_gpu, fresh_process)
