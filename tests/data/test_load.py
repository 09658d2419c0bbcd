from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.data import DATASETS, DataBundle, DataError, Split, load_data, make_loader

from .builders import CIFAR, MNIST, build_cifar, build_mnist, write_image_folder, write_oxford_pet


def _prepare(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Tiny on-disk copies for the datasets that live on disk; the name to load."""
    if name in CIFAR:
        build_cifar(root, name, monkeypatch)
    elif name in MNIST:
        build_mnist(root, name, monkeypatch)
    elif name == "imagefolder:PATH":
        write_image_folder(root, {"train": {"cat": 3, "dog": 4}, "test": {"cat": 2, "dog": 1}})
        return f"imagefolder:{root}"
    elif name == "oxford_pet":
        names = [f"cat_{i}" for i in range(6)]
        write_oxford_pet(root, {"trainval": names, "test": ["dog_9"]})
    return name


def _check_bundle(bundle: DataBundle) -> None:
    assert bundle.in_channels == bundle.input_size[0] and bundle.dims == len(bundle.input_size) - 1
    assert len(bundle.mean) == len(bundle.std) == bundle.in_channels and min(bundle.std) > 0
    assert bundle.classes is None or len(bundle.classes) == bundle.num_classes
    for split in (bundle.train, bundle.test):
        assert isinstance(split, Split)
        assert tuple(split.x.shape[1:]) == bundle.input_size
        assert split.x.dtype == (torch.uint8 if bundle.dims == 2 else torch.float32)
        labels = split.y[split.y != -100]  # -100: pixels the objective ignores
        assert int(labels.min()) >= 0 and int(labels.max()) < bundle.num_classes


# Text datasets hold token ids, not images or sequences: tests/data/test_text.py checks them.
TEXT = ("shakespeare_char", "tinyshakespeare", "text:PATH")


@pytest.mark.parametrize("name", [n for n in DATASETS if n not in TEXT])
def test_every_dataset_loads(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    to_load = _prepare(name, tmp_path, monkeypatch)
    bundle = load_data(to_load, data_dir=tmp_path)
    assert bundle.name == to_load
    _check_bundle(bundle)
    x, y = next(iter(make_loader(bundle, "train", batch_size=4, train=True)))
    assert x.shape == (4, *bundle.input_size) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and y.dtype == torch.int64
    held_out = load_data(to_load, data_dir=tmp_path, val_size=2)
    assert len(held_out.val) == 2 and len(held_out.train) == len(bundle.train) - 2


def test_names_are_forgiving_about_case_and_dashes() -> None:
    assert load_data("Synthetic1D").name == "synthetic1d"


def test_unknown_name_lists_the_accepted_names() -> None:
    with pytest.raises(DataError) as err:
        load_data("imagenet")
    message = str(err.value)
    assert "dataset='imagenet' is unknown; accepted:" in message
    for name in DATASETS:
        assert name in message
    with pytest.raises(DataError, match="accepted"):
        load_data("imagefolder:")


def test_val_split_is_deterministic_disjoint_and_complete() -> None:
    full = load_data("synthetic")
    a = load_data("synthetic", val_size=100, seed=3)
    b = load_data("synthetic", val_size=100, seed=3)
    c = load_data("synthetic", val_size=100, seed=4)
    assert (len(a.train), len(a.val), len(a.test)) == (412, 100, 256)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.val.x, c.val.x)
    # Together the two parts are exactly the original train split (rows matched by content).
    rows = {tuple(r.tolist()) for r in full.train.x.flatten(1)}
    parts = [tuple(r.tolist()) for r in torch.cat([a.train.x, a.val.x]).flatten(1)]
    assert len(parts) == len(rows) == 512 and set(parts) == rows
    # The normalisation is re-measured on the remaining train samples only.
    assert a.mean != full.mean


def test_val_size_is_validated() -> None:
    with pytest.raises(ValueError, match="val_size=-1"):
        load_data("synthetic", val_size=-1)
    with pytest.raises(ValueError, match="val_size=512 must be smaller than the 512"):
        load_data("synthetic", val_size=512)
