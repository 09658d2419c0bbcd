from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from reslab.experiments.degradation import (
    EXPERIMENT,
    PRESETS,
    CostRecord,
    DegradationConfig,
    RunRecord,
    cost_of_a_shortcut,
    cost_table,
    judge,
    summarize,
)
from reslab.experiments.driver import execute, make_config
from reslab.experiments.registry import load_result
from reslab.experiments.result import Result, load_arrays


def run(config: DegradationConfig) -> Result:
    return execute(EXPERIMENT, config)


def verdict_of(runs: list[RunRecord], depths: tuple[int, ...]):
    config = DegradationConfig(depths=depths, seeds=3)
    return judge(config, summarize(config, runs))


def record(
    kind: str, depth: int, seed: int, train_err: float, responses: list[float] | None = None
) -> RunRecord:
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
        responses or [],
    )


def test_judge_sees_degradation_only_beyond_noise() -> None:
    runs = [record("plain", 20, s, 1.5 + 0.2 * s) for s in range(3)]
    runs += [record("plain", 56, s, 40.0 + s) for s in range(3)]
    runs += [record("residual", 20, s, 0.1) for s in range(3)]
    runs += [record("residual", 56, s, 0.2) for s in range(3)]
    verdict = verdict_of(runs, (20, 56))
    assert verdict.parts == {"plain_degrades": "reproduced", "residual_does_not": "reproduced"}
    assert verdict.ok and verdict.outcome == "reproduced"
    assert verdict.numbers["plain_gap"] == pytest.approx(41.0 - 1.7)
    assert verdict.text.startswith("degradation observed: yes")


def test_judge_calls_a_gap_within_seed_noise_inconclusive() -> None:
    # Mean gap 3 points, but the seeds disagree wildly: twice the standard error is larger.
    runs = [record("plain", 20, s, e) for s, e in enumerate([1.0, 10.0, 1.0])]
    runs += [record("plain", 56, s, e) for s, e in enumerate([0.0, 21.0, 0.0])]
    runs += [record(k, d, 0, 0.0) for k in ("residual",) for d in (20, 56)]
    verdict = verdict_of(runs, (20, 56))
    assert verdict.parts["plain_degrades"] == "inconclusive" and verdict.outcome == "inconclusive"
    assert verdict.text.startswith("degradation observed: unclear") and not verdict.ok


def test_no_gap_at_all_contradicts_the_claim() -> None:
    runs = [record(k, d, s, 1.0 + 0.1 * s) for k in ("plain", "residual") for d in (20, 56)
            for s in range(3)]  # fmt: skip
    verdict = verdict_of(runs, (20, 56))
    assert verdict.parts["plain_degrades"] == "contradicted" and verdict.outcome == "contradicted"
    assert verdict.text.startswith("degradation observed: no")


def test_residual_degrading_is_reported() -> None:
    runs = [record("plain", d, s, 1.0 if d == 20 else 30.0 + s) for d in (20, 56) for s in range(2)]
    runs += [
        record("residual", d, s, 1.0 if d == 20 else 20.0 + s) for d in (20, 56) for s in range(2)
    ]
    verdict = verdict_of(runs, (20, 56))
    assert verdict.parts == {"plain_degrades": "reproduced", "residual_does_not": "contradicted"}
    assert not verdict.ok
    assert "residual nets degrade too" in verdict.text


def test_train_config_applies_experiment_settings() -> None:
    config = DegradationConfig(epochs=7, batch_size=64, overrides=("optim.lr=0.05",))
    cfg = config.train_config(3)
    assert (cfg.train.epochs, cfg.train.steps, cfg.train.seed) == (7, None, 3)
    assert cfg.data.batch_size == 64 and cfg.optim.lr == 0.05
    assert cfg.schedule.error_warmup == "never" and cfg.train.eval_train
    assert cfg.schedule.warmup == 0.1  # the quick preset's warm-up, the same for every net
    unwarmed = replace(config, overrides=("schedule.warmup=0",)).train_config(0)
    assert unwarmed.schedule.warmup == 0


