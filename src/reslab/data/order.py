"""The order samples are visited in: a pure function of (seed, epoch), sharded across ranks."""

from __future__ import annotations

import math

import numpy as np
import torch

# Independent random streams derived from one user seed.
STREAM_SHUFFLE = 0
STREAM_AUGMENT = 1
STREAM_VAL_SPLIT = 2


def derive_generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded by hashing ``parts`` with NumPy's SeedSequence, so (seed, epoch) and
    (seed, epoch + 1) give unrelated streams rather than overlapping ones."""
    for part in parts:
        if part < 0:
            raise ValueError(f"seeds and epochs must be >= 0, got {parts}")
    state = np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint32)
    generator = torch.Generator()
    generator.manual_seed(((int(state[0]) << 32) | int(state[1])) & (2**63 - 1))
    return generator


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=derive_generator(seed, epoch, STREAM_SHUFFLE))


def shard_size(n: int, rank: int, world_size: int) -> int:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"rank={rank}, world_size={world_size}: need world_size >= 1 and 0 <= rank < world_size"
        )
    return math.ceil(n / world_size)


def shard(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s share, as ``DistributedSampler`` does it: wrap the order around until it
    divides by ``world_size``, then take every ``world_size``-th index."""
    per_rank = shard_size(len(order), rank, world_size)
    extra = per_rank * world_size - len(order)
    if extra:
        order = torch.cat([order, order.repeat(math.ceil(extra / max(len(order), 1)))[:extra]])
    return order[rank::world_size]


def batch_count(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)
