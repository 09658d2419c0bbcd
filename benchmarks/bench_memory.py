"""Peak memory of one training step of the deepest CIFAR nets, with and without gradient
checkpointing per residual block (``train.checkpoint_blocks`` / ``model.set_grad_checkpointing``).

Each measurement runs in its own process, because a process's peak RSS (``ru_maxrss``) never goes
down: the parent starts one child per (model, setting), the child builds the model, runs one
forward + backward + SGD step on a random batch of 32x32 images, and reports its peak RSS and the
RSS it had before the step (weights, gradients' future home, the allocator, torch itself).

    .venv/bin/python benchmarks/bench_memory.py                    # batch 128, both models
    .venv/bin/python benchmarks/bench_memory.py --batch 32 --models resnet1202
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from reslab.models import create_model


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(model_name: str, batch: int, checkpoint_blocks: bool, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model(model_name).train()
    model.set_grad_checkpointing(checkpoint_blocks)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    before = rss_mib()
    start = time.perf_counter()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"before_mib": before, "peak_mib": peak, "step_s": seconds}


def run_child(model_name: str, batch: int, checkpoint_blocks: bool, threads: int) -> dict:
    args = [sys.executable, __file__, "--child", model_name, "--batch", str(batch),
            "--threads", str(threads)]  # fmt: skip
    if checkpoint_blocks:
        args.append("--checkpoint-blocks")
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet1202", "preact_resnet1001"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--settings", nargs="+", choices=["off", "on"], default=["off", "on"],
        help="checkpointing settings to measure (without it, batch 128 of resnet1202 needs "
        "about 14 GB)",
    )  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint-blocks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.batch, args.checkpoint_blocks, args.threads)))
        return
    print(f"torch {torch.__version__}, CPU, {args.threads} threads, fp32, batch {args.batch} of "
          "3x32x32, one forward+backward+SGD step per process; peak RSS (ru_maxrss)")  # fmt: skip
    print(f"{'model':<20}{'checkpointing':<15}{'RSS before':>12}{'peak RSS':>12}{'step s':>9}")
    for name in args.models:
        peaks = {}
        for setting in args.settings:
            m = run_child(name, args.batch, setting == "on", args.threads)
            peaks[setting] = m["peak_mib"]
            print(f"{name:<20}{setting:<15}{m['before_mib']:>9.0f} MiB"
                  f"{m['peak_mib']:>8.0f} MiB{m['step_s']:>9.1f}", flush=True)  # fmt: skip
        if len(peaks) == 2:
            print(f"{name:<20}peak ratio off/on: {peaks['off'] / peaks['on']:.1f}x", flush=True)


if __name__ == "__main__":
    main()