def test_tiny_run_numbers(tiny_run) -> None:
    run_dir = tiny_run("degradation")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["experiment"] == "degradation"
    runs = [r for r in results["records"] if "kind" in r]  # the rest: one cost task per depth
    assert len(runs) == 2 * 2 * 2 and len(results["records"]) == len(runs) + 2
    assert {(r["kind"], r["depth"]) for r in results["summary"]["nets"]} == {
        ("plain", 8),
        ("plain", 14),
        ("residual", 8),
        ("residual", 14),
    }
    for row in results["summary"]["nets"]:
        net = (row["kind"], row["depth"])
        errs = [r["final_train_err"] for r in runs if (r["kind"], r["depth"]) == net]
        assert row["seeds"] == len(errs) == 2 and 0.0 <= row["test_err_mean"] <= 100.0
        assert row["train_err_mean"] == pytest.approx(np.mean(errs))
        assert row["train_err_std"] == pytest.approx(np.std(errs, ddof=1))  # over the seeds
    for r in runs:
        # 512 samples / batch 128: 4 steps per epoch, 2 epochs
        assert r["epoch_steps"] == [4, 8]
        assert len(r["test_err"]) == 2 and all(0 <= e <= 100 for e in r["test_err"])
        assert r["status"] == "completed" and not math.isnan(r["final_train_err"])
    prov = results["provenance"]
    assert prov["seeds"] == [0, 1] and prov["torch"] and "device" in prov
    arrays = load_arrays(run_dir)
    assert arrays["residual14_seed1_test"].shape == (2, 2)
    summary_csv = (run_dir / "nets.csv").read_text().splitlines()
    assert summary_csv[0].startswith("kind,depth,seeds") and len(summary_csv) == 5


def test_tiny_run_measures_responses_and_costs(tiny_run) -> None:
    run_dir = tiny_run("degradation")
    result = load_result(run_dir)
    for r in result.records:
        if isinstance(r, RunRecord):
            # One response per 3x3 conv: the stem's and two per basic block, depth - 1 in all.
            assert len(r.responses) == r.depth - 1
            assert all(np.isfinite(v) and v > 0 for v in r.responses)
    rows = result.summary["responses"]
    assert [(r["kind"], r["depth"], r["layers"], r["seeds"]) for r in rows] == [
        ("plain", 8, 7, 2), ("plain", 14, 13, 2), ("residual", 8, 7, 2), ("residual", 14, 13, 2),
    ]  # fmt: skip
    assert result.summary["responses_claim"].startswith("layer responses (Figure 7): ")
    assert {"response_ratio_d8", "responses_smaller_when_deeper"} <= set(result.verdict.numbers)
    assert load_arrays(run_dir)["plain14_seed1_responses"].shape == (13,)
    table = result.summary["cost_of_a_shortcut"]
    assert [(row["depth"], row["macs_ratio"]) for row in table] == [(8, 1.0), (14, 1.0)]
    assert all(row["step_ms_plain"] > 0 and row["step_ratio"] > 0 for row in table)


def net_macs(n: int) -> int:
    """Multiply-adds of a 1-D CIFAR net with n basic blocks per stage on a (1, 40) input: 3x3
    convs (out x in x 3 x length) and the linear head; BN, ReLU, pooling and additions are not
    multiply-adds."""

    def conv(c_out: int, c_in: int, length: int) -> int:
        return c_out * c_in * 3 * length

    stem = conv(16, 1, 40)
    stage1 = 2 * n * conv(16, 16, 40)
    stage2 = conv(32, 16, 20) + (2 * n - 1) * conv(32, 32, 20)
    stage3 = conv(64, 32, 10) + (2 * n - 1) * conv(64, 64, 10)
    return stem + stage1 + stage2 + stage3 + 64 * 10


