"""One objective for every target layout: per-sample labels, per-pixel masks, per-token ids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reslab.data import DataBundle, Split, make_loader
from reslab.training import evaluate, fit
from reslab.training.objective import IGNORE_INDEX, class_dim, loss, wrong_and_count

from .helpers import tiny_config


def test_per_pixel_targets_are_plain_cross_entropy_and_per_pixel_errors() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    assert torch.allclose(loss(logits, y), F.cross_entropy(logits, y))
    wrong, n = wrong_and_count(logits, y)
    assert n.item() == 40 and wrong.item() == (logits.argmax(1) != y).sum().item()


def test_class_axis_last_equals_flattened_positions() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(2, 7, 11), torch.randint(0, 11, (2, 7))
    flat = F.cross_entropy(logits.reshape(-1, 11), y.reshape(-1))
    assert torch.allclose(loss(logits, y, dim=-1), flat)
    wrong, n = wrong_and_count(logits, y, dim=-1)
    assert n.item() == 14 and wrong.item() == (logits.argmax(-1) != y).sum().item()


def test_ignored_targets_count_in_neither_loss_nor_error() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(1, 3, 2, 2), torch.tensor([[[0, 1], [2, IGNORE_INDEX]]])
    kept = logits.permute(0, 2, 3, 1).reshape(-1, 3)[:3]
    assert torch.allclose(loss(logits, y), F.cross_entropy(kept, y.flatten()[:3]))
    assert wrong_and_count(logits, y)[1].item() == 3


def test_shapes_that_do_not_fit_name_both() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 5\)"):
        loss(torch.zeros(2, 3, 4), torch.zeros(2, 5, dtype=torch.long))


def test_class_dim_comes_from_the_model_and_is_checked() -> None:
    net = nn.Linear(2, 2)
    assert class_dim(net) == 1
    net.class_dim = -1  # type: ignore[assignment]
    assert class_dim(net) == -1
    net.class_dim = 2  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"class_dim=2.*accepted: 1, -1"):
        class_dim(net)


class _PixelNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _NextToken(nn.Module):
    class_dim = -1

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _bundle(train: Split, test: Split, **facts: object) -> DataBundle:
    return DataBundle(name="dense", train=train, test=test, val=None, source="test", **facts)  # type: ignore[arg-type]


def _masks(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 6, 6, generator=g) * 255).to(torch.uint8)
    return Split(x, (x[:, 0] > 127).long())  # the label is a threshold of the pixel


def test_fit_and_evaluate_count_every_pixel() -> None:
    torch.manual_seed(0)
    data = _bundle(_masks(64, 0), _masks(32, 1), num_classes=2, in_channels=1, dims=2,
                   input_size=(1, 6, 6), mean=(0.5,), std=(0.3,))  # fmt: skip
    result = fit(_PixelNet(), data, tiny_config("optim.lr=0.5", "train.steps=30"), device="cpu")
    assert result.status == "completed"
    # Per-pixel errors are a rate: a per-sample count of 36 pixels would exceed 1.
    assert all(0.0 <= h["train_err"] <= 1.0 for h in result.history)
    assert result.final["test_err"] < 0.2  # a threshold of one pixel is learnt in 30 steps
    loader = make_loader(data, "test", batch_size=8, train=False)
    assert evaluate(_PixelNet(), loader)["n"] == 32 * 36


def test_fit_on_token_ids_with_the_class_axis_last() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (64, 4), generator=g)
    split = Split(x, (x + 1) % 5)  # the next token is the current one plus one
    data = _bundle(split, split, num_classes=5, in_channels=1, dims=0, input_size=(4,),
                   mean=(0.0,), std=(1.0,))  # fmt: skip
    result = fit(
        _NextToken(5),
        data,
        tiny_config("optim.lr=0.05", "train.steps=40", "data.augment=false"),
        device="cpu",
    )
    assert result.final["test_err"] == 0.0
    first = make_loader(data, "train", batch_size=8, train=True)
    batch_x, _ = next(iter(first))
    assert batch_x.dtype == torch.int64  # token ids are never normalised


def test_masks_move_with_their_images_under_crop_and_flip() -> None:
    from reslab.data import Augment

    split = _masks(16, 2)
    data = _bundle(split, split, num_classes=2, in_channels=1, dims=2, input_size=(1, 6, 6),
                   mean=(0.0,), std=(1.0,))  # fmt: skip
    loader = make_loader(data, "train", batch_size=16, train=True, seed=3,
                         augment=Augment(crop_padding=2, flip=True, normalize=False))  # fmt: skip
    x, y = next(iter(loader))
    # Pixels padded in by the crop are 0 and so is their label; every other pixel keeps its own.
    assert torch.equal((x[:, 0] * 255 > 127.5).long(), y)
