from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from reslab.experiments.degradation import (
    EXPERIMENT,
    PRESETS,
    DegradationConfig,
    RunRecord,
    judge,
    summarize,
    train_config,
)
from reslab.experiments.driver import execute, make_config
from reslab.experiments.result import Result, load_arrays


def run(config: DegradationConfig) -> Result:
    return execute(EXPERIMENT, config)


def verdict_of(runs: list[RunRecord], depths: tuple[int, ...]):
    config = DegradationConfig(depths=depths, seeds=3)
    return judge(config, summarize(config, runs))


def record(kind: str, depth: int, seed: int, train_err: float) -> RunRecord:
    return RunRecord(
        kind,
        depth,
        seed,
        [10],
        [train_err],
        [10],
        [train_err],
        train_err,
        train_err,
        "completed",
        None,
        1.0,
    )


def test_judge_sees_degradation_only_beyond_noise() -> None:
    runs = [record("plain", 20, s, 1.5 + 0.2 * s) for s in range(3)]
    runs += [record("plain", 56, s, 40.0 + s) for s in range(3)]
    runs += [record("residual", 20, s, 0.1) for s in range(3)]
    runs += [record("residual", 56, s, 0.2) for s in range(3)]
    verdict = verdict_of(runs, (20, 56))
    assert verdict.numbers["degradation_observed"] and verdict.numbers["residual_ok"]
    assert verdict.ok
    assert verdict.numbers["plain_gap"] == pytest.approx(41.0 - 1.7)
    assert verdict.text.startswith("degradation observed: yes")


def test_judge_ignores_a_gap_within_seed_noise() -> None:
    # Mean gap 3 points, but the seeds disagree wildly: twice the standard error is larger.
    runs = [record("plain", 20, s, e) for s, e in enumerate([1.0, 10.0, 1.0])]
    runs += [record("plain", 56, s, e) for s, e in enumerate([0.0, 21.0, 0.0])]
    runs += [record(k, d, 0, 0.0) for k in ("residual",) for d in (20, 56)]
    verdict = verdict_of(runs, (20, 56))
    assert not verdict.numbers["degradation_observed"] and not verdict.ok
    assert verdict.text.startswith("degradation observed: no")


def test_residual_degrading_is_reported() -> None:
    runs = [record("plain", d, s, 1.0 if d == 20 else 30.0 + s) for d in (20, 56) for s in range(2)]
    runs += [
        record("residual", d, s, 1.0 if d == 20 else 20.0 + s) for d in (20, 56) for s in range(2)
    ]
    verdict = verdict_of(runs, (20, 56))
    assert verdict.numbers["degradation_observed"] and not verdict.numbers["residual_ok"]
    assert not verdict.ok
    assert "residual nets degrade too" in verdict.text


def test_train_config_applies_experiment_settings() -> None:
    config = DegradationConfig(epochs=7, batch_size=64, overrides=("optim.lr=0.05",))
    cfg = train_config(config, seed=3)
    assert (cfg.train.epochs, cfg.train.steps, cfg.train.seed) == (7, None, 3)
    assert cfg.data.batch_size == 64 and cfg.optim.lr == 0.05
    assert cfg.schedule.error_warmup == "never" and cfg.train.eval_train
    assert cfg.schedule.warmup == 0.1  # the quick preset's warm-up, the same for every net
    assert train_config(replace(config, overrides=("schedule.warmup=0",)), 0).schedule.warmup == 0


def test_tiny_run_numbers(tiny_degradation_run) -> None:
    results = json.loads((tiny_degradation_run / "results.json").read_text())
    assert results["experiment"] == "degradation"
    assert len(results["records"]) == 2 * 2 * 2
    assert {(r["kind"], r["depth"]) for r in results["summary"]["nets"]} == {
        ("plain", 8),
        ("plain", 14),
        ("residual", 8),
        ("residual", 14),
    }
    for row in results["summary"]["nets"]:
        assert row["seeds"] == 2
        assert 0.0 <= row["train_err_mean"] <= 100.0 and row["train_err_std"] >= 0.0
        assert 0.0 <= row["test_err_mean"] <= 100.0
    for r in results["records"]:
        # 512 samples / batch 128: 4 steps per epoch, 2 epochs
        assert r["epoch_steps"] == [4, 8]
        assert len(r["test_err"]) == 2 and all(0 <= e <= 100 for e in r["test_err"])
        assert r["status"] == "completed" and not math.isnan(r["final_train_err"])
    prov = results["provenance"]
    assert prov["seeds"] == [0, 1] and prov["torch"] and "device" in prov
    arrays = load_arrays(tiny_degradation_run)
    assert arrays["residual14_seed1_test"].shape == (2, 2)
    summary_csv = (tiny_degradation_run / "nets.csv").read_text().splitlines()
    assert summary_csv[0].startswith("kind,depth,seeds") and len(summary_csv) == 5


