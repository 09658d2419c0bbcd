"""Character-level text: nanoGPT's vocabulary and 90/10 split, windows shifted by one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reslab.data import DataError, load_data, make_loader
from reslab.data.text import decode, encode, unigram_entropy, windows

TEXT = "to be, or not to be: that is the question.\n" * 40  # 1,760 characters


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "play.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_a_text_file_becomes_next_character_windows(text_file: Path) -> None:
    data = load_data(f"text:{text_file}", block_size=16)
    assert data.classes == sorted(set(TEXT)) and data.num_classes == len(set(TEXT))
    assert (data.dims, data.input_size, data.mean, data.std) == (0, (16,), (0.0,), (1.0,))
    cut = int(len(TEXT) * 0.9)  # the first 90% train, as nanoGPT's prepare.py
    train, test = data.train, data.test
    assert (
        len(train) == (cut - 1 - 16) // 16 + 1 and len(test) == (len(TEXT) - cut - 1 - 16) // 16 + 1
    )
    assert decode(train.x[1], data.classes) == TEXT[16:32]
    assert torch.equal(train.y[:, :-1], train.x[:, 1:])  # y is x shifted by one character
    assert decode(test.x[0], data.classes) == TEXT[cut : cut + 16]
    assert decode(encode("not to be", data.classes), data.classes) == "not to be"


def test_windows_can_be_held_out_for_validation(text_file: Path) -> None:
    data = load_data(f"text:{text_file}", block_size=16, val_size=5, seed=1)
    assert len(data.val) == 5 and len(data.train) == (int(len(TEXT) * 0.9) - 17) // 16 + 1 - 5
    assert data.val.x.dtype == torch.int64 and data.mean == (0.0,)


def test_batches_are_token_ids_in_an_order_fixed_by_the_seed(text_file: Path) -> None:
    data = load_data(f"text:{text_file}", block_size=8)

    def first(seed: int) -> torch.Tensor:
        return next(iter(make_loader(data, "train", batch_size=4, train=True, seed=seed)))[0]

    assert first(3).dtype == torch.int64 and first(3).shape == (4, 8)
    assert torch.equal(first(3), first(3)) and not torch.equal(first(3), first(4))


def test_windows_with_a_stride_share_memory() -> None:
    ids = torch.arange(11)
    split = windows(ids, 4, stride=2)
    assert split.x.tolist() == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert split.x.untyped_storage().data_ptr() == ids.untyped_storage().data_ptr()
    with pytest.raises(DataError, match=r"accepted: block_size <= 10"):
        windows(ids, 11)


def test_unigram_entropy_is_the_frequency_entropy() -> None:
    assert unigram_entropy(torch.tensor([0, 1, 0, 1]), 3) == pytest.approx(math.log(2))


def test_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"tinyshakespeare/input.txt"):
        load_data("shakespeare_char", data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"block_size=8 applies to text datasets only"):
        load_data("synthetic1d", block_size=8)
    with pytest.raises(ValueError, match=r"not in the vocabulary"):
        encode("xyz", ["x"])


def test_tiny_shakespeare_as_nanogpt_prepares_it(shared_data: Path) -> None:
    path = shared_data / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = load_data("shakespeare_char", data_dir=shared_data)
    assert data.num_classes == 65 and data.name == "shakespeare_char"
    # nanoGPT's prepare.py: 1,115,394 characters, 1,003,854 train and 111,540 val tokens.
    train_chars = len(data.train) * 256 + 1
    assert 1_003_854 - 256 < train_chars <= 1_003_854
    assert decode(data.train.x[0, :14], data.classes) == "First Citizen:"
    assert data.train.x[0, :5].tolist() == [18, 47, 56, 57, 58]  # nanoGPT's ids of "First"
    assert len(data.test) == (111_540 - 1 - 256) // 256 + 1
    # The unigram entropy of the characters: the loss of a model that ignores the context.
    assert 3.2 < unigram_entropy(data.train.y, 65) < 3.4