@pytest.mark.parametrize("depth", [8, 14])
def test_option_a_shortcuts_cost_no_macs_and_no_parameters(depth: int) -> None:
    config = DegradationConfig(data="synthetic1d", depths=(8, 14), batch_size=16, cost_steps=1)
    cost = cost_of_a_shortcut(config, depth)
    n = (depth - 2) // 6
    assert cost.params_plain == cost.params_residual
    assert cost.macs_plain == cost.macs_residual == net_macs(n)  # 340480 for depth 8
    # What the shortcuts do add: one element per block output, (16 x 40 + 32 x 20 + 64 x 10) for
    # the n blocks of each stage's width.
    assert cost.shortcut_adds == n * (16 * 40 + 32 * 20 + 64 * 10)
    assert (cost.batch_size, cost.steps_timed, cost.device) == (16, 1, "cpu")
    assert cost.step_ms_plain > 0 and cost.step_ms_residual > 0
    row = cost_table([cost])[0]
    assert row["macs_ratio"] == 1.0 and row["params_plain"] == row["params_residual"]


def hand_made(res20: list[float], res56: list[float], plain: float = 1.0) -> list[RunRecord]:
    """Plain nets that degrade, residual nets that do not; each run's layer responses all equal
    its seed's value (``res20[seed]`` for residual-20, ...)."""
    runs = [record("plain", d, s, 2.0 if d == 20 else 40.0 + s, [plain + 0.01 * s] * (d - 1))
            for d in (20, 56) for s in range(3)]  # fmt: skip
    for depth, values in ((20, res20), (56, res56)):
        runs += [record("residual", depth, s, 0.1, [v] * (depth - 1)) for s, v in enumerate(values)]
    return runs


def test_responses_claim_is_computed_beside_the_unchanged_verdict() -> None:
    config = DegradationConfig(depths=(20, 56), seeds=3)
    runs = hand_made([0.6, 0.61, 0.62], [0.4, 0.41, 0.42])
    summary = summarize(config, runs)
    rows = {(r["kind"], r["depth"]): r for r in summary["responses"]}
    assert rows["residual", 56]["response_std_mean"] == pytest.approx(0.41)
    assert rows["residual", 56]["response_std_std"] == pytest.approx(0.01)
    assert rows["plain", 20]["layers"] == 19 and rows["plain", 56]["layers"] == 55
    verdict = judge(config, summary)
    numbers = verdict.numbers
    assert numbers["response_ratio_d20"] == pytest.approx(0.61 / 1.01)
    assert numbers["response_ratio_d56"] == pytest.approx(0.41 / 1.01)
    assert numbers["response_ratio_deep_shallow"] == pytest.approx(0.41 / 0.61)
    assert numbers["responses_residual_smaller"] and numbers["responses_smaller_when_deeper"]
    assert summary["responses_claim"] == (
        "layer responses (Figure 7): residual smaller than plain at every depth: yes "
        "(residual/plain std 0.60 at 20, 0.41 at 56); residual-56 smaller than residual-20: yes "
        "(x0.67)"
    )
    # The degradation verdict is the same with or without responses.
    without = judge(config, summarize(config, [replace(r, responses=[]) for r in runs]))
    assert (verdict.ok, verdict.text) == (without.ok, without.text) and verdict.ok
    assert {k: numbers[k] for k in without.numbers} == without.numbers


def test_responses_claim_says_no_when_the_numbers_say_no() -> None:
    config = DegradationConfig(depths=(20, 56), seeds=3)
    deeper_larger = summarize(config, hand_made([0.4, 0.41, 0.42], [0.6, 0.61, 0.62]))
    numbers = deeper_larger["response_numbers"]
    assert numbers["responses_residual_smaller"] and not numbers["responses_smaller_when_deeper"]
    assert "residual-56 smaller than residual-20: no" in deeper_larger["responses_claim"]
    # Residual-20 is smaller on average (0.83 vs 1.01), but the seeds disagree: within twice
    # the standard error of the difference, it does not count.
    noisy = summarize(config, hand_made([0.5, 1.5, 0.5], [0.4, 0.41, 0.42]))["response_numbers"]
    assert noisy["response_ratio_d20"] < 1 and not noisy["responses_residual_smaller"]


