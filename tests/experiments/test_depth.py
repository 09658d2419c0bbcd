from __future__ import annotations

import math
import os
from dataclasses import replace

import numpy as np
import pytest
from tests.experiments.tiny import DEPTH as TINY

from reslab.data import load_data
from reslab.experiments.common import RunTask
from reslab.experiments.depth import (
    EXPERIMENT,
    RunRecord,
    build_model,
    fresh_process,
    judge,
    summarize,
    tasks,
    train_config,
    train_one,
)
from reslab.experiments.driver import make_config
from reslab.experiments.executors import LocalExecutor, make_executor
from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.models import count_params

pytestmark = pytest.mark.usefixtures("one_thread")


def record(
    kind: str, depth: int, seed: int, train_err: float, status: str = "completed"
) -> RunRecord:
    return RunRecord(
        kind, depth, seed, 1000, False, [10], [train_err], [1.0], [10], [train_err], train_err,
        train_err + 1.0, status, None, 1.0, 1.0, 500.0, 600.0,
    )  # fmt: skip


def verdict_of(runs: list[RunRecord], depth: int):
    config = replace(TINY, depths=(depth,), seeds=3, deepest_seeds=None)
    return judge(config, summarize(config, runs))


def test_judge_prefers_the_kind_with_lower_training_error() -> None:
    runs = [record("postact", 1001, s, 30.0 + s) for s in range(2)]
    runs += [record("preact", 1001, s, 5.0 + s) for s in range(2)]
    verdict = verdict_of(runs, 1001)
    assert verdict.numbers["preact_better"] is True and verdict.ok
    assert verdict.numbers["train_gap"] == pytest.approx(25.0)
    assert verdict.numbers["postact_test_err"] == pytest.approx(31.5)
    assert verdict.text.startswith("pre-activation 1001: 5.5% train error (test 6.5%)")
    assert "better by 25.0 points" in verdict.text


def test_judge_calls_a_gap_within_seed_noise_a_tie() -> None:
    # Mean gap 3 points, but the seeds disagree wildly: twice the standard error is larger.
    runs = [record("postact", 164, s, e) for s, e in enumerate([1.0, 20.0, 1.0])]
    runs += [record("preact", 164, s, e) for s, e in enumerate([0.0, 10.0, 3.0])]
    verdict = verdict_of(runs, 164)
    assert verdict.numbers["preact_better"] is None and verdict.numbers["gap_se"] > 3.0
    assert verdict.outcome == "inconclusive" and "no difference beyond" in verdict.text


def test_judge_reports_post_activation_winning_and_divergence() -> None:
    runs = [record("postact", 164, 0, 2.0), record("preact", 164, 0, 90.0, "diverged")]
    verdict = verdict_of(runs, 164)
    assert verdict.numbers["preact_better"] is False and verdict.numbers["threshold"] == 1.0
    assert not verdict.ok
    assert "post-activation trains the 164-layer net better by 88.0 points" in verdict.text
    assert "one seed each" in verdict.text
    assert "diverged: pre-activation seed 0" in verdict.text


def test_tasks_give_the_deepest_net_its_own_seed_count_and_run_first() -> None:
    todo = tasks(TINY, None)
    assert [(t.kind, t.depth, t.seed) for t in todo] == [
        ("postact", 20, 0), ("preact", 20, 0),
        ("postact", 11, 0), ("preact", 11, 0), ("postact", 11, 1), ("preact", 11, 1),
    ]  # fmt: skip
    assert [t.key for t in todo][:2] == ["postact20_seed0", "preact20_seed0"]
    assert len(tasks(replace(TINY, deepest_seeds=None), None)) == 8
    assert len(tasks(replace(TINY, deepest_seeds=3), None)) == 2 * 2 + 3 * 2


def test_isolate_asks_for_a_fresh_process_per_run() -> None:
    assert EXPERIMENT.fresh_process is fresh_process
    assert fresh_process(make_config("depth")) and not fresh_process(TINY)
    assert make_executor(make_config("depth"), fresh_process=True).fresh_process