def test_same_seed_same_numbers() -> None:
    config = DegradationConfig(data="synthetic1d", depths=(8, 14), seeds=1, epochs=1, workers=1)
    a, b = run(config), run(config)
    assert [r.final_train_err for r in a.records] == [r.final_train_err for r in b.records]


def test_result_round_trips_through_save_and_load(tmp_path) -> None:
    config = DegradationConfig(data="synthetic1d", depths=(8, 14), seeds=1, epochs=1, workers=1)
    result = run(config)
    loaded = Result.load(result.save(tmp_path))
    assert loaded == result
    assert isinstance(loaded.config.depths, tuple) and isinstance(loaded.records[0].steps, list)
    assert isinstance(loaded.records[0], RunRecord) and loaded.verdict == result.verdict


def test_load_restores_non_finite_floats(tmp_path) -> None:
    # JSON has no nan or inf: to_jsonable writes None, "inf" and "-inf", load reads them back as
    # floats wherever the field type says float.
    runs = [record(k, d, 0, 1.0) for k in ("plain", "residual") for d in (20, 56)]
    runs[0].steps = [1, 2, 3, 4]
    runs[0].train_err = [float("inf"), float("nan"), -float("inf"), 2.5]
    runs[0].final_test_err = float("nan")
    runs[1].wall_s = float("inf")
    config = DegradationConfig(seeds=1, overrides=("optim.lr=0.05",))
    summary = summarize(config, runs)
    result = Result("degradation", config, {"seeds": [0]}, judge(config, summary), summary, runs)
    loaded = Result.load(result.save(tmp_path))
    got = loaded.records
    np.testing.assert_array_equal(got[0].train_err, runs[0].train_err)  # nan == nan here
    assert math.isnan(got[0].final_test_err) and got[1].wall_s == math.inf
    assert got[1:] == runs[1:] and loaded.verdict == result.verdict
    assert loaded.config == config and loaded.config.overrides == ("optim.lr=0.05",)
    assert got[0].diverged_step is None  # an Optional field: None stays None


def test_load_names_an_unknown_experiment(tiny_degradation_run, tmp_path) -> None:
    text = (tiny_degradation_run / "results.json").read_text()
    (tmp_path / "results.json").write_text(text.replace('"degradation"', '"nosuch"', 1))
    with pytest.raises(ValueError, match=r"'nosuch' is unknown; accepted: .*degradation"):
        Result.load(tmp_path)


def test_diverged_run_counts_as_chance_level() -> None:
    config = DegradationConfig(
        data="synthetic1d",
        depths=(8, 14),
        seeds=1,
        epochs=1,
        workers=1,
        overrides=("optim.lr=1e12",),
    )
    result = run(config)
    plain = [r for r in result.records if r.kind == "plain"]
    assert any(r.status == "diverged" for r in result.records)
    for r in result.records:
        if r.status == "diverged":
            assert r.final_train_err == pytest.approx(90.0)
            assert r.diverged_step is not None
    assert all(np.isfinite(r.final_train_err) for r in plain)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depths": (20,)}, "at least two depths"),
        ({"depths": (20, 21)}, r"6n\+2"),
        ({"seeds": 0}, "seeds=0"),
        ({"epochs": 2, "steps": 5}, "not both"),
    ],
)
def test_bad_config_fails_before_training(changes, message) -> None:
    config = DegradationConfig(data="synthetic1d", **changes)
    with pytest.raises(ValueError, match=message):
        run(config)


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="accepted: quick, paper"):
        make_config("degradation", "huge")


def test_steps_replace_the_presets_epochs() -> None:
    config = make_config("degradation", steps=50)
    assert (config.epochs, config.steps) == (None, 50)
    assert make_config("degradation").epochs == PRESETS["quick"].epochs == 20


def test_paper_preset_is_the_papers_protocol() -> None:
    config = make_config("degradation", "paper")
    assert config.data == "cifar10" and config.depths == (20, 32, 44, 56)
    assert config.steps == 64000 and config.epochs is None
    cfg = train_config(config, 0)
    assert cfg.optim.lr == 0.1 and cfg.optim.weight_decay == 1e-4 and cfg.data.batch_size == 128
    assert cfg.schedule.milestones == [0.5, 0.75]  # 32k and 48k of 64k iterations
    assert cfg.schedule.warmup == 0.0 and cfg.schedule.low_lr_steps == 0


@pytest.mark.slow
def test_default_main_job_shows_degradation(tmp_path) -> None:
    result = run(DegradationConfig())
    assert result.verdict.numbers["degradation_observed"], result.verdict.text
    assert result.verdict.numbers["residual_ok"], result.verdict.text
    assert result.verdict.ok
