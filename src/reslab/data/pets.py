"""Oxford-IIIT Pet (Parkhi et al. 2012) segmentation through torchvision's ``OxfordIIITPet``: each
image resized to ``size`` x ``size`` (bilinear) with its trimap (nearest), kept as uint8 images
(N, 3, H, W) and int64 masks (N, H, W).

The trimaps mark 1 pet, 2 background and 3 "not classified", a band a few pixels wide along the
pet's outline that the annotators left undecided. We map pet to class 1, background to 0, and the
band to -100, which the objective ignores (``training/objective.py``): the net is neither taught
nor scored on pixels whose truth is unknown, and boundary metrics skip them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import datasets

from reslab.data.augment import Augment
from reslab.data.bundle import DataBundle, DataError, Split, channel_stats
from reslab.data.paths import DATA_ENV

CLASSES = ["background", "pet"]
SIZE = 128
# The label the objective skips (PyTorch's ignore_index default; training/objective.py): data
# knows nothing of training, so the value is repeated here, and a test checks they agree.
IGNORE_INDEX = -100
# Trimap value -> class: 1 pet, 2 background, 3 the undecided border band.
TRIMAP_TO_CLASS = {1: 1, 2: 0, 3: IGNORE_INDEX}


def trimap_to_mask(trimap: np.ndarray) -> np.ndarray:
    mask = np.full(trimap.shape, IGNORE_INDEX, dtype=np.int64)
    for value, label in TRIMAP_TO_CLASS.items():
        mask[trimap == value] = label
    return mask


def _load_split(dataset: datasets.OxfordIIITPet, size: int) -> Split:
    images, masks = [], []
    for i in range(len(dataset)):
        image, trimap = dataset[i]
        image = image.resize((size, size), Image.BILINEAR)
        trimap = trimap.resize((size, size), Image.NEAREST)  # never blend two classes
        images.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
        masks.append(trimap_to_mask(np.asarray(trimap)))
    if not images:
        raise DataError(f"oxford_pet: the {dataset._split} split lists no images")
    return Split(torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks)))


def _open(root: Path, split: str, download: bool) -> datasets.OxfordIIITPet:
    try:
        return datasets.OxfordIIITPet(
            str(root), split=split, target_types="segmentation", download=download
        )
    except (RuntimeError, OSError) as err:  # urllib's URLError is an OSError
        folder = root / "oxford-iiit-pet"
        hint = (
            "the download failed: check the network or copy the files there"
            if download else "or pass --download (download=True) to fetch it"
        )  # fmt: skip
        raise DataError(
            f"oxford_pet: cannot load from {folder} ({err}). Fix: point --data-dir (or "
            f"{DATA_ENV}) at the folder that contains oxford-iiit-pet/ (images/, annotations/"
            f"trimaps/, annotations/trainval.txt and test.txt); {hint}"
        ) from None


def load_oxford_pet(root: Path, download: bool, size: int = SIZE) -> DataBundle:
    train = _load_split(_open(root, "trainval", download), size)
    test = _load_split(_open(root, "test", False), size)
    mean, std = channel_stats(train.x)
    return DataBundle(
        name="oxford_pet", train=train, test=test, val=None, num_classes=len(CLASSES),
        in_channels=3, dims=2, input_size=(3, size, size), mean=mean, std=std,
        source=str(root / "oxford-iiit-pet"), classes=list(CLASSES),
        # A pet mirrored is still a pet; the loader flips the mask with the image.
        default_augment=Augment(crop_padding=0, flip=True),
    )  # fmt: skip
