from __future__ import annotations

import pytest
import torch

from reslab.data.order import batch_count, derive_generator, epoch_order, shard, shard_size


def test_epoch_order_is_a_pure_function_of_seed_and_epoch() -> None:
    a = epoch_order(1000, shuffle=True, seed=7, epoch=3)
    assert torch.equal(a, epoch_order(1000, shuffle=True, seed=7, epoch=3))
    assert torch.equal(a.sort().values, torch.arange(1000))
    assert not torch.equal(a, epoch_order(1000, shuffle=True, seed=7, epoch=4))
    assert not torch.equal(a, epoch_order(1000, shuffle=True, seed=8, epoch=3))
    assert torch.equal(epoch_order(5, shuffle=False, seed=7, epoch=3), torch.arange(5))


def test_derived_streams_do_not_collide() -> None:
    # (seed, epoch) pairs that naive seed + epoch arithmetic would map to the same stream.
    a = torch.rand(8, generator=derive_generator(1, 2))
    b = torch.rand(8, generator=derive_generator(2, 1))
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="must be >= 0"):
        derive_generator(-1, 0)


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (7, 3), (2, 4), (100, 1)])
def test_shards_are_equal_and_cover_the_order(n: int, world: int) -> None:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    parts = [shard(order, r, world) for r in range(world)]
    assert {len(p) for p in parts} == {shard_size(n, 0, world)}
    joined = torch.cat(parts)
    assert set(joined.tolist()) == set(range(n))
    assert len(joined) - n < world  # only the wrap-around padding repeats
    if n % world == 0:
        assert len(joined) == n


def test_shard_matches_distributed_sampler_layout() -> None:
    order = torch.arange(11)
    assert shard(order, 0, 2).tolist() == [0, 2, 4, 6, 8, 10]
    assert shard(order, 1, 2).tolist() == [1, 3, 5, 7, 9, 0]  # padded by wrapping around


def test_shard_rejects_bad_ranks() -> None:
    with pytest.raises(ValueError, match="rank=2, world_size=2"):
        shard(torch.arange(4), 2, 2)
    with pytest.raises(ValueError, match="world_size=0"):
        shard_size(4, 0, 0)


def test_batch_count() -> None:
    assert batch_count(10, 4, drop_last=True) == 2
    assert batch_count(10, 4, drop_last=False) == 3
    assert batch_count(8, 4, drop_last=True) == batch_count(8, 4, drop_last=False) == 2
