"""The gradients experiment end to end: every kind, depth and seed measured in a pool of runs,
deepest first, then summarised and judged."""

from __future__ import annotations

import torch

from reslab.experiments.common import finished, provenance
from reslab.experiments.gradients.config import KINDS, GradientsConfig, check
from reslab.experiments.gradients.measure import measure_one
from reslab.experiments.gradients.norms import measurement_batches
from reslab.experiments.gradients.records import GradientsResult
from reslab.experiments.gradients.verdict import judge, summarize
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import run_all
from reslab.training.precision import resolve_device


def run(config: GradientsConfig, *, progress: bool = False) -> GradientsResult:
    check(config)
    seeds = list(range(config.seeds))
    bundle = cached_data(config.data, config.data_dir)  # fail fast on missing data
    measurement_batches(bundle, config.batches, config.batch_size, torch.device("cpu"))
    prov = provenance(resolve_device(config.device), seeds)
    # Deepest first: the longest runs start early, so the pool's workers finish together.
    tasks = [(config, k, d, s) for d in sorted(config.depths, reverse=True) for s in seeds
             for k in KINDS]  # fmt: skip
    records = run_all(
        measure_one, tasks, workers=config.workers, device=config.device, progress=progress,
        desc="gradient runs", unit="net",
    )  # fmt: skip
    records.sort(key=lambda r: (KINDS.index(r.kind), r.depth, r.seed))
    result = GradientsResult(config, finished(prov), records)
    result.summary = summarize(records, config)
    result.verdict = judge(result.summary, config)
    return result
