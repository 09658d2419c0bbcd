"""The one driver every experiment runs through.

In order: check the config (once), load the data (a missing dataset fails before anything is
written), check the run directory, make the tasks, restore the finished ones when resuming, run
the rest on the executor, keeping each record as it arrives, then summarise and judge.

Under torchrun (one training or measurement spanning GPUs, as the landscape grid does) every
rank runs the same tasks one after another in its own process, and only rank 0 writes.

SIGTERM or Ctrl-C while the tasks run raise ``Interrupted`` once the executor has ended its
workers: the records that arrived before are on disk, and ``--resume`` continues from them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reslab.data.cache import cached_data
from reslab.experiments.common import finished, provenance
from reslab.experiments.executors import Executor, LocalExecutor, make_executor
from reslab.experiments.registry import get_experiment
from reslab.experiments.result import Result
from reslab.experiments.spec import CALIBRATION_SEED0, Experiment, ExperimentConfig, configure
from reslab.experiments.stopping import Interrupted
from reslab.experiments.store import RunStore
from reslab.training.distributed import check_on_main, launched, local_rank
from reslab.training.precision import resolve_device

Log = Callable[[str], None]


def make_config(name: str, preset: str = "quick", **changes: Any) -> ExperimentConfig:
    """The config ``name``'s ``preset`` with ``changes`` (``execute`` checks it)."""
    return configure(get_experiment(name).preset(preset), {**changes, "preset": preset})


def check(spec: Experiment[Any, Any, Any], config: ExperimentConfig) -> None:
    config.check()
    spec.check(config)


def execute(
    spec: Experiment[Any, Any, Any],
    config: ExperimentConfig,
    *,
    out: Path | str | None = None,
    resume: bool = False,
    progress: bool = False,
    log: Log | None = None,
    executor: Executor | None = None,
) -> Result[Any, Any]:
    """Run every task of ``config`` and return the judged result (saved into ``out`` if given).

    ``log`` receives what a user should read (e.g. how many runs were restored); the library
    prints nothing itself. ``executor``: instead of the one the config asks for.
    """
    check(spec, config)
    cached_data(config.data, config.data_dir)  # fail fast on missing data, before any work
    ctx = launched()
    store = RunStore(Path(out), spec) if out is not None and ctx.is_main else None
    # Rank 0 alone checks (and writes) the directory; under torchrun every rank raises its
    # refusal, or the others would wait for rank 0 in their first collective.
    device_type = resolve_device(config.device, local_rank()).type
    check_on_main(lambda: store.check(config, resume=resume) if store else None, device_type)
    tasks = keyed(spec.tasks(config, Path(out) if out is not None else None))
    prov = provenance(resolve_device(config.device, local_rank()), list(config.seed_range))
    done: dict[str, Any] = {}
    if store is not None:
        store.open(config)
    if ctx.active:
        executor = LocalExecutor(workers=1)
    elif executor is None:
        executor = make_executor(config, fresh_process=spec.fresh_process(config))

    def stage(todo: dict[str, Any]) -> None:
        # Under torchrun the ranks must run the same tasks in step: each recomputes (the
        # landscape grids resume from their own files), none restores records alone.
        if store is not None and resume and not ctx.active:
            done.update(store.restore(list(todo)))
            if log:
                log(f"restored {sum(k in done for k in todo)} of {len(todo)} runs from {out}")
        _run_tasks(spec, executor, {k: t for k, t in todo.items() if k not in done}, done,
                   store, progress=progress and ctx.is_main, total=len(todo))  # fmt: skip

    stage(tasks)
    if spec.followup is not None:  # tasks that depend on the first ones' records (confirmation)
        more = keyed(spec.followup(config, [done[key] for key in tasks]))
        if clash := sorted(set(more) & set(tasks)):
            raise ValueError(f"follow-up tasks {clash} repeat keys of the first tasks")
        stage(more)
        tasks = {**tasks, **more}
    records = [done[key] for key in tasks]
    if seeds := sorted({r.seed for r in records if isinstance(getattr(r, "seed", None), int)}):
        # The seeds that ran (depth's deepest net may have more), calibration ones apart.
        prov["seeds"] = [s for s in seeds if s < CALIBRATION_SEED0]
        if calibration := [s for s in seeds if s >= CALIBRATION_SEED0]:
            prov["calibration_seeds"] = calibration
    summary = spec.summarize(config, records)
    result = Result(spec.name, config, finished(prov), spec.judge(config, summary), summary,
                    records, spec=spec)  # fmt: skip
    if store is not None:
        result.save(store.run_dir)
    return result


def keyed(tasks: list[Any]) -> dict[str, Any]:
    """``{task.key: task}``, in order; two tasks with one key would share a record file."""
    out = {task.key: task for task in tasks}
    if len(out) != len(tasks):
        dup = sorted({t.key for t in tasks if sum(u.key == t.key for u in tasks) > 1})
        raise ValueError(f"tasks share the keys {dup}: every task needs a key of its own")
    return out


def _run_tasks(
    spec: Experiment[Any, Any, Any], executor: Executor, todo: Mapping[str, Any],
    done: dict[str, Any], store: RunStore | None, *, progress: bool, total: int,
) -> None:  # fmt: skip
    bar = _bar(total, len(done), spec.name) if progress else None

    def on_result(key: str, record: Any) -> None:
        if store is not None:
            store.save(key, record)  # at once: a crash after this keeps the run
        done[key] = record
        if bar is not None:
            bar.update()

    try:
        executor.run(spec.run_task, todo, on_result)
    except KeyboardInterrupt as stop:  # SIGTERM or Ctrl-C (stopping.Stopped); workers ended
        signum = getattr(stop, "signum", signal.SIGINT)
        run_dir = store.run_dir if store is not None else None
        left = sum(key not in done for key in todo)  # of the runs known so far
        raise Interrupted(run_dir, len(done), len(done) + left, signum) from None
    finally:
        if bar is not None:
            bar.close()


def _bar(total: int, initial: int, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=f"{name} runs", unit="run", dynamic_ncols=True)
