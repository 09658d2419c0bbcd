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
        dense, res = (count_params(build(config, n, shape)) for n in NETS)
        assert abs(dense - res) / res < tolerance, (preset, dense, res)
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


def test_tasks_cover_nets_memory_variants_and_seeds() -> None:
    keys = [t.key for t in tasks(TINY, None)]
    assert len(keys) == TINY.seeds * (len(NETS) + 2 * len(MEMORY_VARIANTS))
    assert "densenet_seed1" in keys and "memory_densenet_efficient_b32_seed0" in keys


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


def summary(*, flow: tuple[float, float], reuse: float, mem: tuple[float, float, float]) -> Any:
    """A hand-made summary: log10 first/last gradient ratios (DenseNet, ResNet), the DenseNet's
    trained reuse, and MB per sample (ResNet, DenseNet, memory-efficient DenseNet)."""
    spread = np.array([-0.01, 0.0, 0.01])
    key = "log10_grad_first_over_last_trained"
    nets = [
        {"net": "densenet", "params": 1000, "reuse_trained_mean": reuse, f"{key}_mean": flow[0]},
        {"net": "resnet", "params": 1010, f"{key}_mean": flow[1]},
    ]
    memory = [
        {"variant": v, "mb_per_sample_mean": m, "vs_resnet": m / mem[0]}
        for v, m in zip(MEMORY_VARIANTS, mem, strict=True)
    ]
    per_seed = {
        "densenet": {key: list(flow[0] + spread)},
        "resnet": {key: list(flow[1] + spread)},
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
