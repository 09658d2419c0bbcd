from __future__ import annotations

import pytest
import torch

from reslab.data.augment import (
    Augment,
    AugmentDraw,
    crop_and_flip,
    draw_augment,
    normalizer,
    to_float,
)


def _numbered(n: int, c: int, *spatial: int) -> torch.Tensor:
    """Pixel values 1..H*W name their own position; 0 can only come from padding."""
    size = int(torch.tensor(spatial).prod())
    base = torch.arange(1, size + 1, dtype=torch.uint8).view(1, 1, *spatial)
    return base.expand(n, c, *spatial).contiguous()


def _reference(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, p: int) -> torch.Tensor:
    """Per sample, in loops: reverse the last axis, pad with zeros, slice out the crop."""
    out = []
    for img, off, flip in zip(x, offsets, flips, strict=True):
        img = img.flip(-1) if flip else img
        padded = torch.nn.functional.pad(img.float(), (p, p) * (img.dim() - 1)).to(img.dtype)
        starts = [int(o) for o in off]
        index = [slice(o, o + s) for o, s in zip(starts, img.shape[1:], strict=True)]
        out.append(padded[(slice(None), *index)])
    return torch.stack(out)


@pytest.mark.parametrize("spatial", [(8, 8), (6, 9), (40,)])
@pytest.mark.parametrize("padding", [0, 1, 4])
def test_crop_and_flip_matches_loop_reference(spatial: tuple[int, ...], padding: int) -> None:
    x = _numbered(16, 2, *spatial)
    draw = draw_augment(
        16, Augment(crop_padding=padding), len(spatial), torch.Generator().manual_seed(3)
    )
    got = crop_and_flip(x, draw, padding, flip=True)
    assert got.shape == x.shape and got.dtype == x.dtype
    assert torch.equal(got, _reference(x, draw.offsets, draw.flips, padding))


def test_translation_stays_within_padding_and_fills_zeros() -> None:
    p, h, w = 4, 8, 8
    x = _numbered(200, 1, h, w)
    draw = draw_augment(
        200, Augment(crop_padding=p, flip=False), 2, torch.Generator().manual_seed(0)
    )
    out = crop_and_flip(x, draw, p, flip=False)[:, 0]
    seen = set()
    for img, off in zip(out, draw.offsets, strict=True):
        dy, dx = (int(o) - p for o in off)
        seen.add((dy, dx))
        assert abs(dy) <= p and abs(dx) <= p
        for i in range(h):
            for j in range(w):
                si, sj = i + dy, j + dx
                inside = 0 <= si < h and 0 <= sj < w
                assert int(img[i, j]) == (si * w + sj + 1 if inside else 0)
    assert len(seen) > 40  # many of the 81 translations occur, including the extremes
    assert {-p, p} <= {dy for dy, _ in seen}


def test_flip_reverses_width_only() -> None:
    x = _numbered(4, 3, 5, 7)
    draw = AugmentDraw(
        torch.zeros(4, 2, dtype=torch.long), torch.tensor([True, False, True, False])
    )
    out = crop_and_flip(x, draw, 0, flip=True)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    assert not torch.equal(out[0], x[0].flip(-2))


def test_flip_draws_are_roughly_half() -> None:
    draw = draw_augment(10_000, Augment(), 2, torch.Generator().manual_seed(1))
    assert 0.47 < draw.flips.float().mean().item() < 0.53
    assert draw.offsets.min() == 0 and draw.offsets.max() == 8


def test_disabled_augment_is_identity() -> None:
    x = torch.randint(0, 256, (8, 3, 6, 6), dtype=torch.uint8)
    aug = Augment(crop_padding=0, flip=False)
    draw = draw_augment(8, aug, 2, torch.Generator().manual_seed(0))
    assert not aug.moves_pixels
    assert crop_and_flip(x, draw, 0, flip=False) is x


def test_draw_is_a_function_of_the_generator_seed() -> None:
    a = draw_augment(64, Augment(), 2, torch.Generator().manual_seed(5))
    b = draw_augment(64, Augment(), 2, torch.Generator().manual_seed(5))
    c = draw_augment(64, Augment(), 2, torch.Generator().manual_seed(6))
    assert torch.equal(a.offsets, b.offsets) and torch.equal(a.flips, b.flips)
    assert not torch.equal(a.offsets, c.offsets)


def test_normalizer_uint8_and_float() -> None:
    x = torch.tensor([[[[0, 255]], [[51, 102]]]], dtype=torch.uint8)  # (1, 2, 1, 2)
    scale, shift = normalizer((0.5, 0.2), (0.25, 0.1), from_uint8=True, normalize=True, dims=2,
                              device=torch.device("cpu"))  # fmt: skip
    out = to_float(x, scale, shift)
    expected = torch.tensor([[[[-2.0, 2.0]], [[0.0, 2.0]]]])
    torch.testing.assert_close(out, expected)
    scale, shift = normalizer((0.5,), (2.0,), from_uint8=False, normalize=False, dims=1,
                              device=torch.device("cpu"))  # fmt: skip
    seq = torch.tensor([[[1.5, -3.0]]])
    assert torch.equal(to_float(seq, scale, shift), seq)
    assert to_float(seq, scale, shift).data_ptr() != seq.data_ptr()  # never aliases the dataset


def test_augment_validates_padding() -> None:
    with pytest.raises(ValueError, match="crop_padding=-1"):
        Augment(crop_padding=-1)
    with pytest.raises(ValueError, match=r"crop_padding=2\.5"):
        Augment(crop_padding=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"std=\(0.0,\)"):
        normalizer(
            (0.0,), (0.0,), from_uint8=False, normalize=True, dims=1, device=torch.device("cpu")
        )
