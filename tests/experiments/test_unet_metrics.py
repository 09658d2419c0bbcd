"""Mean IoU and the boundary F1 score on hand-made masks."""

from __future__ import annotations

import math

import pytest
import torch

from reslab.probes.segmentation import (
    boundary,
    boundary_f1_per_image,
    class_iou,
    confusion,
    mean_boundary_f1,
    mean_iou,
)


def square(shift: int = 0, size: int = 12) -> torch.Tensor:
    mask = torch.zeros(1, size, size, dtype=torch.long)
    mask[0, 3:9, 3 + shift : 9 + shift] = 1
    return mask


def bf(pred: torch.Tensor, truth: torch.Tensor, tolerance: int, classes: int = 2) -> float:
    return mean_boundary_f1(boundary_f1_per_image(pred, truth, classes, tolerance))[0]


def test_a_perfect_prediction_scores_one() -> None:
    truth = square()
    assert mean_iou(confusion(truth, truth, 2)) == 1.0
    assert bf(truth, truth, 0) == 1.0


def test_iou_counts_pixels_and_skips_ignored_ones() -> None:
    truth = torch.tensor([[[0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1]]])
    assert class_iou(confusion(pred, truth, 2)) == [1 / 2, 2 / 3]
    truth_ignored = torch.tensor([[[0, -100, 1, 1]]])
    assert mean_iou(confusion(pred, truth_ignored, 2)) == 1.0


def test_a_class_absent_from_truth_and_prediction_is_left_out() -> None:
    truth = pred = torch.tensor([[[0, 0, 1, 1]]])
    ious = class_iou(confusion(pred, truth, 3))
    assert ious[:2] == [1.0, 1.0] and math.isnan(ious[2])
    assert mean_iou(confusion(pred, truth, 3)) == 1.0
    scores = boundary_f1_per_image(square(), square(), 3, 1)
    assert math.isnan(scores[0, 2]) and mean_boundary_f1(scores)[0] == 1.0


def test_a_class_predicted_but_absent_scores_zero() -> None:
    truth = torch.zeros(1, 12, 12, dtype=torch.long)
    scores = boundary_f1_per_image(square(), truth, 2, 1)
    assert scores[0, 1] == 0.0  # predicted edges, none true
    assert scores[0, 0] == 0.0  # the background has predicted edges too, and no true ones


def test_boundary_is_the_one_pixel_ring_inside_the_shape() -> None:
    ring = boundary(square() == 1)
    assert ring.sum() == 6 * 4 - 4  # a 6x6 square's outline
    assert not ring[0, 4:8, 4:8].any()
    full = torch.ones(1, 5, 5, dtype=torch.bool)
    assert not boundary(full).any()  # the image's own edge is no boundary


def test_a_one_pixel_shift_is_within_a_tolerance_of_one_but_not_of_zero() -> None:
    truth, shifted = square(), square(shift=1)
    assert bf(shifted, truth, 1) == 1.0
    strict = bf(shifted, truth, 0)
    assert 0.0 < strict < 1.0
    assert bf(square(shift=3), truth, 1) < strict + 0.2  # further off scores no better
    with pytest.raises(ValueError, match="tolerance=-1"):
        bf(truth, truth, -1)


def test_ignored_truth_pixels_are_no_edges() -> None:
    truth = square()
    truth[0, :, :6] = -100  # the left half of the square's outline is unknown
    pred = square()
    pred[0, 3:9, 3:6] = 0  # and the prediction there is wrong
    assert bf(pred, truth, 0) == 1.0 and mean_iou(confusion(pred, truth, 2)) == 1.0
    assert bf(pred, square(), 0) < 0.8  # the same prediction against the whole truth
