"""The depth sweep end to end: every kind, depth and seed trained in a pool of runs, deepest
first (each in a fresh process when isolated), then summarised and judged."""

from __future__ import annotations

from reslab.experiments.common import finished, provenance
from reslab.experiments.depth.config import KINDS, DepthConfig, Kind, check
from reslab.experiments.depth.records import DepthResult
from reslab.experiments.depth.train import train_one
from reslab.experiments.depth.verdict import judge, summarize
from reslab.experiments.memory import memory_kind
from reslab.experiments.setup import run_all
from reslab.training.precision import resolve_device


def run(config: DepthConfig, *, progress: bool = False) -> DepthResult:
    check(config)
    device = resolve_device(config.device)
    tasks = make_tasks(config)
    seeds = list(range(max(config.seeds, config.deepest_seeds or 0)))
    prov = provenance(device, seeds)
    # Deepest first: the longest runs start at once and the short ones fill in around them.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][2])
    done = run_all(
        train_one, [tasks[i] for i in order], workers=config.workers, device=config.device,
        progress=progress, desc="depth runs", unit="run", fresh_process=config.isolate,
    )  # fmt: skip
    runs = [done[order.index(i)] for i in range(len(tasks))]
    result = DepthResult(config, finished(prov), memory_kind(device, config.isolate))
    result.runs = runs
    result.summary = summarize(runs, config)
    result.verdict = judge(runs, max(config.depths))
    return result


def make_tasks(config: DepthConfig) -> list[tuple[DepthConfig, Kind, int, int]]:
    deepest = max(config.depths)
    tasks = []
    for depth in sorted(config.depths):
        n = config.deepest_seeds if depth == deepest and config.deepest_seeds else config.seeds
        tasks += [(config, kind, depth, seed) for seed in range(n) for kind in KINDS]
    return tasks
