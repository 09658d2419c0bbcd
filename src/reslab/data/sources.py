"""Where a loader's batches come from: tensors already on the device, or a Dataset (DataLoader)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

Batch = tuple[torch.Tensor, torch.Tensor]


class TensorSource:
    """The fast path: the whole split is moved to the device once; a batch is one index_select."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
        self.x = x.to(device)
        self.y = y.to(device)
        self.device = device
        self.uint8 = x.dtype == torch.uint8
        self.tokens = x.dtype == torch.int64

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]:
        order = order.to(self.device)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            yield self.x.index_select(0, index), self.y.index_select(0, index)


class _OrderSampler(Sampler[int]):
    """Yields whatever order the loader set for this epoch (it runs in the main process, so
    persistent workers see each new order)."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class DatasetSource:
    """For folders too large to hold as one tensor: workers decode, batches arrive as uint8 and are
    augmented on the device like the fast path, so both paths share one tested augmentation.
    The dataset must yield (uint8 CHW tensor, int label), as ``imagefolder`` datasets do."""

    uint8 = True
    tokens = False

    def __init__(
        self, dataset: Dataset, device: torch.device, batch_size: int, num_workers: int
    ) -> None:
        self.dataset = dataset
        self.device = device
        self._sampler = _OrderSampler()
        pin = device.type == "cuda"
        self._loader = DataLoader(
            dataset, batch_size=batch_size, sampler=self._sampler, num_workers=num_workers,
            pin_memory=pin, persistent_workers=num_workers > 0,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]:
        if batch_size != self._loader.batch_size:
            raise ValueError(
                f"batch_size={batch_size} differs from the DataLoader's {self._loader.batch_size}"
            )
        self._sampler.order = order.tolist()
        for x, y in self._loader:
            if x.dtype != torch.uint8:
                raise TypeError(f"a Dataset split must yield uint8 images, got {x.dtype}")
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
