"""The U-Net long-skip experiment (Ronneberger et al. 2015; Drozdzal et al. 2016)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from tests.experiments.tiny import UNET as TINY

from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.experiments.unet import (
    PRESETS,
    UnetRecord,
    check,
    judge,
    summarize,
    tasks,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tiny_run_scores_every_variant_and_seed(tiny_run) -> None:
    run_dir = tiny_run("unet")
    r = load_result(run_dir)
    assert sorted((x.skip, x.block, x.seed) for x in r.records) == sorted(
        (s, b, seed) for s in TINY.skips for b in TINY.blocks for seed in range(2)
    )
    for x in r.records:
        assert 0 <= x.mean_iou <= 1 and 0 <= x.boundary_f1 <= 1 and len(x.class_iou) == 3
        assert (len(x.predictions) == 2) == (x.seed == 0)
    rows = r.summary["variants"]
    assert [(row["skip"], row["block"]) for row in rows][:2] == [
        ("concat", "plain"),
        ("none", "plain"),
    ]
    assert rows[0]["paper_phc_u373_iou_pct"] == 92.03 and rows[0]["boundary_f1_vs_none"] != "—"
    assert rows[1]["boundary_f1_vs_none"] == "—"
    assert (run_dir / "variants.csv").read_text().startswith("skip,block,seeds,params")


def test_arrays_keep_example_predictions(tiny_run) -> None:
    arrays = load_arrays(tiny_run("unet"))
    assert arrays["pred_concat-plain"].shape == (2, 48, 48)
    assert arrays["image"].shape == (2, 1, 48, 48) and arrays["truth"].shape == (2, 48, 48)
    assert set(np.unique(arrays["truth"])) <= {0, 1, 2}


def rec(skip: str, block: str, seed: int, iou: float, bf1: float) -> UnetRecord:
    return UnetRecord(skip, block, seed, iou, bf1, [iou] * 3, [bf1] * 3, 1.0, 0.1, 100,
                      "completed", 0.0, [])  # fmt: skip


def summary_for(scores: dict[tuple[str, str], tuple[list[float], list[float]]]) -> dict:
    config = replace(TINY, skips=("concat", "add", "none"), blocks=("plain", "residual"), seeds=3)
    records = [rec(skip, block, s, iou[s], bf[s]) for (skip, block), (iou, bf) in scores.items()
               for s in range(3)]  # fmt: skip
    return summarize(config, records)


def uniform(none_bf: float, skip_bf: float, residual_gain: float = 0.0) -> dict:
    out = {}
    for block, gain in (("plain", 0.0), ("residual", residual_gain)):
        out[("none", block)] = ([0.6 + gain] * 3, [none_bf + gain + d for d in (0, 0.01, -0.01)])
        for skip in ("concat", "add"):
            out[(skip, block)] = ([0.9 + gain] * 3, [skip_bf + gain + d for d in (0, 0.01, -0.01)])
    return out


def test_judge_passes_when_every_long_skip_beats_none_on_edges() -> None:
    v = judge(TINY, summary_for(uniform(0.75, 0.97, residual_gain=0.02)))
    assert v.ok and len(v.numbers["recover_detail"]) == 4
    assert "recover" in v.text and "BF +22.0" in v.text and "IoU +30.0" in v.text
    residual = {e["skip"]: e for e in v.numbers["residual_vs_plain"]}
    assert residual["none"]["boundary_f1_outcome"] == "better"
    assert residual["none"]["boundary_f1_gap"] == pytest.approx(2.0)


def test_judge_counts_an_iou_gain_with_edges_tied() -> None:
    scores = uniform(0.97, 0.975)  # edges tied within the threshold, IoU +30 points
    v = judge(TINY, summary_for(scores))
    assert v.ok and len(v.numbers["recover_detail"]) == 4


def test_judge_fails_when_a_skip_gains_nothing_or_loses_somewhere() -> None:
    scores = uniform(0.90, 0.905)
    for key, (_, bf) in scores.items():  # IoU tied too
        scores[key] = ([0.8, 0.81, 0.79], bf)
    v = judge(TINY, summary_for(scores))
    assert not v.ok and v.numbers["recover_detail"] == []
    assert "do not clearly recover" in v.text
    scores = uniform(0.75, 0.97)
    scores[("add", "plain")] = ([0.5] * 3, [0.99] * 3)  # edges better, IoU much worse
    v = judge(TINY, summary_for(scores))
    assert not v.ok and v.numbers["worse_than_none"] == ["add-plain"]


def test_tasks_cover_skips_blocks_and_seeds() -> None:
    keys = [t.key for t in tasks(TINY, None)]
    assert keys[:2] == ["concat_plain_seed0", "none_plain_seed0"] and len(keys) == 4


def test_presets() -> None:
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    assert quick.data == "shapes" and quick.seeds >= 3 and quick.levels == 3
    assert quick.first_seed >= 3  # fresh seeds: the rule changed after a run on seeds 0-2
    assert set(quick.skips) == {"concat", "add", "none"} and set(quick.blocks) == {
        "plain",
        "residual",
    }
    assert paper.data == "oxford_pet" and (paper.levels, paper.width) == (5, 64)
    check(paper)  # the paper preset validates (its data is not here to run it)
