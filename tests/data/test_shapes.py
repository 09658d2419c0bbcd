"""The generated segmentation set: deterministic, exact masks, balanced classes, thin parts."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reslab.data import load_data
from reslab.data.shapes import BACKGROUND, CLASSES, load_shapes, render


def test_same_seed_same_bytes_and_the_documented_layout() -> None:
    a, b = load_shapes(32, 16, 8), load_shapes(32, 16, 8)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.y[:8], a.test.y)  # train and test are drawn apart
    assert a.train.x.dtype == torch.uint8 and a.train.x.shape == (16, 1, 32, 32)
    assert a.train.y.dtype == torch.int64 and a.train.y.shape == (16, 32, 32)
    assert a.num_classes == len(CLASSES) == 3 and a.input_size == (1, 32, 32)


def test_masks_are_the_noiseless_rendering_classes() -> None:
    clean, masks = render(64, 11)
    # Every shape is brighter than the background: a pixel is foreground iff its mask says so.
    assert np.array_equal(clean > BACKGROUND, masks > 0)
    bundle = load_data("shapes")
    assert torch.equal(bundle.train.y[:64], torch.from_numpy(masks))
    noise = bundle.train.x[:64, 0].double().numpy() - clean
    unclipped = (clean > 60) & (clean < 195)  # away from 0 and 255, rounding only
    assert abs(noise[unclipped].mean()) < 1.0 and 20 < noise[unclipped].std() < 30


def test_classes_are_balanced_and_in_every_image() -> None:
    y = load_data("shapes").train.y
    share = [(y == c).double().mean().item() for c in range(3)]
    assert 0.8 < share[0] < 0.95 and share[1] > 0.04 and share[2] > 0.03
    for c in (1, 2):
        assert (y == c).flatten(1).any(1).all()


def test_thin_structures_vanish_under_one_erosion_and_thick_ones_do_not() -> None:
    y = torch.from_numpy(render(200, 11)[1])

    def surviving(c: int) -> float:
        mask = (y == c).double().unsqueeze(1)
        return float((-F.max_pool2d(-mask, 3, 1, 1)).sum() / mask.sum())

    assert surviving(1) < 0.05  # 1-3 px wide: a 3x3 erosion removes them
    assert surviving(2) > 0.4
