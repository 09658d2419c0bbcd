"""The DenseNet experiment (Huang et al. 2017): concatenation against addition at equal size."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from tests.experiments.tiny import DENSENET as TINY

from reslab.data import load_data
from reslab.experiments.densenet import (
    MEMORY_VARIANTS,
    NETS,
    PRESETS,
    MemoryRecord,
    TrainRecord,
    build,
    judge,
    tasks,
)
from reslab.experiments.registry import load_result
from reslab.models import cifar_densenet, count_params
from reslab.probes.reuse import old_source_weight, reuse_maps

pytestmark = pytest.mark.usefixtures("one_thread")


def test_presets_compare_nets_of_equal_size() -> None:
    bundle = load_data("synthetic1d")
    for preset, tolerance in (("quick", 0.001), ("paper", 0.02)):
        config = PRESETS[preset]
        shape = bundle if preset == "quick" else replace(bundle, dims=2, in_channels=3)
        dense, res, plain = (count_params(build(config, n, shape)) for n in NETS)
        assert abs(dense - res) / res < tolerance, (preset, dense, res)
        # Option-A shortcuts have no parameters: the plain twin has exactly the ResNet's.
        assert plain == res, (preset, plain, res)
    assert (
        count_params(build(PRESETS["paper"], "densenet", replace(bundle, dims=2, in_channels=3)))
        == 769_162
    )
    paper = PRESETS["paper"]
    assert (paper.data, paper.epochs, paper.batch_size, paper.recipe) == ("cifar10", 300, 64,
                                                                         "paper")  # fmt: skip
    assert "optim.nesterov=true" in paper.overrides and PRESETS["quick"].seeds >= 3


def test_tiny_run_records_every_net_memory_variant_and_seed(tiny_run) -> None:
    result = load_result(tiny_run("densenet"))
    train = [r for r in result.records if isinstance(r, TrainRecord)]
    memory = [r for r in result.records if isinstance(r, MemoryRecord)]
    assert sorted((r.net, r.seed) for r in train) == sorted(
        (n, s) for n in NETS for s in range(TINY.seeds)
    )
    assert len(memory) == len(MEMORY_VARIANTS) * 2 * TINY.seeds
    dense = next(r for r in train if r.net == "densenet")
    assert len(dense.grad_init) == 9 and all(g > 0 for g in dense.grad_init)  # 3 blocks x 3
    assert len(dense.reuse_trained) == 3 and np.array(dense.reuse_trained[0]).shape == (4, 4)
    rows = {r["net"]: r for r in result.summary["nets"]}
    assert rows["densenet"]["paper_c10_plus"] == 4.51 and rows["resnet"]["paper_c10_plus"] == 6.41
    assert result.summary["params"]["relative_difference"] < 0.01
    assert set(result.verdict.numbers) >= {"gradient_flow", "memory_vs_resnet", "reuse_trained"}
    assert set(result.verdict.parts) >= {"gradient_flow", "more_memory"}


def test_tiny_run_trains_the_plain_twin_of_the_resnet(tiny_run) -> None:
    result = load_result(tiny_run("densenet"))
    train = {(r.net, r.seed): r for r in result.records if isinstance(r, TrainRecord)}
    plain, res = train["plain", 0], train["resnet", 0]
    assert plain.params == res.params and result.summary["params"]["plain"] == res.params
    assert len(plain.grad_init) == len(res.grad_init) == 3  # ResNet-8: 3 blocks
    assert all(g > 0 for g in plain.grad_trained) and plain.grad_trained != res.grad_trained
    assert plain.reuse_init is None and plain.status == "completed"
    rows = {r["net"]: r for r in result.summary["nets"]}
    assert rows["plain"]["paper_c10_plus"] is None
    assert "log10_grad_first_over_last_trained_mean" in rows["plain"]
    assert result.verdict.numbers["control"] in ("reproduced", "contradicted", "inconclusive")
    assert set(result.verdict.parts) == {"gradient_flow", "more_memory"}
    assert "(plain)" in result.verdict.text


def test_plain_is_the_resnet_without_its_shortcuts() -> None:
    bundle = load_data("synthetic1d")
    res, plain = (build(TINY, n, bundle) for n in ("resnet", "plain"))
    assert type(res) is type(plain) and len(res.blocks) == len(plain.blocks)
    assert all(b.is_plain for b in plain.blocks) and not any(b.is_plain for b in res.blocks)
    shapes = [p.shape for p in res.parameters()]
    assert [p.shape for p in plain.parameters()] == shapes


def test_tasks_cover_nets_memory_variants_and_seeds() -> None:
    keys = [t.key for t in tasks(TINY, None)]
    assert len(keys) == TINY.seeds * (len(NETS) + 2 * len(MEMORY_VARIANTS))
    assert "densenet_seed1" in keys and "memory_densenet_efficient_b32_seed0" in keys
    assert "plain_seed0" in keys and "plain_seed1" in keys


def test_reuse_maps_read_each_source_from_its_channels() -> None:
    model = cifar_densenet(22, dims=1, in_channels=1)
    layer = model.blocks[2]  # the third layer of the first block reads sources 0, 1 and 2
    c0, k = model.blocks[0].conv1.in_channels, model.growth_rate
    weight = layer.conv1.weight.data
    weight.zero_()
    weight[:, c0 + k : c0 + 2 * k] = 1.0  # only layer 2's maps
    grid = reuse_maps(model)[0]
    assert grid.shape == (4, 4)
    np.testing.assert_array_equal(grid[2, :3], [0.0, 0.0, 1.0])
    assert np.isnan(grid[2, 3]) and np.isnan(grid[0, 1])
    assert old_source_weight(np.array([[1, np.nan], [0.5, 1.0]])) == 0.5


def summary(
    *, flow: tuple[float, float], reuse: float, mem: tuple[float, float, float],
    plain: float = 2.0,
) -> Any:  # fmt: skip
    """A hand-made summary: log10 first/last gradient ratios (DenseNet, ResNet, and the plain
    net's in ``plain``), the DenseNet's trained reuse, and MB per sample (ResNet, DenseNet,
    memory-efficient DenseNet)."""
    spread = np.array([-0.01, 0.0, 0.01])
    key = "log10_grad_first_over_last_trained"
    nets = [
        {"net": "densenet", "params": 1000, "reuse_trained_mean": reuse, f"{key}_mean": flow[0]},
        {"net": "resnet", "params": 1010, f"{key}_mean": flow[1]},
        {"net": "plain", "params": 1010, f"{key}_mean": plain},
    ]
    memory = [
        {"variant": v, "mb_per_sample_mean": m, "vs_resnet": m / mem[0]}
        for v, m in zip(MEMORY_VARIANTS, mem, strict=True)
    ]
    per_seed = {
        "densenet": {key: list(flow[0] + spread)},
        "resnet": {key: list(flow[1] + spread)},
        "plain": {key: list(plain + spread)},
        "memory": {v: list(m + spread / 100) for v, m in zip(MEMORY_VARIANTS, mem, strict=True)},
    }
    return {"nets": nets, "memory": memory, "per_seed": per_seed,
            "params": {"relative_difference": 0.01}}  # fmt: skip


def test_judge_passes_when_both_halves_hold() -> None:
    # The DenseNet's first/last ratio is 10^0.2 (nearer 1) against the ResNet's 10^-0.5.
    verdict = judge(TINY, summary(flow=(0.2, -0.5), reuse=0.8, mem=(0.2, 0.5, 0.3)))
    assert verdict.ok and verdict.outcome == "reproduced", verdict.text
    assert verdict.numbers["memory_efficient_saving"]["outcome"] == "reproduced"


def test_judge_reads_a_ratio_above_one_as_less_uniform_not_more() -> None:
    # Both ratios above 1 (the quick preset's case): the larger one is the *less* uniform flow.
    verdict = judge(TINY, summary(flow=(1.3, 1.1), reuse=0.8, mem=(0.2, 0.5, 0.3)))
    assert verdict.parts["gradient_flow"] == "contradicted", verdict.text


@pytest.mark.parametrize(
    ("plain", "outcome"),
    [(2.0, "reproduced"),  # 10^2 against the ResNet's 10^0.5: the measure sees it vanish
     (-2.0, "reproduced"),  # a ratio below 1 vanishes as much: the size counts, not the sign
     (0.55, "contradicted"),  # no more than the ResNet's: the measure cannot tell the two
     (0.3, "contradicted")],
)  # fmt: skip
def test_judge_asks_the_plain_gradient_to_vanish_beyond_the_resnets(
    plain: float, outcome: str
) -> None:
    verdict = judge(TINY, summary(flow=(0.2, -0.5), reuse=0.8, mem=(0.2, 0.5, 0.3), plain=plain))
    assert verdict.numbers["control"] == outcome, verdict.text
    assert verdict.numbers["plain_vanishes"]["outcome"] == outcome
    # The control gates part (a): failing, it leaves (a) unjudged, not contradicted.
    judged = "reproduced" if outcome == "reproduced" else "inconclusive"
    assert verdict.parts["gradient_flow"] == verdict.outcome == judged
    assert f"{abs(plain):.2f} (plain)" in verdict.text
    assert ("not judged" in verdict.text) == (outcome != "reproduced")


def test_judge_cannot_tell_a_plain_gradient_within_seed_noise() -> None:
    s = summary(flow=(0.2, -0.5), reuse=0.8, mem=(0.2, 0.5, 0.3))
    s["per_seed"]["plain"]["log10_grad_first_over_last_trained"] = [0.5, 2.5, 0.5]
    verdict = judge(TINY, s)
    assert verdict.numbers["control"] == "inconclusive", verdict.text
    assert verdict.outcome == "inconclusive" and not verdict.ok


def test_judge_leaves_out_a_plain_run_without_a_finite_ratio() -> None:
    # A diverged run's gradients are NaN: that seed says nothing; with none left, nothing can.
    s = summary(flow=(0.2, -0.5), reuse=0.8, mem=(0.2, 0.5, 0.3))
    key = "log10_grad_first_over_last_trained"
    s["per_seed"]["plain"][key] = [2.0, float("nan"), 2.1]
    assert judge(TINY, s).numbers["plain_vanishes"]["paired"] == 2
    s["per_seed"]["plain"][key] = [float("nan")] * 3
    verdict = judge(TINY, s)
    assert verdict.numbers["control"] == "inconclusive" and "n/a (plain)" in verdict.text
    assert verdict.parts["gradient_flow"] == "inconclusive"


@pytest.mark.parametrize(
    ("flow", "mem", "failed"),
    [((-0.5, 0.2), (0.2, 0.5, 0.3), "gradient_flow"),
     ((0.5, 0.5), (0.2, 0.5, 0.3), "gradient_flow"),
     ((0.2, -0.5), (0.5, 0.2, 0.1), "more_memory"),
     ((0.2, -0.5), (0.5, 0.5, 0.3), "more_memory")],
)  # fmt: skip
def test_judge_fails_when_either_half_fails(flow, mem, failed: str) -> None:
    verdict = judge(TINY, summary(flow=flow, reuse=0.3, mem=mem))
    assert verdict.parts[failed] == "contradicted" and not verdict.ok, verdict.text


def test_judge_cannot_tell_within_seed_noise() -> None:
    s = summary(flow=(0.2, -0.5), reuse=0.8, mem=(0.2, 0.5, 0.3))
    s["per_seed"]["densenet"]["log10_grad_first_over_last_trained"] = [0.0, 0.9, 0.0]
    assert judge(TINY, s).parts["gradient_flow"] == "inconclusive"


def test_judge_fails_when_the_nets_differ_in_size() -> None:
    s = summary(flow=(0.2, -0.5), reuse=0.8, mem=(0.2, 0.5, 0.3))
    s = copy.deepcopy(s) | {"params": {"relative_difference": 0.3}}
    verdict = judge(TINY, s)
    assert not verdict.ok and "not matched" in verdict.text
