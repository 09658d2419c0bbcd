from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.experiments.tiny import GRADIENTS_FIELDS as TINY

from reslab import run_experiment
from reslab.data.cache import cached_data
from reslab.experiments.common import RunTask
from reslab.experiments.driver import execute, make_config
from reslab.experiments.gradients import (
    EXPERIMENT,
    PRESETS,
    GradientRecord,
    GradientsConfig,
    block_gradient_norms,
    build_net,
    check,
    first_last_ratio,
    growth_law,
    judge,
    measure_one,
    measurement_batches,
    summarize,
    tasks,
    train_config,
)
from reslab.experiments.registry import load_result
from reslab.experiments.result import Result, load_arrays
from reslab.models import cifar_resnet


def run(config: GradientsConfig, out: Path | None = None) -> Result:
    return execute(EXPERIMENT, config, out=out)


@pytest.fixture(scope="module")
def synthetic1d():
    return cached_data("synthetic1d", None)


@pytest.fixture(scope="module")
def batch(synthetic1d):
    return measurement_batches(synthetic1d, 1, 32, torch.device("cpu"))


@pytest.fixture
def gradients_run(tiny_run) -> tuple[Result, Path]:
    """The tiny run's result as ``execute`` returned it, and its run directory."""
    return tiny_run.result("gradients"), tiny_run("gradients")


@pytest.mark.parametrize(("block", "shortcut"), [("basic", "A"), ("preact_basic", "B")])
def test_zero_initialised_branches_pass_the_gradient_unchanged(batch, block, shortcut) -> None:
    # With F = 0 every block is its shortcut: between two shape changes the identity hands the
    # same gradient tensor down (eq. 5 with the sum term zero), so the norms are exactly equal.
    torch.manual_seed(0)
    model = cifar_resnet(20, block=block, shortcut=shortcut, dims=1, in_channels=1,
                         zero_init_residual=True)  # fmt: skip
    norms = block_gradient_norms(model, batch)["input"]
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)
    # Block i's input is block i-1's output: the same shape as block i-1's input unless i-1
    # changes the shape (then the sum runs in another order and may differ in the last bit).
    same_shape = [i for i, b in enumerate(model.blocks[:-1], start=1) if not b.changes_shape]
    assert len(same_shape) == 6
    for i in same_shape:
        assert norms[i] == norms[i - 1], (i, norms)
    if shortcut == "A":
        # Option A only subsamples and zero-pads (its padded channels are zero, so the ReLU
        # after the addition drops their gradient): no block of the net changes the norm.
        np.testing.assert_allclose(norms, norms[0], rtol=1e-12)


def test_measurement_leaves_the_model_as_it_was(synthetic1d, batch) -> None:
    torch.manual_seed(0)
    model = build_net("residual", 8, "basic", synthetic1d).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    norms = block_gradient_norms(model, batch)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert {k: v.shape for k, v in norms.items()} == {k: (3,) for k in norms}


def test_deep_plain_net_explodes_where_shortcut_nets_do_not() -> None:
    result = run(GradientsConfig(**TINY, depths=(8, 56), steps=0))
    ratio = {
        (r.kind, r.depth): first_last_ratio(r.profile("input", "init")) for r in result.records
    }
    # Measured on synthetic1d (3 seeds): plain-56 1.0e4-1.4e4, residual-56 34-55, preact-56 135-171.
    assert ratio[("plain", 56)] > 1000
    assert ratio[("plain", 56)] > 20 * max(ratio[("residual", 56)], ratio[("preact", 56)])
    numbers = result.verdict.numbers
    assert numbers["laws"] == {
        "init": {"plain": "exponential", "residual": "power-law", "preact": "power-law"}
    }
    assert numbers["highway_holds"] and numbers["plain_breaks"] and result.verdict.ok
    for r in result.records:
        profile = r.profile("input", "init")
        assert np.all(np.isfinite(profile)) and np.all(profile > 0)
        if r.kind != "plain":
            # Eq. 5: the top gradient reaches every block; no block gets much less than the last.
            assert profile.min() >= 0.5 * profile[-1]
    assert result.verdict.text.startswith("gradient highway holds, plain nets break")
    assert "plain-8 " in result.verdict.text and "(exponential)" in result.verdict.text


