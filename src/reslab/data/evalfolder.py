"""One folder of class subfolders (``PATH/<class>/*``, e.g. ImageNet's ``val/``) for evaluating a
trained model: every image resized (shorter side) and centre-cropped as the model's weights
expect, decoded by DataLoader workers. There is no training split: ``train`` and ``test`` are the
same images, and the model's own normalisation is given, not measured."""

from __future__ import annotations

from pathlib import Path

from torchvision import transforms
from torchvision.datasets import ImageFolder

from reslab.data.augment import Augment
from reslab.data.bundle import DataBundle, DataError


def load_eval_folder(
    path: str | Path, *, resize: int, crop: int, mean: tuple[float, ...],
    std: tuple[float, ...],
) -> DataBundle:  # fmt: skip
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"imagefolder:{root}: no such folder")
    # torchvision's ImageNet eval transform (ImageClassification): bilinear resize of the shorter
    # side, centre crop; the loader then scales to [0, 1] and normalises with mean/std.
    fit = transforms.Compose(
        [transforms.Resize(resize), transforms.CenterCrop(crop), transforms.PILToTensor()]
    )
    try:
        folder = ImageFolder(str(root), transform=fit)
    except (FileNotFoundError, RuntimeError) as err:
        raise DataError(f"imagefolder:{root}: {err}; accepted: PATH/<class>/<image>") from None
    return DataBundle(
        name=f"imagefolder:{root}", train=folder, test=folder, val=None,
        num_classes=len(folder.classes), in_channels=3, dims=2, input_size=(3, crop, crop),
        mean=tuple(mean), std=tuple(std), source=str(root), classes=list(folder.classes),
        default_augment=Augment(crop_padding=0, flip=False),
    )  # fmt: skip
