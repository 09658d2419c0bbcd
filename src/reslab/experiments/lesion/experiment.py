"""The lesion study end to end: a residual net and its plain twin per seed, trained and lesioned
in a pool of runs, then summarised and judged."""

from __future__ import annotations

from reslab.experiments.common import finished, provenance
from reslab.experiments.lesion.config import KINDS, LesionConfig, check
from reslab.experiments.lesion.lesions import same_shape_blocks
from reslab.experiments.lesion.records import LesionResult
from reslab.experiments.lesion.train import build_net, train_and_lesion
from reslab.experiments.lesion.verdict import judge, summarize
from reslab.experiments.runner import cached_data
from reslab.experiments.setup import chance_err, run_all
from reslab.training.precision import resolve_device


def run(config: LesionConfig, *, progress: bool = False) -> LesionResult:
    check(config)
    seeds = list(range(config.seeds))
    bundle = cached_data(config.data, config.data_dir)  # fail fast on missing data
    prov = provenance(resolve_device(config.device), seeds)
    tasks = [(config, kind, s) for s in seeds for kind in KINDS]
    runs = run_all(
        train_and_lesion, tasks, workers=config.workers, device=config.device,
        progress=progress, desc="lesion runs", unit="run",
    )  # fmt: skip
    shape = build_net(config, "residual", bundle)  # block layout only; both kinds share it
    result = LesionResult(
        config, finished(prov),
        downsampling=[b.changes_shape for b in shape.blocks],
        stage_of=[s + 1 for s, stage in enumerate(shape.stages) for _ in stage],
        candidates=same_shape_blocks(shape), chance_err=chance_err(bundle.num_classes),
        runs=runs,
    )  # fmt: skip
    result.summary = summarize(result)
    result.verdict = judge(result)
    return result
