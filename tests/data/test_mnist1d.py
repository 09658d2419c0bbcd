from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.data import load_data
from reslab.data import mnist1d as m1d


def test_matches_the_published_dataset(shared_data: Path) -> None:
    # A trusted, read-only file; only this test unpickles, the library never does.
    with open(shared_data / "mnist1d" / "mnist1d_data.pkl", "rb") as handle:
        published = pickle.load(handle)
    bundle = load_data("mnist1d")
    for split, x_key, y_key in ((bundle.train, "x", "y"), (bundle.test, "x_test", "y_test")):
        assert split.x.dtype == torch.float32 and split.x.shape[1] == 1
        assert np.array_equal(split.y.numpy(), published[y_key])
        assert np.abs(split.x[:, 0].double().numpy() - published[x_key]).max() < 1e-6


def test_bundle_facts() -> None:
    bundle = load_data("mnist1d")
    assert (len(bundle.train), len(bundle.test)) == (4000, 1000)
    assert bundle.input_size == (1, 40) and bundle.dims == 1 and bundle.num_classes == 10
    assert bundle.classes == [str(d) for d in range(10)]
    # Per-channel statistics of the train split itself, in raw units.
    assert bundle.mean[0] == pytest.approx(bundle.train.x.double().mean().item(), abs=1e-9)
    assert bundle.std[0] == pytest.approx(
        bundle.train.x.double().std(correction=0).item(), rel=1e-6
    )
    assert bundle.default_augment.crop_padding == 0 and not bundle.default_augment.flip


def test_second_load_reads_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_data("mnist1d")  # generates unless an earlier test already did

    def fail() -> None:
        raise AssertionError("regenerated although the cache exists")

    monkeypatch.setattr(m1d, "generate", fail)
    second = load_data("mnist1d")
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    assert str(m1d.cache_path()) in second.source


def _fake_arrays() -> dict[str, np.ndarray]:
    x = np.arange(2 * 40, dtype=np.float32).reshape(2, 40)
    return {"x": x, "y": np.array([0, 1]), "x_test": x[:1], "y_test": np.array([1])}


def test_cache_is_written_once_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(tmp_path / "fresh"))
    calls: list[int] = []
    monkeypatch.setattr(m1d, "generate", lambda: calls.append(1) or _fake_arrays())
    a = load_data("mnist1d")
    b = load_data("mnist1d")
    assert calls == [1]
    assert [p.name for p in (tmp_path / "fresh").iterdir()] == [
        m1d.cache_path().name
    ]  # no temp left
    assert torch.equal(a.train.x, b.train.x) and a.train.x.shape == (2, 1, 40)


def test_unreadable_cache_is_regenerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(tmp_path))
    m1d.cache_path().write_bytes(b"not an npz")
    monkeypatch.setattr(m1d, "generate", _fake_arrays)
    assert len(load_data("mnist1d").train) == 2


def test_generation_leaves_global_rngs_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def reseeding_make_dataset(args: object) -> dict[str, np.ndarray]:
        np.random.seed(42)  # what the mnist1d package does
        random.seed(42)
        arrays = _fake_arrays()
        return {**arrays, "y": arrays["y"], "y_test": arrays["y_test"]}

    monkeypatch.setattr("mnist1d.data.make_dataset", reseeding_make_dataset)
    np.random.seed(1)
    random.seed(1)
    expected = (np.random.rand(), random.random())
    np.random.seed(1)
    random.seed(1)
    m1d.generate()
    assert (np.random.rand(), random.random()) == expected


def test_unwritable_cache_still_returns_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(m1d, "generate", _fake_arrays)

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system (test)")

    monkeypatch.setattr(m1d, "save_npz_atomic", read_only)
    with pytest.warns(UserWarning, match="RESLAB_CACHE_DIR"):
        assert len(load_data("mnist1d").test) == 1
