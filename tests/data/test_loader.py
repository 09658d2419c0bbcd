from __future__ import annotations

from collections import Counter

import pytest
import torch

from reslab.data import Augment, DataBundle, Loader, Split, load_data, make_loader


def _ids_bundle(n: int = 103) -> DataBundle:
    """Labels are sample ids, so a loader's output names exactly which samples it visited."""
    x = torch.randint(
        0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    split = Split(x, torch.arange(n))
    return DataBundle(
        name="ids", train=split, test=split, val=None, num_classes=n, in_channels=3, dims=2,
        input_size=(3, 8, 8), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), source="test",
        default_augment=Augment(),
    )  # fmt: skip


def _ids(loader: Loader) -> list[int]:
    return [i for _, y in loader for i in y.tolist()]


def test_train_epoch_visits_every_sample_once() -> None:
    bundle = _ids_bundle(96)
    loader = make_loader(bundle, "train", batch_size=32, train=True)
    assert len(loader) == 3
    for epoch in range(3):
        loader.set_epoch(epoch)
        assert sorted(_ids(loader)) == list(range(96))


def test_shuffle_is_a_pure_function_of_seed_and_epoch() -> None:
    bundle = _ids_bundle()
    a = make_loader(bundle, "train", batch_size=10, train=True, seed=1)
    b = make_loader(bundle, "train", batch_size=10, train=True, seed=1)
    first = _ids(a)
    a.set_epoch(1)
    second = _ids(a)
    assert first != second
    assert _ids(a) == second  # iterating again without set_epoch repeats the epoch
    b.set_epoch(1)
    assert _ids(b) == second  # a fresh (resumed) loader at epoch 1 sees the same order
    c = make_loader(bundle, "train", batch_size=10, train=True, seed=2)
    assert _ids(c) != first


