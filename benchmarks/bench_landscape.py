"""Speed of reslab's loss-surface grids against plain evaluation and the `loss-landscapes` package.

On one model (a 1-D CIFAR-style ResNet, eval mode) and one fixed batch of MNIST-1D training
samples, times
  - plain evaluation: ``reslab.training.evaluate`` of the unmoved model (evaluations / s),
  - reslab grid: ``evaluate_points`` over an S x S plane, including building the probe and two
    filter-normalised directions (points / s), with and without the incremental surface file,
  - loss-landscapes 3.0.6 ``random_plane(..., steps=S, normalization="filter")`` on the same
    model, data and S x S points, if the package is installed (``pip install loss-landscapes``).
The methods are timed in interleaved repetitions, rotating which goes first, so drifts in machine
load hit all alike; the median of the repetitions is reported, in points per second of this
process's CPU time (robust on a shared machine) and of wall-clock time.

    .venv/bin/python benchmarks/bench_landscape.py            # resnet-20, 7x7, 7 repetitions
    .venv/bin/python benchmarks/bench_landscape.py --quick    # smoke run

Note what loss-landscapes computes differs from reslab's grid (so only the speed compares): its
directions are uniform in [0, 1], biases and BN parameters are rescaled rather than zeroed, both
directions are then rescaled to a global norm, and the grid is walked by in-place steps, so
rounding accumulates from point to point. It also divides by each bias's norm and raises
ZeroDivisionError on an all-zero bias, as a freshly initialised BN net has: the benchmark model
therefore gets small random biases (as after training).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import reslab
from reslab.data import load_data
from reslab.experiments.landscape import subset_bundle, surface_batches
from reslab.models import cifar_resnet
from reslab.probes.landscape.directions import param_vector, random_direction
from reslab.probes.landscape.surface import (
    FlatProbe,
    SurfaceStore,
    axis,
    evaluate_points,
    plane,
    surface_key,
)
from reslab.training import evaluate


def make_model(depth: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = cifar_resnet(depth, dims=1, in_channels=1, num_classes=10).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() <= 1:
                p.add_(0.05 * torch.randn_like(p))
    return model


def reslab_grid(model, batches, steps: int, store_dir: Path | None) -> Callable[[], int]:
    xs = axis(-1.0, 1.0, steps) if steps % 2 else np.linspace(-1.0, 1.0, steps)
    coords = plane(xs, xs)

    def run() -> int:
        probe = FlatProbe(model)
        dirs = [random_direction(model, 0), random_direction(model, 1)]
        store = None
        if store_dir is not None:
            path = store_dir / "surface.npz"
            path.unlink(missing_ok=True)
            store = SurfaceStore(path, surface_key(model, dirs, coords, "bench"))
        values = evaluate_points(
            probe, batches, param_vector(model), dirs, coords, store=store, save_every=steps
        )
        return values.evaluated

    return run


def plain_eval(model, batches, count: int) -> Callable[[], int]:
    def run() -> int:
        for _ in range(count):
            evaluate(model, batches)
        return count

    return run


def loss_landscapes_grid(model, batches, steps: int) -> Callable[[], int] | None:
    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        return None
    (x, y), *rest = batches
    if rest:
        raise ValueError("loss-landscapes' Loss metric takes one batch; use --batch >= --samples")
    metric = loss_landscapes.metrics.Loss(F.cross_entropy, x, y)

    def run() -> int:
        grid = loss_landscapes.random_plane(
            model, metric, distance=1, steps=steps, normalization="filter", deepcopy_model=True
        )
        return int(np.asarray(grid).size)

    return run


def time_interleaved(
    methods: dict[str, Callable[[], int]], repeats: int
) -> dict[str, dict[str, list[float]]]:
    """Points per second of each repetition, by wall clock and by this process's CPU time (the
    latter ignores time the scheduler gives to other users of a shared machine)."""
    rates: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in methods}
    names = list(methods)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            points = methods[name]()
            rates[name]["wall"].append(points / (time.perf_counter() - wall))
            rates[name]["cpu"].append(points / (time.process_time() - cpu))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=7, help="grid points per axis")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="depth 8, 5x5, 2 repetitions")
    args = parser.parse_args()
    if args.quick:
        args.depth, args.steps, args.repeats, args.samples = 8, 5, 2, 256
    torch.set_num_threads(args.threads)
    model = make_model(args.depth)
    subset, _ = subset_bundle(load_data("mnist1d"), args.samples)
    batches = surface_batches(subset, args.samples, torch.device("cpu"))
    points = args.steps**2
    with tempfile.TemporaryDirectory() as tmp:
        methods = {
            "plain evaluate()": plain_eval(model, batches, points),
            "reslab grid": reslab_grid(model, batches, args.steps, None),
            "reslab grid + surface file": reslab_grid(model, batches, args.steps, Path(tmp)),
        }
        other = loss_landscapes_grid(model, batches, args.steps)
        if other is not None:
            methods["loss-landscapes random_plane"] = other
        for run in methods.values():  # warm-up: first-call allocations, lazy imports
            run()
        rates = time_interleaved(methods, args.repeats)
    _print(args, rates, other is not None)


def _print(args: argparse.Namespace, rates: dict[str, list[float]], has_other: bool) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = platform.processor() or platform.machine()
    params = sum(p.numel() for p in make_model(args.depth).parameters())
    print(
        f"reslab {reslab.__version__}, torch {torch.__version__}, {cpu}, {args.threads} "
        f"thread(s) of {os.cpu_count()} CPUs, load average {load:.1f} (a shared machine)"
    )
    print(
        f"resnet{args.depth}-1d ({params} parameters), {args.samples} MNIST-1D training samples "
        f"in one batch, {args.steps}x{args.steps} grid, median of {args.repeats} interleaved "
        "repetitions"
    )
    base = {clock: statistics.median(rates["plain evaluate()"][clock]) for clock in ("cpu", "wall")}
    print(f"{'method':30s} {'CPU pts/s':>9s} {'vs plain':>8s} {'wall pts/s':>10s} {'vs plain':>8s}")
    for name, by_clock in rates.items():
        cpu, wall = (statistics.median(by_clock[c]) for c in ("cpu", "wall"))
        print(
            f"{name:30s} {cpu:9.2f} {cpu / base['cpu']:7.2f}x {wall:10.2f} "
            f"{wall / base['wall']:7.2f}x"
        )
    if not has_other:
        print("loss-landscapes not installed: `.venv/bin/pip install loss-landscapes` to compare")


if __name__ == "__main__":
    main()