def test_checkpointing_is_decided_by_depth() -> None:
    assert not train_config(TINY, 11, 0).train.checkpoint_blocks
    assert train_config(TINY, 20, 0).train.checkpoint_blocks
    assert not train_config(replace(TINY, checkpoint_from=None), 1001, 0).train.checkpoint_blocks
    cfg = train_config(replace(TINY, overrides=("optim.lr=0.05",)), 20, 3)
    assert (cfg.train.steps, cfg.train.seed, cfg.optim.lr, cfg.data.batch_size) == (8, 3, 0.05, 32)


def test_unknown_preset_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="accepted: quick, paper"):
        make_config("depth", "huge")
    paper = make_config("depth", "paper", seeds=2)
    assert (paper.data, paper.depths, paper.width, paper.seeds) == ("cifar10", (164, 1001), 16, 2)
    assert (paper.steps, paper.epochs, paper.deepest_seeds) == (64000, None, None)
    quick = make_config("depth", epochs=2)  # epochs replace the preset's 100 steps
    assert (quick.steps, quick.epochs, quick.checkpoint_from, quick.isolate) == (None, 2, 500, True)


def test_same_params_for_both_kinds_as_in_the_paper() -> None:
    # He et al. 2016, Table 3: the original and pre-activation nets of a depth have the same
    # parameters (1.7M at 164 layers); ours differ only by the BN placement (stem vs last).
    bundle = load_data("synthetic1d")
    config = replace(TINY, width=16)
    post = count_params(build_model(config, "postact", 164, bundle))
    pre = count_params(build_model(config, "preact", 164, bundle))
    assert abs(post - pre) / pre < 0.01
    assert 1.0e6 < pre < 1.8e6  # 1-D convs: k=3 instead of 3x3, so fewer than the paper's 1.7M


def test_tiny_run_numbers(tiny_run) -> None:
    tiny_result = tiny_run.result("depth")
    runs = tiny_result.records
    assert len(runs) == 6
    bundle = load_data("synthetic1d")
    for r in runs:
        assert r.status == "completed" and r.steps == [2, 4, 6, 8]
        assert 0.0 <= r.final_train_err <= 100.0 and 0.0 <= r.final_test_err <= 100.0
        assert all(math.isfinite(x) for x in r.train_loss + r.train_err + r.test_err)
        # At initialisation a 10-class net predicts near-uniformly: loss close to ln 10.
        assert abs(r.train_loss[0] - math.log(10)) < 0.5
        assert r.params == count_params(build_model(TINY, r.kind, r.depth, bundle))
        assert r.checkpointed == (r.depth == 20)
        assert r.peak_mem_mb > 100.0 and r.peak_mem_mb >= r.base_mem_mb > 0.0
        assert r.wall_s > 0.0 and r.cpu_s > 0.0
    # 512 training samples / batch 32 = 16 steps per epoch: 8 steps end inside epoch 1,
    # which the loop still closes with a test evaluation.
    assert all(r.epoch_steps == [8] and len(r.test_err) == 1 for r in runs)
    rows = {(row["kind"], row["depth"]): row for row in tiny_result.summary["nets"]}
    assert rows["preact", 11]["seeds"] == 2 and rows["preact", 20]["seeds"] == 1
    assert rows["postact", 20]["train_err_std"] == 0.0  # one seed: no spread
    post11 = [r.final_train_err for r in runs if r.kind == "postact" and r.depth == 11]
    assert rows["postact", 11]["train_err_mean"] == pytest.approx(np.mean(post11))
    assert tiny_result.verdict.numbers["depth"] == 20
    assert "shared process" in tiny_result.summary["memory"]
    deepest = tiny_result.summary["deepest"]
    assert deepest["preact"]["final_train_err"] == [rows["preact", 20]["train_err_mean"]]


