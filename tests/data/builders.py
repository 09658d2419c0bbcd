"""Tiny datasets in the on-disk formats the loaders read, built in a test's tmp_path."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import datasets

CIFAR = {  # name: (class, folder, label key, classes)
    "cifar10": (datasets.CIFAR10, "cifar-10-batches-py", "labels", 10),
    "cifar100": (datasets.CIFAR100, "cifar-100-python", "fine_labels", 100),
}
MNIST = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_pickle(path: Path, obj: object) -> str:
    path.write_bytes(pickle.dumps(obj))
    return _md5(path)


def build_cifar(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """torchvision's pickled batches (4 images per train file, 6 test); the class's md5 table is
    pointed at these files so torchvision's own integrity check runs on them."""
    cls, folder, label_key, n_classes = CIFAR[name]
    base = root / folder
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_x, train_y, train_list = [], [], []
    for file, _ in cls.train_list:
        x = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        y = rng.integers(0, n_classes, 4).tolist()
        train_list.append([file, _write_pickle(base / file, {"data": x, label_key: y})])
        train_x.append(x)
        train_y += y
    test_x = rng.integers(0, 256, (6, 3072), dtype=np.uint8)
    test_y = rng.integers(0, n_classes, 6).tolist()
    test_file = cls.test_list[0][0]
    test_list = [[test_file, _write_pickle(base / test_file, {"data": test_x, label_key: test_y})]]
    names = [f"class{i}" for i in range(n_classes)]
    meta = dict(cls.meta, md5=_write_pickle(base / cls.meta["filename"], {cls.meta["key"]: names}))
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", test_list)
    monkeypatch.setattr(cls, "meta", meta)
    return {"train_x": np.concatenate(train_x), "train_y": np.array(train_y),
            "test_x": test_x, "test_y": np.array(test_y)}  # fmt: skip


def _idx_gz(path: Path, array: np.ndarray) -> str:
    """IDX (LeCun's MNIST format): magic 0x08 (uint8) + ndim, big-endian int32 sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}i", *array.shape
    )
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))
    return _md5(path)


def build_mnist(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The four .gz archives (12 train, 5 test images of 28x28), md5 table patched to match."""
    cls = MNIST[name]
    raw = root / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    resources = []
    for prefix, n in (("train", 12), ("t10k", 5)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            file = f"{prefix}-{kind}-ubyte.gz"
            resources.append((file, _idx_gz(raw / file, array)))
    monkeypatch.setattr(cls, "resources", resources)


def write_image_folder(
    root: Path, layout: dict[str, dict[str, int]], size: tuple[int, int] = (8, 8)
) -> None:
    """layout: split -> class -> number of PNGs; pixels depend on split, class and index."""
    for split, classes in layout.items():
        for ci, (name, count) in enumerate(sorted(classes.items())):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                rng = np.random.default_rng([ci, i, len(split)])
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")


def write_oxford_pet(root: Path, ids: dict[str, list[str]]) -> None:
    """torchvision's OxfordIIITPet layout: images/<id>.jpg, annotations/trimaps/<id>.png and one
    list per split (<id> <class> <species> <breed>), with a pet, its border band, background."""
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, names in ids.items():
        lines = [f"{name} {i + 1} {i % 2 + 1} 1" for i, name in enumerate(names)]
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
        for name in names:
            pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(base / "images" / f"{name}.jpg")
            trimap = np.full((30, 40), 2, dtype=np.uint8)  # background
            trimap[5:25, 10:30] = 3  # the undecided band ...
            trimap[8:22, 13:27] = 1  # ... around the pet
            Image.fromarray(trimap).save(base / "annotations" / "trimaps" / f"{name}.png")
