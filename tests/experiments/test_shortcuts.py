"""The shortcut-variants experiment (He et al. 2016, Table 1; He et al. 2015, Table 3)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from tests.experiments.tiny import SHORTCUTS as TINY

from reslab.data import load_data
from reslab.experiments.ablation import VariantRecord
from reslab.experiments.ablation import tasks as variant_tasks
from reslab.experiments.registry import load_result
from reslab.experiments.shortcuts import (
    DEFAULT_VARIANTS,
    FAIL,
    PRESETS,
    build,
    followup,
    judge,
    summarize,
    tasks,
)
from reslab.nn.mappings import shortcut_variant
from reslab.nn.shortcuts import NoShortcut
from reslab.probes.gradients import measurement_batches, shortcut_path_norms

pytestmark = pytest.mark.usefixtures("one_thread")


def test_variant_names_parse_to_the_papers_rows() -> None:
    assert shortcut_variant("identity")[0] == "A" and shortcut_variant("identity")[1].is_identity
    assert shortcut_variant("C") == ("C", shortcut_variant("identity")[1])
    shortcut, mapping = shortcut_variant("exclusive_gate_b-6.5")
    assert (shortcut, mapping.gate, mapping.gate_bias) == ("A", "exclusive", -6.5)
    assert shortcut_variant("shortcut_gate_b0")[1].gate_bias == 0.0
    assert shortcut_variant("scale_both")[1].branch_scale == 0.5
    with pytest.raises(ValueError, match="accepted: identity, B, C, plain"):
        shortcut_variant("gate_b-6")


def test_every_default_variant_builds_its_shortcut() -> None:
    bundle = load_data("synthetic1d")
    for variant in DEFAULT_VARIANTS:
        # The calibrated gate is built at each b_g of the search: one stands for all.
        variant = "exclusive_gate_b-6" if variant == "exclusive_gate" else variant
        net = build(replace(TINY, depth=20), variant, bundle)
        blocks = net.blocks
        if variant == "plain":
            assert all(isinstance(b.shortcut, NoShortcut) for b in blocks)
        elif variant == "C":  # a 1x1 projection on every block, not only where shapes change
            assert all(hasattr(b, "downsample") for b in blocks)
        elif variant in ("identity", "B"):
            assert not any(hasattr(b, "mapping") for b in blocks)
        else:
            assert all(hasattr(b, "mapping") for b in blocks)


def path_ratio(variant: str, seed: int = 0) -> float:
    bundle = load_data("synthetic1d")
    batches = measurement_batches(bundle, 1, 64, torch.device("cpu"))
    torch.manual_seed(seed)
    norms = shortcut_path_norms(build(replace(TINY, depth=20), variant, bundle), batches)
    return norms[0] / norms[-1] if norms[-1] else 0.0


def test_the_shortcut_path_carries_lambda_to_the_power_of_the_blocks() -> None:
    # lambda = 0.5 on the 8 blocks between the first and the last: 0.5^8 = 1/256 of what the
    # identity's path carries (He et al. 2016, eq. 7), up to the ReLU masks. Measured 1/710
    # (seed 0): 0.36 x 0.5^8.
    ratio = path_ratio("scale") / path_ratio("identity")
    assert 0.5**8 / 10 < ratio < 0.5**8 * 1.5
    assert path_ratio("exclusive_gate_b-6") > path_ratio("exclusive_gate_b0") * 20
    assert path_ratio("plain") == 0.0


def test_tiny_run_records_every_variant_and_seed(tiny_run) -> None:
    run_dir = tiny_run("shortcuts")
    r = load_result(run_dir)
    assert sorted((x.variant, x.seed) for x in r.records) == sorted(
        (v, s) for v in TINY.variants for s in range(2)
    )
    assert all(len(x.grad_init) == 3 and len(x.grad_trained) == 3 for x in r.records)
    rows = {row["variant"]: row for row in r.summary["variants"]}
    assert rows["identity"]["vs_identity"] == "—"
    assert rows["scale"]["paper_test_err"] == FAIL  # the reference, on any data
    assert rows["identity"]["paper_imagenet_top1"] == 25.03
    assert (run_dir / "variants.csv").read_text().startswith("variant,seeds,test_err_mean")


def rec(variant: str, seed: int, test: float) -> VariantRecord:
    return VariantRecord(variant, seed, test, test, "completed", None, [1.0], [1.0], [1.0], 0.0)


def summary_for(errors: dict[str, list[float]], data: str = "cifar10") -> dict:
    config = replace(TINY, variants=tuple(errors), data=data, seeds=3)
    records = [rec(v, s, e) for v, errs in errors.items() for s, e in enumerate(errs)]
    return summarize(config, records)


def test_summary_puts_the_papers_numbers_beside_ours() -> None:
    s = summary_for({"identity": [7, 7, 7], "scale": [30, 31, 29], "C": [8, 8, 8],
                     "plain": [9, 9, 9]})  # fmt: skip
    rows = {r["variant"]: r for r in s["variants"]}
    assert rows["identity"]["paper_test_err"] == 6.61
    assert rows["scale"]["paper_test_err"] == FAIL
    assert rows["C"]["paper_imagenet_top1"] == 24.19 and rows["plain"]["paper_test_err"] is None
    assert s["rank_agreement_table1"] == pytest.approx(1.0)


def test_judge_passes_when_identity_wins() -> None:
    s = summary_for({"identity": [7, 7.2, 6.8], "scale": [40, 41, 39], "dropout": [50, 52, 48],
                     "shortcut_gate_b-6": [7.3, 7.0, 7.1]})  # fmt: skip
    v = judge(TINY, s)
    assert v.ok and v.numbers["worse_than_identity"] == ["scale", "dropout"]
    assert v.numbers["beat_identity"] == [] and "beats" in v.text


def test_judge_fails_when_a_manipulation_wins_or_a_paper_failure_trains_fine() -> None:
    v = judge(TINY, summary_for({"identity": [10, 10, 10], "scale_both": [5, 5, 5]}))
    assert not v.ok and v.numbers["beat_identity"] == ["scale_both"]
    v = judge(TINY, summary_for({"identity": [10, 10, 10], "dropout": [10.2, 9.9, 10.1]}))
    assert not v.ok and v.numbers["paper_failures_not_worse"] == ["dropout"]
    assert v.parts["paper_failures_worse"] == "contradicted" and "does not beat" in v.text


def test_tasks_cover_variants_and_seeds() -> None:
    keys = [t.key for t in variant_tasks(TINY, None)]
    assert keys[:3] == ["identity_seed0", "scale_seed0", "exclusive_gate_b-6_seed0"]
    assert len(keys) == 6


def test_presets() -> None:
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    assert quick.data == "mnist1d" and quick.seeds >= 3 and quick.depth == 20
    assert quick.epochs == 8
    assert paper.data == "cifar10" and paper.depth == 110 and paper.steps == 64000
    assert set(DEFAULT_VARIANTS) <= set(paper.variants) and -7.0 in paper.gate_biases
    assert -6.0 in quick.gate_biases and quick.calibration_seeds >= 2


def test_arrays_hold_both_profiles(tiny_run) -> None:
    from reslab.experiments.result import load_arrays

    arrays = load_arrays(tiny_run("shortcuts"))
    assert arrays["scale_seed1_grad"].shape == (3, 3)
    assert np.all(np.isfinite(arrays["identity_seed0_grad"]))


def test_the_exclusive_gate_is_calibrated_apart_and_confirmed_at_its_best_bias() -> None:
    config = replace(TINY, variants=("identity", "plain", "exclusive_gate"), seeds=2,
                     gate_biases=(0.0, -6.0), calibration_seeds=2)  # fmt: skip
    first = [t.key for t in tasks(config, None)]
    assert first == ["identity_seed0", "plain_seed0", "identity_seed1", "plain_seed1",
                     "exclusive_gate_b0_seed1000", "exclusive_gate_b0_seed1001",
                     "exclusive_gate_b-6_seed1000", "exclusive_gate_b-6_seed1001"]  # fmt: skip
    calibration = [rec(v, s, e) for v, e in (("exclusive_gate_b0", 80.0),
                   ("exclusive_gate_b-6", 9.0)) for s in (1000, 1001)]  # fmt: skip
    assert [t.key for t in followup(config, calibration)] == [
        "exclusive_gate_b-6_seed0", "exclusive_gate_b-6_seed1"]
    confirmation = [rec(v, s, e) for v, e in (("identity", 7.0), ("plain", 12.0),
                    ("exclusive_gate_b-6", 8.0)) for s in (0, 1)]  # fmt: skip
    summary = summarize(config, calibration + confirmation)
    assert summary["calibrated_gate"] == "exclusive_gate_b-6"
    variants = [r["variant"] for r in summary["variants"]]
    assert variants == ["identity", "plain", "exclusive_gate_b-6"]
    assert [r["chosen"] for r in summary["calibration"]] == [False, True]
    v = judge(config, summary)
    # b_g = 0 "fails" in Table 1, but the calibrated gate is the search's best: not judged so.
    assert v.numbers["paper_failures_not_worse"] == []
    assert "calibrated to exclusive_gate_b-6" in v.text
    assert v.parts["options_beat_plain"] == "reproduced"
