"""Runs per hour of a sweep of small CIFAR ResNets: K runs packed on each GPU vs one after another.

One run trains a fresh ResNet-20 or ResNet-56 (``reslab.create_model``: 2-D, 10 classes) for
``--steps`` SGD steps of ``--batch`` images on synthetic CIFAR-10-shaped data made on the device
(random images and labels, so no dataset is needed) and returns its wall time. A setting sends
``--runs`` such runs through reslab's executors, never a scheduler of this file's own:

* cuda, ``--executor local``: ``LocalExecutor(gpus=<every visible GPU>, runs_per_gpu=K)``: K
  worker processes pinned to each GPU through ``CUDA_VISIBLE_DEVICES``. K=1 is the baseline:
  one run after another on each GPU. (Restrict the GPUs with ``CUDA_VISIBLE_DEVICES``.)
* cuda, ``--executor ray``: ``RayExecutor(runs_per_gpu=K, use_gpus=True)``: each task asks Ray
  for ``num_gpus=1/K`` of a local Ray started for the setting. Ray runs each GPU task in a new
  worker process, so every run also pays a process start and a CUDA context (in the span).
* cpu, a smoke test of the plumbing (there are no GPUs to pack): K worker processes share the
  cores, each with cores/K torch threads; K=1 runs one after another in this process with all
  the cores. With ``--executor ray``: a local Ray with K CPUs, 1 torch thread per task.

Runs/hour counts from the start of the first run to the end of the last one, so the workers'
start-up (interpreter, torch import, Ray) is left out; the wall time of the whole setting, with
it, is printed beside. A run's time does include its share of its process's first CUDA use
(context, cuDNN autotuning with ``cudnn.benchmark``): give ``--runs`` several times K so that it
is amortised as in a real sweep. Settings are interleaved over ``--repeats`` (min and median).

    .venv/bin/python benchmarks/bench_sweep.py                       # cuda: 200 steps, K=1,2,4
    .venv/bin/python benchmarks/bench_sweep.py --runs 16 --repeats 3 --channels-last
    .venv/bin/python benchmarks/bench_sweep.py --executor ray
    .venv/bin/python benchmarks/bench_sweep.py --device cpu --steps 5 --runs 4 --runs-per-gpu 1,2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from reslab.experiments.executors import Executor, LocalExecutor, RayExecutor, ray_worker_env
from reslab.models import create_model

BATCHES = 8  # distinct synthetic batches a run cycles through


@dataclass(frozen=True)
class Run:
    model: str
    steps: int
    batch: int
    seed: int
    device: str  # "cuda": the GPU this process was given (cuda:0 in a pinned process)
    channels_last: bool = False


@dataclass(frozen=True)
class RunTime:
    wall_s: float
    start: float  # time.time(), comparable across the processes of one machine
    end: float


def train_run(run: Run) -> RunTime:
    """One run, from building its model to its last step finished on the device."""
    start, t0 = time.time(), time.perf_counter()
    device = torch.device(run.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(run.seed)
    fmt = torch.channels_last if run.channels_last else torch.contiguous_format
    model = create_model(run.model).to(device, memory_format=fmt).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    gen = torch.Generator(device=device).manual_seed(run.seed)
    xs = [
        torch.randn(run.batch, 3, 32, 32, device=device, generator=gen).contiguous(
            memory_format=fmt
        )
        for _ in range(BATCHES)
    ]
    ys = [torch.randint(0, 10, (run.batch,), device=device, generator=gen) for _ in xs]
    for step in range(run.steps):
        loss = F.cross_entropy(model(xs[step % BATCHES]), ys[step % BATCHES])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the kernels queued above are part of the run
    return RunTime(time.perf_counter() - t0, start, time.time())


def importable(fn: Any) -> Any:
    """``fn`` under this file's module name rather than ``__main__``, so that workers import it
    (this folder is on their path: spawn passes ``sys.path``, Ray adds the script's folder)
    instead of Ray pickling it by value, which fails on torch's ``cudnn`` module object."""
    if fn.__module__ != "__main__":
        return fn
    import bench_sweep  # this folder is on sys.path when run as a script

    return getattr(bench_sweep, fn.__name__)


@dataclass
class Measure:
    runs_per_hour: float  # first run's start to last run's end
    setting_s: float  # the whole executor.run, worker start-up included
    run_s: float  # median wall time of one run


def executor_for(args: argparse.Namespace, k: int, gpus: list[int]) -> Executor:
    if args.executor == "ray":
        return RayExecutor(runs_per_gpu=k, use_gpus=args.device == "cuda")
    if args.device == "cuda":
        return LocalExecutor(0, gpus=tuple(gpus), runs_per_gpu=k)
    return LocalExecutor(workers=k)


@contextlib.contextmanager
def ray_session(args: argparse.Namespace, k: int) -> Iterator[None]:
    """A local Ray for one setting (on a CPU with K CPUs, so that K tasks run at once)."""
    if args.executor != "ray":
        yield
        return
    import ray

    ray.init(
        num_cpus=k if args.device == "cpu" else None, include_dashboard=False,
        log_to_driver=False, configure_logging=False, runtime_env=ray_worker_env(),
    )  # fmt: skip
    try:
        yield
    finally:
        ray.shutdown()


def measure(args: argparse.Namespace, model: str, k: int, gpus: list[int]) -> Measure:
    tasks = {
        f"{model}-{i}": Run(model, args.steps, args.batch, i, args.device, args.channels_last)
        for i in range(args.runs)
    }
    times: dict[str, RunTime] = {}
    with ray_session(args, k):
        t0 = time.perf_counter()
        executor_for(args, k, gpus).run(importable(train_run), tasks, times.__setitem__)
        setting_s = time.perf_counter() - t0
    span = max(t.end for t in times.values()) - min(t.start for t in times.values())
    return Measure(
        runs_per_hour=len(times) / span * 3600,
        setting_s=setting_s,
        run_s=statistics.median(t.wall_s for t in times.values()),
    )


def header(args: argparse.Namespace, gpus: list[int]) -> list[str]:
    if args.device == "cuda":
        names = sorted({torch.cuda.get_device_name(g) for g in gpus})
        device = f"{', '.join(names)} x {len(gpus)}"
        packing = (
            "K runs at once on each GPU: "
            + ("Ray tasks with num_gpus=1/K" if args.executor == "ray" else
               "K processes pinned per GPU (LocalExecutor runs_per_gpu=K)")
            + "; K=1: one after another on each GPU"
        )  # fmt: skip
    else:
        cores = os.cpu_count() or 1
        device = f"cpu ({platform.machine()}, {cores} cores, {torch.get_num_threads()} threads)"
        packing = (
            "CPU: no GPUs to pack; K = runs at once, "
            + ("Ray tasks of 1 thread on a local Ray with K CPUs" if args.executor == "ray" else
               "K worker processes sharing the cores (cores/K threads each); "
               "K=1: one after another in this process with all the cores")
        )  # fmt: skip
    return [
        f"device: {device}",
        f"torch {torch.__version__}, Python {platform.python_version()}, executor: {args.executor}",
        f"{args.runs} runs per setting x {args.steps} SGD steps, batch {args.batch}, "
        f"synthetic 3x32x32 data on the device, channels_last={args.channels_last}, "
        f"repeats {args.repeats}",
        f"packing: {packing}",
    ]


def table(
    args: argparse.Namespace, ks: list[int], results: dict[tuple[str, int], list[Measure]]
) -> list[str]:
    rows = [
        f"{'model':<10} {'K':>2} {'runs/h min':>11} {'runs/h med':>11} {'run s med':>10} "
        f"{'setting s':>10} {'vs K=' + str(ks[0]):>8}"
    ]
    for model in args.models:
        base = statistics.median(m.runs_per_hour for m in results[(model, ks[0])])
        for k in ks:
            got = results[(model, k)]
            rate = [m.runs_per_hour for m in got]
            rows.append(
                f"{model:<10} {k:>2} {min(rate):>11.0f} {statistics.median(rate):>11.0f} "
                f"{statistics.median(m.run_s for m in got):>10.2f} "
                f"{statistics.median(m.setting_s for m in got):>10.1f} "
                f"{statistics.median(rate) / base:>7.2f}x"
            )
    return rows


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cuda", "cpu"),
                   default="cuda" if torch.cuda.is_available() else "cpu")  # fmt: skip
    p.add_argument("--models", default="resnet20,resnet56", help="comma-separated")
    p.add_argument("--steps", type=int, default=200, help="SGD steps per run")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--runs", type=int, default=8, help="runs per setting")
    p.add_argument("--runs-per-gpu", default="1,2,4", help="the K to compare (1 is added)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved repetitions")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--channels-last", action="store_true", help="model and batches NHWC")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.ks = sorted({1, *(int(k) for k in args.runs_per_gpu.split(",") if k)})
    if min(args.ks) < 1 or args.runs < 1 or args.steps < 1 or args.repeats < 1:
        p.error("--runs-per-gpu, --runs, --steps and --repeats must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available here; use --device cpu")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    gpus = list(range(torch.cuda.device_count())) if args.device == "cuda" else []
    for line in header(args, gpus):
        print(line)
    results: dict[tuple[str, int], list[Measure]] = {}
    for repeat in range(args.repeats):
        for model in args.models:
            for k in args.ks:
                got = measure(args, model, k, gpus)
                results.setdefault((model, k), []).append(got)
                print(
                    f"  repeat {repeat + 1}: {model} K={k}: {got.runs_per_hour:.0f} runs/h, "
                    f"run {got.run_s:.2f} s, setting {got.setting_s:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print()
    for line in table(args, args.ks, results):
        print(line)


if __name__ == "__main__":
    main()