def test_tiny_run_numbers(gradients_run) -> None:
    result, run_dir = gradients_run
    assert len(result.records) == 4 * 2 * 2
    for r in result.records:
        blocks = {8: 3, 14: 6}[r.depth]
        init = [r.profile(p, "init") for p in ("input", "weight", "activation")]
        assert all(len(p) == blocks and np.all(np.isfinite(p)) and np.all(p > 0) for p in init)
        if r.depth == 8:
            assert r.status == "completed" and len(r.profile("input", "trained")) == blocks
            assert 0 <= r.test_err <= 100 and math.isfinite(r.train_loss)
            # Two SGD steps moved the weights, so the gradients changed.
            assert not np.allclose(r.profile("weight", "trained"), r.profile("weight", "init"))
        else:
            assert r.status == "init-only" and r.profile("input", "trained").size == 0
    rows = {(row["kind"], row["depth"]): row for row in result.summary["nets"]}
    assert len(rows) == 8 and ("scale", 14) in rows
    for (kind, depth), row in rows.items():
        ratios = [first_last_ratio(r.profile("input", "init")) for r in result.records
                  if r.kind == kind and r.depth == depth]  # fmt: skip
        assert row["input_ratio_init_mean"] == pytest.approx(np.mean(ratios))
        assert row["input_ratio_init_std"] == pytest.approx(np.std(ratios, ddof=1))
        assert row["trained_steps"] == (2 if depth == 8 else 0)
        assert math.isnan(row["input_ratio_trained_mean"]) == (depth == 14)
    assert result.provenance["seeds"] == [0, 1] and result.provenance["torch"]
    assert load_arrays(run_dir)["preact14_seed1_weight_init"].shape == (6,)
    header = (run_dir / "nets.csv").read_text().splitlines()[0]
    assert header.startswith("kind,depth,seeds,blocks,input_ratio_init_mean")
    assert "profiles" not in (run_dir / "records.csv").read_text().splitlines()[0]


def test_result_round_trips_through_save_and_load(gradients_run) -> None:
    result, run_dir = gradients_run
    loaded = load_result(run_dir)
    assert loaded.config == result.config
    assert loaded.records == result.records and isinstance(loaded.records[0], GradientRecord)
    assert loaded.verdict == result.verdict
    first = result.summary["nets"][0]["input_ratio_init_mean"]
    assert loaded.summary["nets"][0]["input_ratio_init_mean"] == first


def test_tasks_run_the_deepest_nets_first() -> None:
    config = GradientsConfig(depths=(8, 20, 14), seeds=2, variants=())
    keys = [t.key for t in tasks(config, None)]
    assert keys[:3] == ["plain20_seed0", "residual20_seed0", "preact20_seed0"]
    assert keys[-1] == "preact8_seed1" and len(set(keys)) == len(keys) == 3 * 3 * 2


def test_summary_does_not_depend_on_the_order_of_the_records(gradients_run) -> None:
    # The driver hands records over in task order (deepest first); the numbers are the same in
    # any order, down to the last bit.
    result, _ = gradients_run
    config = result.config
    shuffled = list(reversed(result.records))
    assert summarize(config, shuffled) == summarize(config, result.records)


def test_bottleneck_family(synthetic1d) -> None:
    preact = build_net("preact", 11, "bottleneck", synthetic1d)
    assert {type(b).__name__ for b in preact.blocks} == {"PreActBottleneck"}
    config = GradientsConfig(**TINY, block="bottleneck", depths=(11,), steps=0)
    for record in run(config).records:
        profile = record.profile("weight", "init")
        assert len(profile) == 3 and np.all(np.isfinite(profile)) and np.all(profile > 0)


def test_same_seed_same_numbers() -> None:
    config = GradientsConfig(**TINY, depths=(8,), steps=0)
    a, b, c = (measure_one(RunTask(config, "preact", 8, seed=seed)) for seed in (0, 0, 1))
    assert a.profiles == b.profiles
    assert a.profiles != c.profiles


def test_a_diverged_net_is_recorded_not_fatal(tmp_path) -> None:
    config = GradientsConfig(**TINY, depths=(8,), steps=4, overrides=("optim.lr=1e12",))
    result = run(config)
    diverged = [r for r in result.records if r.status == "diverged"]
    assert diverged, [r.status for r in result.records]
    for r in diverged:
        assert r.diverged_step is not None and r.test_err is None
        assert not np.all(np.isfinite(r.profile("weight", "trained")))
    row = next(s for s in result.summary["nets"] if s["kind"] == diverged[0].kind)
    assert row["diverged"] == 1 and row["input_ratio_trained_nonfinite"] == 1
    assert "after 4 steps" in result.verdict.text
    # Non-finite norms survive saving and loading (JSON null / "inf" back to nan / inf).
    loaded = load_result(result.save(tmp_path))
    for r, back in zip(result.records, loaded.records, strict=True):
        for name, values in r.profiles.items():
            np.testing.assert_array_equal(back.profiles[name], values)


@pytest.mark.parametrize(
    ("ratios", "law"),
    [
        ({3: 3.0, 27: 3.0**13}, "exponential"),  # constant factor per block
        ({3: 3.0, 27: 27.0}, "power-law"),  # r = n
        ({3: 0.5, 27: 0.5**13}, "exponential"),  # vanishing, exponentially
        ({3: 3.0, 27: 5.0}, "flat"),
        ({3: 3.0, 27: math.inf}, "non-finite"),
        ({3: 3.0, 27: math.nan}, "non-finite"),
        ({27: 100.0}, "one depth"),
    ],
)
def test_growth_law(ratios, law) -> None:
    assert growth_law(ratios) == law


def _row(kind: str, depth: int, blocks: int, init: float, trained: float | None) -> dict:
    return {"kind": kind, "depth": depth, "blocks": blocks, "input_ratio_init_mean": init,
            "input_ratio_trained_mean": trained, "trained_steps": 5 if trained else 0}  # fmt: skip


