"""Many small, independent training runs for one experiment: one process, or a pool on CPU.

On a CPU, tiny 1-D nets are dominated by per-op overhead and use a second core poorly: two
single-threaded processes train ~1.4x more steps per second than one two-threaded process
(measured on 2 cores). Runs are independent, so they can be spread over a process pool; one
GPU runs them one after another. Multi-GPU data parallelism is torchrun's job, not this.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import torch

from reslab.data import DataBundle, load_data

T = TypeVar("T")
R = TypeVar("R")


@functools.lru_cache(maxsize=4)
def cached_data(name: str, data_dir: str | None) -> DataBundle:
    return load_data(name, data_dir=data_dir)


def default_workers(device: str) -> int:
    if device not in ("auto", "cpu") or (device == "auto" and torch.cuda.is_available()):
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def map_runs(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int,
    on_done: Callable[[R], None] | None = None,
    fresh_process: bool = False,
) -> list[R]:
    """``[fn(t) for t in tasks]``, in task order, on ``workers`` processes (1: in this process).

    ``fresh_process``: every call in a new process of its own (``max_tasks_per_child=1``), even
    with one worker or one task, never in this one. For peak-memory measurements: a process's
    peak RSS (``ru_maxrss``) never goes down, and memory freed by one run often stays resident,
    so runs sharing a process would see each other's peaks.
    """
    if not fresh_process and (workers <= 1 or len(tasks) <= 1):
        results = []
        for task in tasks:
            results.append(fn(task))
            if on_done:
                on_done(results[-1])
        return results
    if fresh_process and sys.version_info < (3, 11):
        raise RuntimeError("fresh_process=True needs Python 3.11 or newer (max_tasks_per_child)")
    workers = max(1, workers)
    threads = max(1, torch.get_num_threads() // workers)
    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    out: list[Any] = [None] * len(tasks)
    with ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(threads,),
        max_tasks_per_child=1 if fresh_process else None,
    ) as pool:
        futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            if on_done:
                on_done(out[futures[future]])
    return out
