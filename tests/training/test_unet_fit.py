"""A tiny U-Net trains on masks through ``fit``, and an interrupted run resumes bit-identically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.data import DataBundle, Split
from reslab.models import UNet
from reslab.training import fit, read_checkpoint

from .helpers import Interrupt, StopAt, tiny_config


def _masks(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 8, 8, generator=g) * 255).to(torch.uint8)
    return Split(x, (x[:, 0] > 170).long() + (x[:, 0] > 85).long())  # 3 classes by brightness


def _model() -> UNet:
    torch.manual_seed(0)
    return UNet(levels=2, width=4, block="residual", in_channels=1, num_classes=3)


def test_fit_and_resume_a_tiny_unet(tmp_path: Path) -> None:
    data = DataBundle(name="masks", train=_masks(64, 0), test=_masks(16, 1), val=None,
                      num_classes=3, in_channels=1, dims=2, input_size=(1, 8, 8), mean=(0.5,),
                      std=(0.3,), source="test")  # fmt: skip
    config = tiny_config("train.steps=10", "train.checkpoint_every=3", "optim.lr=0.05",
                         "data.batch_size=16", "train.deterministic=true")  # fmt: skip
    whole = fit(_model(), data, config, out_dir=tmp_path / "whole", device="cpu")
    assert whole.status == "completed" and 0 <= whole.final["test_err"] <= 1
    with pytest.raises(Interrupt):
        fit(_model(), data, config, out_dir=tmp_path / "cut", device="cpu", callbacks=[StopAt(7)])
    _, state = read_checkpoint(tmp_path / "cut" / "checkpoints" / "latest.safetensors")
    assert state["step"] == 6
    resumed = fit(_model(), data, config, out_dir=tmp_path / "cut", device="cpu", resume=True)
    a, _ = read_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.safetensors")
    b, _ = read_checkpoint(tmp_path / "cut" / "checkpoints" / "latest.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("model/decoders.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.final == whole.final