def test_judge_sees_a_vanishing_shortcut_net() -> None:
    # Pre-activation ratio 0.2 -> 0.05 grows like a power of depth but ends below 1/FLAT.
    config = GradientsConfig(depths=(20, 110), train_max_depth=20, steps=5)
    summary = [
        _row("plain", 20, 9, 20.0, 18.0), _row("plain", 110, 54, 9e7, None),
        _row("residual", 20, 9, 10.0, 9.0), _row("residual", 110, 54, 100.0, None),
        _row("preact", 20, 9, 0.2, 0.5), _row("preact", 110, 54, 0.05, None),
    ]  # fmt: skip
    verdict = judge(config, {"nets": summary})
    laws = verdict.numbers["laws"]
    assert verdict.numbers["plain_breaks"] and not verdict.numbers["highway_holds"]
    assert not verdict.ok
    assert laws["init"] == {"plain": "exponential", "residual": "power-law",
                            "preact": "power-law"}  # fmt: skip
    assert laws["trained"]["plain"] == "one depth"
    assert verdict.text.startswith("gradient highway not seen, plain nets break")
    assert "plain-20 20 → plain-110 9e+07 (exponential)" in verdict.text
    assert "after 5 steps plain-20 18 (one depth)" in verdict.text


def test_train_config_is_the_recipe_cut_to_steps() -> None:
    config = GradientsConfig(steps=50, batch_size=64, overrides=("optim.lr=0.05",))
    cfg = train_config(config, seed=3)
    assert (cfg.train.steps, cfg.train.epochs, cfg.train.seed) == (50, None, 3)
    assert cfg.data.batch_size == 64 and cfg.optim.lr == 0.05 and not cfg.train.eval_train
    assert cfg.recipe == "mnist1d" and cfg.schedule.kind == "cosine"


def test_paper_preset_is_cifar10_with_the_papers_recipe() -> None:
    config = make_config("gradients", "paper")
    assert config.data == "cifar10" and config.depths == (20, 56, 110, 1202)
    assert config.train_max_depth is None and config.trains(1202)
    cfg = train_config(config, 0)
    assert cfg.optim.lr == 0.1 and cfg.optim.weight_decay == 1e-4 and cfg.data.batch_size == 128
    assert cfg.train.steps == 2000


def test_quick_preset_trains_up_to_110_layers() -> None:
    config = make_config("gradients", "quick", seeds=3)
    assert config.seeds == 3 and config.data == "mnist1d" and PRESETS["quick"].seeds == 2
    assert [d for d in config.depths if config.trains(d)] == [20, 56, 110]
    assert max(config.depths) > 1000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depths": (20, 21)}, "6n+2"),
        ({"block": "bottleneck", "depths": (14,)}, "9n+2"),
        ({"block": "wide"}, "accepted: basic, bottleneck"),
        ({"depths": ()}, "depths=()"),
        ({"seeds": 0}, "seeds=0"),
        ({"steps": -1}, "steps=-1"),
        ({"train_max_depth": 0}, "train_max_depth=0"),
        ({"batches": 17, "batch_size": 32}, "accepted: batches <= 16"),
        ({"depths": (8, 8)}, "distinct"),
        ({"variants": ("halve",)}, "variant 'halve' is unknown; accepted: identity"),
        ({"variants": ("identity",)}, "'identity' is measured already"),
        ({"variants": ("scale", "scale")}, "repeat"),
    ],
)
def test_bad_config_fails_before_measuring(tmp_path, changes, message) -> None:
    config = GradientsConfig(**{**TINY, "depths": (8,), **changes})
    with pytest.raises(ValueError, match=re.escape(message)):
        run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # checked before the run directory is made


def test_no_epochs_only_steps() -> None:
    # Every net trains a fixed number of steps: epochs is no setting to give.
    with pytest.raises(ValueError, match=r"epochs=3: .* fixed number of steps; accepted: steps"):
        check(GradientsConfig(**TINY, depths=(8,), epochs=3))
    with pytest.raises(ValueError, match="epochs=3"):
        run_experiment("gradients", epochs=3, **TINY)
    assert make_config("gradients", steps=7).steps == 7  # steps is never cleared


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="accepted: quick, paper"):
        make_config("gradients", "huge")


@pytest.mark.slow
def test_quick_preset_shows_the_highway() -> None:
    result = run(make_config("gradients"))
    numbers = result.verdict.numbers
    assert numbers["highway_holds"] and numbers["plain_breaks"], result.verdict.text
    assert result.verdict.ok


def test_a_scaled_shortcut_net_is_measured_as_its_own_kind(batch, synthetic1d) -> None:
    # lambda = 0.5 on every block: the scaled variant of the residual net, same weights layout.
    from reslab.experiments.gradients import build_net

    scaled, residual = (build_net(k, 20, "basic", synthetic1d) for k in ("scale", "residual"))
    assert all(b.mapping.spec.scale == 0.5 for b in scaled.blocks)
    assert [n for n, _ in scaled.named_parameters()] == [n for n, _ in residual.named_parameters()]
