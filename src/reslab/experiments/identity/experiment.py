"""The identity experiment end to end: one shallow net per seed, each continued as every variant
in a pool of runs, then summarised and judged."""

from __future__ import annotations

from reslab.experiments.common import finished, provenance
from reslab.experiments.identity.config import IdentityConfig, check
from reslab.experiments.identity.records import IdentityResult
from reslab.experiments.identity.train import run_seed
from reslab.experiments.identity.verdict import judge, summarize
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import run_all
from reslab.models.cifar import blocks_per_stage
from reslab.training.precision import resolve_device


def run(config: IdentityConfig, *, progress: bool = False) -> IdentityResult:
    check(config)
    seeds = list(range(config.seeds))
    cached_data(config.data, config.data_dir)  # fail fast on missing data, before any training
    prov = provenance(resolve_device(config.device), seeds)
    outs = run_all(
        run_seed, [(config, s) for s in seeds], workers=config.workers, device=config.device,
        progress=progress, desc="identity seeds", unit="seed",
    )  # fmt: skip
    per_stage = blocks_per_stage(config.deep_depth, config.block)
    per_stage -= blocks_per_stage(config.depth, config.block)
    result = IdentityResult(
        config, finished(prov), inserted_blocks=3 * per_stage,
        shallow_test_err=[err for err, _ in outs], variants=[v for _, vs in outs for v in vs],
    )  # fmt: skip
    result.summary = summarize(result.variants)
    result.verdict = judge(result)
    return result