def test_augmented_batches_are_reproducible() -> None:
    bundle = _ids_bundle()
    a = make_loader(bundle, "train", batch_size=16, train=True, seed=3)
    b = make_loader(bundle, "train", batch_size=16, train=True, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_drop_last_and_len() -> None:
    bundle = _ids_bundle(103)
    train = make_loader(bundle, "train", batch_size=10, train=True)
    assert len(train) == 10 and train.num_samples == 100
    assert len(_ids(train)) == 100 and len(set(_ids(train))) == 100
    keep = make_loader(bundle, "train", batch_size=10, train=True, drop_last=False)
    assert len(keep) == 11 and sorted(_ids(keep)) == list(range(103))
    tiny = make_loader(bundle, "train", batch_size=500, train=True)  # never drop a whole epoch
    assert len(tiny) == 1 and len(_ids(tiny)) == 103


def test_eval_keeps_order_never_drops_and_does_not_augment() -> None:
    bundle = _ids_bundle(103)
    loader = make_loader(bundle, "test", batch_size=10, train=False)
    assert len(loader) == 11 and _ids(loader) == list(range(103))
    x = torch.cat([xb for xb, _ in loader])
    expected = (bundle.test.x.float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(x, expected)
    with pytest.raises(ValueError, match="drop_last=True with train=False"):
        make_loader(bundle, "test", batch_size=10, train=False, drop_last=True)


def test_world_size_two_gives_disjoint_equal_shards() -> None:
    bundle = _ids_bundle(103)
    shards = []
    for rank in range(2):
        loader = make_loader(bundle, "train", batch_size=8, train=True, rank=rank, world_size=2,
                             drop_last=False, seed=4)  # fmt: skip
        loader.set_epoch(5)
        assert len(loader) == 7  # ceil(52 / 8) batches on each rank
        shards.append(_ids(loader))
    assert len(shards[0]) == len(shards[1]) == 52
    counts = Counter(shards[0] + shards[1])
    assert set(counts) == set(range(103))
    assert sum(c - 1 for c in counts.values()) == 1  # only the single wrap-around pad repeats
    even = [make_loader(_ids_bundle(100), "train", batch_size=10, train=True, rank=r, world_size=2)
            for r in range(2)]  # fmt: skip
    assert set(_ids(even[0])).isdisjoint(_ids(even[1]))
    assert sorted(_ids(even[0]) + _ids(even[1])) == list(range(100))


def test_augmentation_follows_seed_and_epoch() -> None:
    bundle = _ids_bundle(64)
    aug = Augment(crop_padding=2, flip=True)

    def by_id(seed: int = 0, epoch: int = 0) -> torch.Tensor:
        loader = make_loader(bundle, "train", batch_size=64, train=True, augment=aug, seed=seed)
        loader.set_epoch(epoch)
        x, y = next(iter(loader))
        return x[y.argsort()]  # the same samples, whatever the order

    base = by_id()
    assert torch.equal(base, by_id())
    assert not torch.equal(base, by_id(seed=1))
    assert not torch.equal(base, by_id(epoch=1))


def test_default_augment_comes_from_the_bundle() -> None:
    bundle = _ids_bundle(64)
    plain = Augment(crop_padding=0, flip=False)
    assert make_loader(bundle, "train", batch_size=8, train=True).augment == Augment()
    assert make_loader(bundle, "train", batch_size=8, train=True, augment=plain).augment == plain
    evaluation = make_loader(
        bundle, "test", batch_size=8, train=False, augment=Augment(normalize=False)
    )
    assert evaluation.augment == Augment(crop_padding=0, flip=False, normalize=False)
    x, _ = next(iter(evaluation))
    torch.testing.assert_close(x, bundle.test.x[:8].float() / 255)


def test_padding_is_zero_before_normalisation() -> None:
    bundle = _ids_bundle(64)
    bundle.train = Split(torch.full((64, 3, 8, 8), 200, dtype=torch.uint8), torch.arange(64))
    aug = Augment(crop_padding=3, flip=True, normalize=False)
    x = torch.cat(
        [xb for xb, _ in make_loader(bundle, "train", batch_size=16, train=True, augment=aug)]
    )
    values = set((x * 255).round().unique().tolist())
    assert values == {0.0, 200.0}
    # Each image keeps at least the (8-3) x (8-3) inner block of real pixels.
    assert ((x > 0).sum(dim=(1, 2, 3)) >= 3 * 5 * 5).all()


def test_synthetic_batches_are_normalised_floats() -> None:
    for name, shape in (("synthetic", (3, 32, 32)), ("synthetic1d", (1, 40))):
        bundle = load_data(name)
        x, y = next(iter(make_loader(bundle, "test", batch_size=256, train=False)))
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == shape
        dims = (0, *range(2, x.dim()))
        assert x.mean(dims).abs().max() < 0.1 and (x.std(dims) - 1).abs().max() < 0.1


def test_sequences_can_be_augmented() -> None:
    raw = torch.randn((64, 1, 40), generator=torch.Generator().manual_seed(0))
    split = Split(raw, torch.arange(64))
    bundle = DataBundle(
        name="seq-ids", train=split, test=split, val=None, num_classes=64, in_channels=1, dims=1,
        input_size=(1, 40), mean=(0.0,), std=(1.0,), source="test",
    )  # fmt: skip
    aug = Augment(crop_padding=3, flip=True, normalize=False)
    x, y = next(iter(make_loader(bundle, "train", batch_size=64, train=True, augment=aug)))
    assert x.shape == (64, 1, 40) and not torch.equal(x, raw[y])
    # Every output is its source shifted by at most 3 (maybe reversed), zero-filled.
    for out, src in zip(x[:, 0], raw[y, 0], strict=True):
        candidates = [
            torch.nn.functional.pad(s, (3, 3))[3 + shift : 43 + shift]
            for s in (src, src.flip(0)) for shift in range(-3, 4)
        ]  # fmt: skip
        assert any(torch.equal(out, c) for c in candidates)


def test_make_loader_rejects_bad_arguments() -> None:
    bundle = _ids_bundle(16)
    with pytest.raises(ValueError, match="batch_size=0"):
        make_loader(bundle, "train", batch_size=0, train=True)
    with pytest.raises(ValueError, match="split='dev' is unknown; accepted: train, val, test"):
        make_loader(bundle, "dev", batch_size=4, train=True)
    with pytest.raises(ValueError, match="no val split"):
        make_loader(bundle, "val", batch_size=4, train=False)
    with pytest.raises(ValueError, match="rank=3, world_size=2"):
        make_loader(bundle, "train", batch_size=4, train=True, rank=3, world_size=2)
    with pytest.raises(ValueError, match="epoch=-1"):
        make_loader(bundle, "train", batch_size=4, train=True).set_epoch(-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu_batches() -> None:
    # Orders and augmentation draws come from CPU generators, so the device does not matter.
    bundle = _ids_bundle(100)
    cpu = make_loader(bundle, "train", batch_size=32, train=True, seed=2)
    gpu = make_loader(bundle, "train", batch_size=32, train=True, seed=2, device="cuda")
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert xg.device.type == "cuda" and torch.equal(yc, yg.cpu())
        torch.testing.assert_close(xc, xg.cpu(), rtol=0, atol=1e-6)
