"""Users' own images: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (or ``PATH/val``).

Small folders become uint8 tensors (the fast path): when every image has the train images' size
and all pixels fit in ``FAST_PATH_MAX_BYTES`` (1 GiB: full CIFAR-10 is 0.18 GiB). A byte budget
rather than an image count, since 200k CIFAR thumbnails and 200k photos differ 50-fold. Larger or
mixed-size folders stay torchvision ``ImageFolder`` datasets decoded by DataLoader workers; their
mean/std come from ``STATS_SAMPLE`` train images spread evenly over the (class-sorted) files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder

from reslab.data.augment import Augment
from reslab.data.bundle import DataBundle, DataError, Split, channel_stats

FAST_PATH_MAX_BYTES = 2**30
STATS_SAMPLE = 1000


class _Folder(ImageFolder):
    """An ImageFolder that takes its class list from the train folder, so a test folder with a
    missing class keeps the same label indices."""

    def __init__(
        self, root: Path, classes: list[str] | None, transform: Callable | None = None
    ) -> None:
        self._fixed = classes
        super().__init__(str(root), transform=transform, allow_empty=classes is not None)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        found, mapping = super().find_classes(directory)
        if self._fixed is None:
            return found, mapping
        unknown = sorted(set(found) - set(self._fixed))
        if unknown:
            raise DataError(f"{directory} has classes {unknown} that train/ lacks ({self._fixed})")
        return self._fixed, {name: i for i, name in enumerate(self._fixed)}


class _FitTo:
    """Resize (keeping the aspect ratio) and centre-crop images whose size differs from ``size``."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size  # (H, W)
        self._fit = transforms.Compose([transforms.Resize(max(size)), transforms.CenterCrop(size)])

    def __call__(self, image: Image.Image) -> Image.Image:
        return image if image.size[::-1] == self.size else self._fit(image)


def _split_dirs(root: Path) -> tuple[Path, Path, Path | None]:
    train, test, val = root / "train", root / "test", root / "val"
    if not train.is_dir() or not (test.is_dir() or val.is_dir()):
        raise DataError(
            f"imagefolder:{root} needs {train}/<class>/* and {test}/<class>/* (or {val}/<class>/*)"
        )
    if not test.is_dir():
        return train, val, None
    return train, test, val if val.is_dir() else None


def _image_size(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size[::-1]


def _decode_all(folder: ImageFolder, size: tuple[int, int]) -> Split | None:
    """Decode every image into one uint8 tensor; None as soon as one has another size."""
    pixels = np.empty((len(folder.samples), *size, 3), dtype=np.uint8)  # decoded as HWC
    for i, (path, _) in enumerate(folder.samples):
        with Image.open(path) as image:
            if image.size[::-1] != size:
                return None
            pixels[i] = np.asarray(image.convert("RGB"))
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    return Split(x, torch.tensor(folder.targets, dtype=torch.int64))


def _sample_stats(folder: ImageFolder, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Evenly spaced over the class-sorted files, so every class contributes; no RNG needed."""
    size = len(folder)
    picks = torch.linspace(0, size - 1, min(n, size)).round().long().unique()
    return channel_stats(torch.stack([folder[int(i)][0] for i in picks]))


def _as_tensors(folders: list[ImageFolder], size: tuple[int, int]) -> list[Split] | None:
    pixels = sum(len(f.samples) for f in folders) * 3 * size[0] * size[1]
    if pixels > FAST_PATH_MAX_BYTES:
        return None
    splits = [_decode_all(f, size) for f in folders]
    return None if any(s is None for s in splits) else splits  # type: ignore[return-value]


def load_imagefolder(path: str | Path) -> DataBundle:
    root = Path(path).expanduser()
    train_dir, test_dir, val_dir = _split_dirs(root)
    train = _Folder(train_dir, None)
    if not train.samples:
        raise DataError(f"imagefolder:{root}: {train_dir} holds no images")
    others = [_Folder(d, train.classes) for d in (test_dir, val_dir) if d is not None]
    size = _image_size(train.samples[0][0])
    splits = _as_tensors([train, *others], size)
    if splits is not None:
        mean, std = channel_stats(splits[0].x)
    else:
        fit = transforms.Compose([_FitTo(size), transforms.PILToTensor()])
        splits = [_Folder(d, train.classes, fit) for d in (train_dir, test_dir, val_dir) if d]
        mean, std = _sample_stats(splits[0], STATS_SAMPLE)
    return DataBundle(
        name=f"imagefolder:{root}", train=splits[0], test=splits[1],
        val=splits[2] if len(splits) > 2 else None, num_classes=len(train.classes), in_channels=3,
        dims=2, input_size=(3, *size), mean=mean, std=std, source=str(root),
        classes=list(train.classes), default_augment=Augment(),
    )  # fmt: skip