def test_results_without_responses_still_summarize() -> None:
    # Records saved before responses were measured (or a net that diverged) have none.
    config = DegradationConfig(depths=(20, 56), seeds=3)
    runs = [replace(r, responses=[]) for r in hand_made([0.6] * 3, [0.4] * 3)]
    runs[0].responses = [float("nan")] * 19
    summary = summarize(config, runs)
    assert summary["responses"] == [] and summary["response_numbers"] == {}
    assert summary["responses_claim"] == "layer responses (Figure 7): not measured for every net"
    assert not any(k.startswith("response") for k in judge(config, summary).numbers)


def test_cost_table_gives_ratios_and_the_verdict_ignores_it() -> None:
    config = DegradationConfig(depths=(20, 56), seeds=3)
    runs = hand_made([0.6] * 3, [0.4] * 3)
    costs = [CostRecord(d, 100, 100, 1000 * d, 1000 * d, 10 * d, 2.0, 2.2, 10, 128, "cpu", 1.0)
             for d in (56, 20)]  # fmt: skip
    summary = summarize(config, runs + costs)
    table = summary["cost_of_a_shortcut"]
    assert [row["depth"] for row in table] == [20, 56]
    assert table[0]["macs_ratio"] == 1.0 and table[0]["adds_per_mac"] == pytest.approx(0.01)
    assert table[1]["step_ratio"] == pytest.approx(1.1)
    assert judge(config, summary) == judge(config, summarize(config, runs))


def test_same_seed_same_numbers() -> None:
    config = DegradationConfig(
        data="synthetic1d", depths=(8, 14), seeds=1, epochs=1, workers=1, cost_steps=0
    )
    a, b = run(config), run(config)
    assert [r.final_train_err for r in a.records] == [r.final_train_err for r in b.records]


def test_result_round_trips_through_save_and_load(tmp_path) -> None:
    config = DegradationConfig(
        data="synthetic1d", depths=(8, 14), seeds=1, epochs=1, workers=1, cost_steps=1
    )
    result = run(config)
    loaded = load_result(result.save(tmp_path))
    assert loaded == result
    assert isinstance(loaded.config.depths, tuple) and isinstance(loaded.records[0].steps, list)
    assert isinstance(loaded.records[0], RunRecord) and loaded.verdict == result.verdict
    assert [type(r) for r in loaded.records[-2:]] == [CostRecord, CostRecord]


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
    result = Result("degradation", config, {"seeds": [0]}, judge(config, summary), summary, runs,
                    spec=EXPERIMENT)  # fmt: skip
    loaded = load_result(result.save(tmp_path))
    got = loaded.records
    np.testing.assert_array_equal(got[0].train_err, runs[0].train_err)  # nan == nan here
    assert math.isnan(got[0].final_test_err) and got[1].wall_s == math.inf
    assert got[1:] == runs[1:] and loaded.verdict == result.verdict
    assert loaded.config == config and loaded.config.overrides == ("optim.lr=0.05",)
    assert got[0].diverged_step is None  # an Optional field: None stays None


def test_load_names_an_unknown_experiment(tiny_run, tmp_path) -> None:
    text = (tiny_run("degradation") / "results.json").read_text()
    (tmp_path / "results.json").write_text(text.replace('"degradation"', '"nosuch"', 1))
    with pytest.raises(ValueError, match=r"'nosuch' is unknown; accepted: .*degradation"):
        load_result(tmp_path)


def test_diverged_run_counts_as_chance_level() -> None:
    config = DegradationConfig(
        data="synthetic1d",
        depths=(8, 14),
        seeds=1,
        epochs=1,
        workers=1,
        overrides=("optim.lr=1e12",),
        cost_steps=0,
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
        ({"cost_steps": -1}, r"cost_steps=-1 must be >= 0"),
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
    cfg = config.train_config(0)
    assert cfg.optim.lr == 0.1 and cfg.optim.weight_decay == 1e-4 and cfg.data.batch_size == 128
    assert cfg.schedule.milestones == [0.5, 0.75]  # 32k and 48k of 64k iterations
    assert cfg.schedule.warmup == 0.0 and cfg.schedule.low_lr_steps == 0


@pytest.mark.slow
def test_default_main_job_shows_degradation(tmp_path) -> None:
    result = run(DegradationConfig())
    assert result.verdict.outcome == "reproduced", result.verdict.text
