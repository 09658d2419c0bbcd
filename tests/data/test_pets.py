"""Oxford-IIIT Pet segmentation, loaded from a small tree in torchvision's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.data import DataError, load_data
from reslab.data.pets import IGNORE_INDEX, trimap_to_mask
from reslab.training import objective

from .builders import write_oxford_pet


def test_loads_resized_images_and_mapped_trimaps(tmp_path: Path) -> None:
    write_oxford_pet(
        tmp_path, {"trainval": ["Abyssinian_1", "beagle_2", "beagle_3"], "test": ["pug_4"]}
    )
    bundle = load_data("oxford_pet", data_dir=tmp_path)
    assert bundle.train.x.shape == (3, 3, 128, 128) and bundle.train.x.dtype == torch.uint8
    assert bundle.test.y.shape == (1, 128, 128) and bundle.test.y.dtype == torch.int64
    assert bundle.num_classes == 2 and bundle.classes == ["background", "pet"]
    y = bundle.train.y[0]
    assert set(y.unique().tolist()) == {IGNORE_INDEX, 0, 1}  # nearest resizing: no new values
    assert y[64, 64] == 1 and y[0, 0] == 0 and y[22, 64] == IGNORE_INDEX
    assert bundle.default_augment.flip


def test_trimap_values_map_to_classes_and_the_objective_ignores_the_band() -> None:
    assert IGNORE_INDEX == objective.IGNORE_INDEX
    mask = trimap_to_mask(np.array([[1, 2, 3]], dtype=np.uint8))
    assert mask.tolist() == [[1, 0, IGNORE_INDEX]] and mask.dtype == np.int64


def test_a_missing_tree_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"oxford_pet: cannot load from .*oxford-iiit-pet.*--download"
    ):
        load_data("oxford_pet", data_dir=tmp_path)
