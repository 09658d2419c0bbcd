from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from reslab.data import DataError, Split, load_data, make_loader
from reslab.data import imagefolder as imf

from .builders import write_image_folder
from .conftest import shared_data_dir

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


@pytest.fixture(scope="module")
def subset() -> object:
    root = shared_data_dir() / "cifar10-subset"
    if not root.is_dir():
        pytest.skip(f"shared CIFAR-10 subset not found at {root} (set RESLAB_SHARED_DATA)")
    return load_data(f"imagefolder:{root}")


def test_cifar10_subset_loads_as_tensors(subset: object) -> None:
    bundle = subset
    assert isinstance(bundle.train, Split) and isinstance(bundle.test, Split)
    assert bundle.classes == CIFAR10_CLASSES and bundle.num_classes == 10
    assert (len(bundle.train), len(bundle.test)) == (4000, 1000)
    assert bundle.train.x.shape[1:] == (3, 32, 32) and bundle.input_size == (3, 32, 32)
    assert set(bundle.train.y.unique().tolist()) == set(range(10))
    # The per-channel statistics the shared README states for this subset.
    np.testing.assert_allclose(bundle.mean, (0.4916, 0.4818, 0.4447), atol=1e-4)
    np.testing.assert_allclose(bundle.std, (0.2471, 0.2440, 0.2625), atol=1e-4)
    assert bundle.default_augment.crop_padding == 4 and bundle.default_augment.flip


def test_cifar10_subset_pixels_and_labels_match_the_files(subset: object) -> None:
    bundle = subset
    root = Path(bundle.source)
    files = sorted((root / "test" / "ship").glob("*.png"))
    first_ship = int((bundle.test.y == CIFAR10_CLASSES.index("ship")).nonzero()[0])
    pixels = np.asarray(Image.open(files[0]).convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(bundle.test.x[first_ship].numpy(), pixels)


def test_val_folder_stands_in_for_test(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"train": {"a": 3, "b": 2}, "val": {"a": 1, "b": 2}})
    bundle = load_data(f"imagefolder:{tmp_path}")
    assert len(bundle.test) == 3 and bundle.val is None
    assert bundle.test.y.tolist() == [0, 1, 1]


def test_val_and_test_folders_give_three_splits(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"train": {"a": 3, "b": 2}, "test": {"a": 1}, "val": {"b": 2}})
    bundle = load_data(f"imagefolder:{tmp_path}")
    assert len(bundle.test) == 1 and len(bundle.val) == 2
    # A split missing a class keeps train's label indices.
    assert bundle.test.y.tolist() == [0] and bundle.val.y.tolist() == [1, 1]
    with pytest.raises(DataError, match="already has a val split"):
        load_data(f"imagefolder:{tmp_path}", val_size=1)


def test_unknown_class_in_test_is_an_error(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"train": {"a": 2}, "test": {"a": 1, "zebra": 1}})
    with pytest.raises(DataError, match="zebra"):
        load_data(f"imagefolder:{tmp_path}")


def test_bad_layout_names_the_expected_folders(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"train": {"a": 2}})
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'test'}/<class>")):
        load_data(f"imagefolder:{tmp_path}")


@pytest.mark.parametrize("workers", [0, 1])
def test_dataset_path_yields_the_same_batches_as_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    write_image_folder(tmp_path, {"train": {"a": 7, "b": 6, "c": 5}, "test": {"a": 2, "b": 3}})
    fast = load_data(f"imagefolder:{tmp_path}")
    monkeypatch.setattr(imf, "FAST_PATH_MAX_BYTES", 0)
    slow = load_data(f"imagefolder:{tmp_path}")
    assert isinstance(slow.train, Dataset) and not isinstance(slow.train, Split)
    # With fewer than STATS_SAMPLE images the "sample" is the whole train split.
    np.testing.assert_allclose(slow.mean, fast.mean, rtol=1e-12)
    for split, train in (("train", True), ("test", False)):
        loaders = [
            make_loader(b, split, batch_size=4, train=train, seed=9, num_workers=workers)
            for b in (fast, slow)
        ]
        assert len(loaders[0]) == len(loaders[1])
        for epoch in (3, 4):  # persistent workers must follow each new epoch's order
            for loader in loaders:
                loader.set_epoch(epoch)
            for (xa, ya), (xb, yb) in zip(*loaders, strict=True):
                assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_mixed_sizes_fall_back_to_a_resizing_dataset(tmp_path: Path) -> None:
    write_image_folder(tmp_path, {"train": {"a": 2}, "test": {"a": 1}}, size=(8, 6))
    write_image_folder(tmp_path / "more", {"train": {"b": 2}}, size=(12, 12))
    (tmp_path / "more" / "train" / "b").rename(tmp_path / "train" / "b")
    bundle = load_data(f"imagefolder:{tmp_path}")
    assert not isinstance(bundle.train, Split)
    assert bundle.input_size == (3, 8, 6)
    x, y = next(iter(make_loader(bundle, "train", batch_size=4, train=True, num_workers=0)))
    assert x.shape == (4, 3, 8, 6) and sorted(y.tolist()) == [0, 0, 1, 1]
