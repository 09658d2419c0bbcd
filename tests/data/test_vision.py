from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.data import DataError, load_data

from .builders import CIFAR, build_cifar


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_loads_from_torchvision_format(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = build_cifar(tmp_path, name, monkeypatch)
    bundle = load_data(name, data_dir=tmp_path)
    n = 4 * len(CIFAR[name][0].train_list)  # 5 batch files for CIFAR-10, 1 for CIFAR-100
    assert bundle.train.x.shape == (n, 3, 32, 32) and bundle.train.x.dtype == torch.uint8
    # torchvision's rows are CHW-flattened (1024 R, then G, then B): the same bytes in NCHW.
    assert np.array_equal(bundle.train.x.flatten(1).numpy(), expected["train_x"])
    assert np.array_equal(bundle.train.y.numpy(), expected["train_y"])
    assert np.array_equal(bundle.test.x.flatten(1).numpy(), expected["test_x"])
    assert bundle.num_classes == CIFAR[name][3] and bundle.classes[1] == "class1"
    assert bundle.input_size == (3, 32, 32) and bundle.dims == 2
    assert bundle.default_augment.crop_padding == 4 and bundle.default_augment.flip
    mean = expected["train_x"].reshape(n, 3, -1).transpose(1, 0, 2).reshape(3, -1).mean(1) / 255
    np.testing.assert_allclose(bundle.mean, mean, rtol=1e-9)


def test_data_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_cifar(tmp_path, "cifar10", monkeypatch)
    monkeypatch.setenv("RESLAB_DATA_DIR", str(tmp_path))
    assert len(load_data("cifar10").test) == 6


def test_missing_dataset_gives_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_data("cifar10", data_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "no files there (expected data_batch_1, data_batch_2" in message
    for fix in ("--data-dir", "RESLAB_DATA_DIR", "--download"):
        assert fix in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_missing_mnist_names_the_default_root(tmp_path: Path) -> None:
    # conftest points RESLAB_DATA_DIR at an empty folder.
    with pytest.raises(
        DataError, match=re.escape(str(tmp_path / "no-datasets-here" / "MNIST" / "raw"))
    ):
        load_data("mnist")


def test_corrupted_cifar_file_fails_torchvisions_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_cifar(tmp_path, "cifar10", monkeypatch)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DataError, match="data_batch_2 fail torchvision's md5 check"):
        load_data("cifar10", data_dir=tmp_path)


def test_download_without_network_gives_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as err:
        load_data("cifar10", data_dir=tmp_path, download=True)
    message = str(err.value)
    assert str(tmp_path) in message and "download failed" in message and "unreachable" in message


@pytest.fixture
def mnist_root(shared_data: Path, tmp_path: Path) -> Path:
    """The shared .gz files linked into a writable root (torchvision extracts next to them)."""
    for folder in ("MNIST", "FashionMNIST"):
        raw = tmp_path / folder / "raw"
        raw.mkdir(parents=True)
        for gz in (shared_data / folder / "raw").glob("*.gz"):
            (raw / gz.name).symlink_to(gz)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "mean", "std"), [("mnist", 0.1307, 0.3081), ("fashion_mnist", 0.2860, 0.3530)]
)
def test_mnist_and_fashion_from_the_real_files(
    mnist_root: Path, name: str, mean: float, std: float
) -> None:
    bundle = load_data(name, data_dir=mnist_root)  # download=False: verified and extracted offline
    assert bundle.train.x.shape == (60_000, 1, 28, 28) and bundle.test.x.shape == (
        10_000,
        1,
        28,
        28,
    )
    assert bundle.train.x.dtype == torch.uint8 and bundle.train.y.dtype == torch.int64
    assert set(bundle.test.y.tolist()) == set(range(10))
    assert bundle.num_classes == 10 and bundle.in_channels == 1
    assert bundle.mean[0] == pytest.approx(mean, abs=1e-4) and bundle.std[0] == pytest.approx(
        std, abs=1e-4
    )
    assert not bundle.default_augment.moves_pixels


def test_corrupted_mnist_archive_is_rejected(mnist_root: Path) -> None:
    archive = mnist_root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    data = archive.read_bytes()
    archive.unlink()
    archive.write_bytes(data[:-10])
    with pytest.raises(
        DataError, match=r"train-labels-idx1-ubyte\.gz fail torchvision's md5 check"
    ):
        load_data("mnist", data_dir=mnist_root)
