"""The shared pieces of the block ablations: rows, rank agreement and variant checks."""

from __future__ import annotations

import pytest

from reslab.experiments.ablation import (
    AblationConfig,
    VariantRecord,
    check_variants,
    rank_agreement,
    variant_rows,
)
from reslab.experiments.stats import Threshold


def record(variant: str, seed: int, test: float, grads: list[float] | None = None) -> VariantRecord:
    grads = grads or [1.0, 1.0]
    return VariantRecord(variant, seed, test / 2, test, "completed", None, grads, grads, grads, 1.0)


def test_rows_compare_every_variant_with_the_reference() -> None:
    config = AblationConfig(variants=("a", "b"), seeds=2)
    records = [record("a", s, 10 + s, [1.0, 2.0]) for s in range(2)]
    records += [record("b", s, 30 + s, [0.01, 1.0]) for s in range(2)]
    rows = {r["variant"]: r for r in variant_rows(config, records, "a", Threshold(absolute=1.0))}
    assert rows["a"]["vs_a"] == "—" and rows["b"]["vs_a"] == "worse"
    assert rows["b"]["test_err_mean"] == 30.5 and rows["b"]["train_err_mean"] == 15.25
    assert rows["a"]["grad_first_over_last_init"] == pytest.approx(0.5)
    assert rows["b"]["grad_first_over_last_init"] == pytest.approx(0.01)
    assert rows["b"]["gap"] == pytest.approx(20.0)


def test_rank_agreement_is_spearman_with_ties() -> None:
    assert rank_agreement({"a": 1, "b": 2, "c": 3}, {"a": 5, "b": 6, "c": 9}) == pytest.approx(1)
    assert rank_agreement({"a": 3, "b": 2, "c": 1}, {"a": 5, "b": 6, "c": 9}) == pytest.approx(-1)
    assert rank_agreement({"a": 1, "b": 2}, {"a": 1, "b": 2}) is None  # under three in common
    # Tied paper values ("fail") share a rank: rho of (0, 1, 2, 3) and (0, 1, 2.5, 2.5).
    rho = rank_agreement({"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": 2, "c": 9, "d": 9})
    assert rho == pytest.approx(0.9486832980505138)


def test_check_variants_names_the_problem() -> None:
    def spec(v: str) -> None:
        if v not in ("a", "b"):
            raise ValueError(f"variant {v!r} unknown; accepted: a, b")

    with pytest.raises(ValueError, match="accepted: a, b"):
        check_variants(("a", "z"), "a", spec)
    with pytest.raises(ValueError, match="must include the reference 'a'"):
        check_variants(("b",), "a", spec)
    with pytest.raises(ValueError, match="repeats"):
        check_variants(("a", "a"), "a", spec)
