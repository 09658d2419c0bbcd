"""CIFAR-10/100, MNIST and Fashion-MNIST through torchvision's classes, kept as uint8 tensors.

torchvision does the downloading and its md5 verification; we only turn its failures into one
``DataError`` that says where we looked and how to fix it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import check_integrity, extract_archive

from reslab.data.augment import Augment
from reslab.data.bundle import DataBundle, DataError, Split, channel_stats
from reslab.data.paths import DATA_ENV

_CLASSES = {
    "cifar10": "CIFAR10", "cifar100": "CIFAR100", "mnist": "MNIST", "fashion_mnist": "FashionMNIST",
}  # fmt: skip
_MNIST_LIKE = ("mnist", "fashion_mnist")


def _dataset_class(name: str) -> type[datasets.VisionDataset]:
    # Looked up at call time so tests can patch the class's checksums.
    return getattr(datasets, _CLASSES[name])


def expected_folder(name: str, root: Path) -> Path:
    cls = _dataset_class(name)
    if name in _MNIST_LIKE:
        return root / cls.__name__ / "raw"
    return root / cls.base_folder


def _expected_files(name: str, cls: type, folder: Path) -> list[tuple[str, str]]:
    """(file, md5) pairs torchvision checks; for MNIST, archives not yet extracted."""
    if name in _MNIST_LIKE:
        unpacked = {a for a, _ in cls.resources if (folder / a.removesuffix(".gz")).is_file()}
        return [(a, md5) for a, md5 in cls.resources if a not in unpacked]
    listed = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    return [(f, md5) for f, md5 in listed]


def _diagnose(files: list[tuple[str, str]], folder: Path) -> str:
    missing = [f for f, _ in files if not (folder / f).is_file()]
    corrupted = [f for f, md5 in files if f not in missing and not check_integrity(folder / f, md5)]
    if files and len(missing) == len(files):
        return f"no files there (expected {', '.join(missing)})"
    parts = [f"missing {', '.join(missing)}"] if missing else []
    if corrupted:
        parts.append(
            f"{', '.join(corrupted)} fail torchvision's md5 check (corrupted or truncated)"
        )
    return "; ".join(parts)


def _extract_verified(cls: type, folder: Path) -> None:
    """MNIST-style: torchvision only verifies the .gz files while downloading. With download=False
    we verify and extract them ourselves, so a local copy of the archives works offline."""
    for archive, md5 in cls.resources:
        extracted = folder / archive.removesuffix(".gz")
        if not extracted.is_file() and check_integrity(folder / archive, md5):
            extract_archive(str(folder / archive), str(folder))


def _fix_hint(name: str, root: Path, download: bool) -> str:
    where = expected_folder(name, root)
    hint = (
        f"Fix: point --data-dir (or {DATA_ENV}) at the folder that contains "
        f"{where.relative_to(root)}/"
    )
    if download:
        return (
            f"{hint}; the download into {root} failed: check the network or copy the files there."
        )
    return f"{hint}, or pass --download (download=True) to fetch it into {root}."


def _open(name: str, root: Path, download: bool) -> tuple[datasets.VisionDataset, ...]:
    cls = _dataset_class(name)
    folder = expected_folder(name, root)
    try:
        if name in _MNIST_LIKE and not download:
            _extract_verified(cls, folder)
        return cls(str(root), train=True, download=download), cls(str(root), train=False)
    except (RuntimeError, OSError) as err:  # urllib's URLError is an OSError
        # Diagnose only after torchvision refused, so a good copy is hashed once.
        problems = _diagnose(_expected_files(name, cls, folder), folder)
        reason = _one_line(err)
        what = problems or reason
        if download and problems:
            what = f"{what} (download failed: {reason})"
        raise DataError(
            f"{name}: cannot load from {folder}: {what}. {_fix_hint(name, root, download)}"
        ) from None


def _one_line(err: BaseException) -> str:
    # torchvision's MNIST error spans lines ("Error downloading X:" ... "<urlopen error ...>").
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"


def _to_split(dataset: datasets.VisionDataset) -> Split:
    data = dataset.data
    if isinstance(data, np.ndarray):  # CIFAR keeps (N, H, W, C) uint8 numpy
        x = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
    else:  # MNIST keeps (N, H, W) uint8 tensors
        x = data.unsqueeze(1).contiguous()
    return Split(x, torch.as_tensor(dataset.targets, dtype=torch.int64))


def load_torchvision(name: str, root: Path, download: bool) -> DataBundle:
    train_set, test_set = _open(name, root, download)
    train, test = _to_split(train_set), _to_split(test_set)
    mean, std = channel_stats(train.x)
    cifar = name.startswith("cifar")
    return DataBundle(
        name=name, train=train, test=test, val=None, num_classes=len(train_set.classes),
        in_channels=train.x.shape[1], dims=2, input_size=tuple(train.x.shape[1:]), mean=mean,
        std=std, source=str(expected_folder(name, root)), classes=list(train_set.classes),
        default_augment=Augment() if cifar else Augment(crop_padding=0, flip=False),
    )  # fmt: skip
