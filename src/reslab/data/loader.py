"""``make_loader``: batches of normalised float32 on the device, reproducible per (seed, epoch)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from reslab.data.augment import Augment, crop_and_flip, draw_augment, normalizer, to_float
from reslab.data.bundle import DataBundle, Split
from reslab.data.order import (
    STREAM_AUGMENT,
    batch_count,
    derive_generator,
    epoch_order,
    shard,
    shard_size,
)
from reslab.data.sources import Batch, DatasetSource, TensorSource


class Loader:
    """Iterable of ``(x, y)`` on ``device``; call ``set_epoch(e)`` before each epoch.

    The order is a pure function of (seed, epoch) and the augmentation of (seed, epoch, rank), so
    a resumed run sees exactly the batches the uninterrupted run would have seen.
    """

    def __init__(
        self, source: TensorSource | DatasetSource, *, bundle: DataBundle, batch_size: int,
        shuffle: bool, augment: Augment, drop_last: bool, seed: int, rank: int, world_size: int,
    ) -> None:  # fmt: skip
        if source.tokens and augment.moves_pixels:
            raise ValueError(
                f"augment={augment} crops or flips, but this split holds token ids; "
                "use Augment(crop_padding=0, flip=False)"
            )
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.dims = bundle.dims
        self.dataset_size = len(source)
        self.shard_size = shard_size(self.dataset_size, rank, world_size)
        self._scale, self._shift = normalizer(
            bundle.mean, bundle.std, from_uint8=source.uint8, normalize=augment.normalize,
            dims=bundle.dims, device=source.device,
        )  # fmt: skip

    @property
    def device(self) -> torch.device:
        return self.source.device

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch (after dropping the last partial batch, if asked)."""
        return self.shard_size if not self.drop_last else len(self) * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch={epoch} must be >= 0")
        self.epoch = epoch

    def __len__(self) -> int:
        return batch_count(self.shard_size, self.batch_size, self.drop_last)

    def order(self) -> torch.Tensor:
        """The dataset indices this rank visits this epoch, in order (CPU int64)."""
        full = epoch_order(
            self.dataset_size, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch
        )
        return shard(full, self.rank, self.world_size)[: self.num_samples]

    def __iter__(self) -> Iterator[Batch]:
        order = self.order()
        aug = self.augment
        draw = None
        if aug.moves_pixels:
            generator = derive_generator(self.seed, self.epoch, self.rank, STREAM_AUGMENT)
            draw = draw_augment(len(order), aug, self.dims, generator).to(self.device)
        start = 0
        for x, y in self.source.batches(order, self.batch_size):
            if draw is not None:
                part = draw[start : start + len(x)]
                x = crop_and_flip(x, part, aug.crop_padding, aug.flip)
                if y.dim() > 1:  # a mask moves with its image; padding is label 0
                    y = crop_and_flip(y.unsqueeze(1), part, aug.crop_padding, aug.flip)[:, 0]
            start += len(x)
            # Token ids are indices into an embedding: they are never scaled.
            yield (x if self.source.tokens else to_float(x, self._scale, self._shift)), y


def make_loader(
    bundle: DataBundle, split: str, *, batch_size: int, train: bool,
    device: torch.device | str = "cpu", augment: Augment | None = None, seed: int = 0,
    rank: int = 0, world_size: int = 1, drop_last: bool | None = None, num_workers: int = 0,
) -> Loader:  # fmt: skip
    """train=True shuffles and augments (``augment=None``: the dataset's default) and by default
    drops the last partial batch; train=False keeps the order, only normalises, never drops.
    ``num_workers`` only matters for Dataset splits (large image folders)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an int >= 1")
    if not train and drop_last:
        raise ValueError("drop_last=True with train=False: evaluation never drops samples")
    if seed < 0:
        raise ValueError(f"seed={seed} must be >= 0")
    data = bundle.split(split)
    per_rank = shard_size(len(data), rank, world_size)  # type: ignore[arg-type]  # checks the rank
    if drop_last is None:
        # Dropping keeps BatchNorm statistics off a tiny last batch, but never drop a whole epoch.
        drop_last = train and per_rank >= batch_size
    device = torch.device(device)
    chosen = augment if augment is not None else bundle.default_augment
    if not train:
        chosen = Augment(crop_padding=0, flip=False, normalize=chosen.normalize)
    if isinstance(data, Split):
        source: TensorSource | DatasetSource = TensorSource(data.x, data.y, device)
    else:
        source = DatasetSource(data, device, batch_size, num_workers)
    return Loader(
        source, bundle=bundle, batch_size=batch_size, shuffle=train, augment=chosen,
        drop_last=drop_last, seed=seed, rank=rank, world_size=world_size,
    )  # fmt: skip
