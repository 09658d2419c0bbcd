"""Segmentation scores: mean IoU over classes, and the boundary F1 score (BF) of Csurka et al. 2013
("What is a good evaluation measure for semantic segmentation?", Sec. 4), which scores only the
pixels along the edges, where the spatial detail of a segmentation lies.

Masks are int64 (N, H, W); pixels whose truth is -100 (the objective's ignore index) count in
neither score.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def confusion(pred: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) pixel counts, rows the true class, columns the predicted."""
    counted = truth != IGNORE_INDEX
    index = truth[counted] * num_classes + pred[counted]
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def class_iou(matrix: torch.Tensor) -> list[float]:
    """IoU = TP / (TP + FP + FN) per class over all pixels; NaN for a class that is neither in
    the truth nor in the prediction (its IoU is undefined, not 0 or 1)."""
    tp = matrix.diag().double()
    union = matrix.sum(0).double() + matrix.sum(1).double() - tp
    return [float(t / u) if u > 0 else math.nan for t, u in zip(tp, union, strict=True)]


def mean_iou(matrix: torch.Tensor) -> float:
    values = [v for v in class_iou(matrix) if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def boundary(mask: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
    """The pixels of a binary (N, H, W) mask with a neighbour (of 8) outside it. Outside the image
    counts as neither, so the image's own edge is no boundary; with ``known``, neither do pixels
    whose truth is unknown (an edge needs both sides known)."""
    known = torch.ones_like(mask) if known is None else known
    other = (~mask & known).float().unsqueeze(1)
    touches = F.max_pool2d(other, 3, stride=1, padding=1).squeeze(1) > 0
    return mask & known & touches


def _near(edges: torch.Tensor, tolerance: int) -> torch.Tensor:
    # Within `tolerance` pixels in the chessboard distance (a (2t+1)^2 square around each pixel).
    if tolerance == 0:
        return edges
    k = 2 * tolerance + 1
    return F.max_pool2d(edges.float().unsqueeze(1), k, stride=1, padding=tolerance).squeeze(1) > 0


def boundary_f1_per_image(
    pred: torch.Tensor, truth: torch.Tensor, num_classes: int, tolerance: int = 1
) -> torch.Tensor:
    """(N, num_classes) BF scores: per image and class, precision = the share of predicted
    boundary pixels within ``tolerance`` px of a true one, recall the converse, F1 their harmonic
    mean. NaN where neither mask has a boundary of that class; 0 where only one does."""
    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance} must be >= 0")
    counted = truth != IGNORE_INDEX
    scores = torch.full((len(truth), num_classes), math.nan, dtype=torch.float64)
    for c in range(num_classes):
        true_b = boundary(truth == c, counted)
        pred_b = boundary(pred == c, counted)
        n_true, n_pred = true_b.sum((1, 2)).double(), pred_b.sum((1, 2)).double()
        hit_p = (pred_b & _near(true_b, tolerance)).sum((1, 2)).double()
        hit_r = (true_b & _near(pred_b, tolerance)).sum((1, 2)).double()
        precision = torch.where(n_pred > 0, hit_p / n_pred.clamp_min(1), torch.zeros_like(hit_p))
        recall = torch.where(n_true > 0, hit_r / n_true.clamp_min(1), torch.zeros_like(hit_r))
        total = precision + recall
        f1 = torch.where(total > 0, 2 * precision * recall / total.clamp_min(1e-12), 0.0)
        scores[:, c] = torch.where((n_true > 0) | (n_pred > 0), f1, math.nan)
    return scores


def mean_boundary_f1(scores: torch.Tensor) -> tuple[float, list[float]]:
    """The mean BF (Csurka et al.: per class the mean over the images where it is defined, then
    the mean over classes) and the per-class means."""
    per_class = [float(col[~col.isnan()].mean()) if (~col.isnan()).any() else math.nan
                 for col in scores.T]  # fmt: skip
    defined = [v for v in per_class if not math.isnan(v)]
    return (sum(defined) / len(defined) if defined else math.nan), per_class