def test_tiny_run_saves_curves_and_tables(tiny_run) -> None:
    tiny_result, run_dir = tiny_run.result("depth"), tiny_run("depth")
    arrays = load_arrays(run_dir)
    assert arrays["preact20_seed0_loss"].shape == (2, 4)
    assert arrays["postact11_seed1_train"][0].tolist() == [2, 4, 6, 8]
    header = (run_dir / "nets.csv").read_text().splitlines()[0]
    assert "peak_mem_mb" in header and "cpu_s_mean" in header and "checkpointed" in header
    assert (run_dir / "records.csv").read_text().count("\n") == 7  # header + 6 runs
    loaded = load_result(run_dir)
    assert loaded == tiny_result and isinstance(loaded.records[0], RunRecord)


def test_summary_does_not_depend_on_the_order_of_the_records(tiny_run) -> None:
    # The driver hands records over deepest first; the numbers are the same in any order.
    tiny_result = tiny_run.result("depth")
    shuffled = list(reversed(tiny_result.records))
    assert summarize(TINY, shuffled) == tiny_result.summary


def test_checkpointing_keeps_the_loss_trajectory_and_the_norm_statistics() -> None:
    # Recomputation replays the same forward in training mode: same batch statistics, same
    # gradients, so the same losses step after step; BN's running statistics are restored after
    # the recomputation (reslab.nn.checkpoint), so eval-mode numbers agree as well.
    config = replace(TINY, log_every=1, steps=5, batch_size=64)
    plain = train_one(RunTask(replace(config, checkpoint_from=None), "preact", 20, seed=0))
    ckpt = train_one(RunTask(replace(config, checkpoint_from=0), "preact", 20, seed=0))
    assert ckpt.checkpointed and not plain.checkpointed
    assert len(plain.train_loss) == 5
    np.testing.assert_allclose(ckpt.train_loss, plain.train_loss, rtol=1e-5)
    assert plain.train_loss[0] != plain.train_loss[-1]  # the weights did move
    assert ckpt.final_train_err == plain.final_train_err  # evaluated with the same statistics
    assert ckpt.final_test_err == plain.final_test_err


def _pid(_task: int) -> int:
    return os.getpid()


def pids(fresh: bool, n: int) -> list[int]:
    out: dict[str, int] = {}
    executor = LocalExecutor(workers=1, fresh_process=fresh)
    executor.run(_pid, {str(i): i for i in range(n)}, out.__setitem__)
    return list(out.values())


@pytest.mark.slow  # three spawned processes, each importing torch: 20-55 s on 2 busy cores
def test_fresh_process_per_run() -> None:
    fresh = pids(True, 2)
    assert len(set(fresh)) == 2 and os.getpid() not in fresh
    assert pids(True, 1) != [os.getpid()]  # even one task
    assert pids(False, 2) == [os.getpid()] * 2  # shared: in this process


@pytest.mark.slow
def test_checkpointing_lowers_peak_memory_in_fresh_processes() -> None:
    # 164 bottleneck layers (54 blocks), batch 512: ~0.2 GB of saved activations without
    # checkpointing, the block inputs only with it (measured: 369 vs 257 MB above baseline; the
    # RSS also holds ~150 MB that does not depend on depth: kernels, caches, evaluation).
    config = replace(TINY, depths=(164,), width=4, batch_size=512, steps=2, log_every=1)
    todo = {str(c): RunTask(replace(config, checkpoint_from=c), "preact", 164, seed=0)
            for c in (None, 0)}  # fmt: skip
    done: dict[str, RunRecord] = {}
    LocalExecutor(workers=1, fresh_process=True).run(train_one, todo, done.__setitem__)
    plain, ckpt = done["None"], done["0"]
    used = [r.peak_mem_mb - r.base_mem_mb for r in (plain, ckpt)]
    assert used[1] < used[0] - 60.0, used
    assert ckpt.train_loss == pytest.approx(plain.train_loss, rel=1e-5)
