"""A DenseNet trains with the trainer as a ResNet does: checkpoints, resume and the checkpointing
switch (which for a DenseNet is torchvision's memory-efficient concatenation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.models import cifar_densenet
from reslab.training import fit, read_checkpoint

from .helpers import Interrupt, StopAt, tiny_config


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    # DenseNet-BC-22 (three layers per block) for (N, 1, 40) sequences, with dropout so the RNG
    # state must be restored on resume too.
    return cifar_densenet(22, dims=1, in_channels=1, drop_rate=0.1)


def _config(*extra: str):
    return tiny_config(
        "train.steps=12", "train.checkpoint_every=5", "train.deterministic=true", *extra
    )


@pytest.mark.parametrize("memory_efficient", [False, True])
def test_densenet_resumes_bit_identical(seq_data, tmp_path: Path, memory_efficient: bool) -> None:
    extra = (f"train.checkpoint_blocks={str(memory_efficient).lower()}",)
    whole = fit(_model(), seq_data, _config(*extra), out_dir=tmp_path / "whole", device="cpu")
    cut = tmp_path / "cut"
    with pytest.raises(Interrupt):
        fit(_model(), seq_data, _config(*extra), out_dir=cut, device="cpu", callbacks=[StopAt(7)])
    resumed = fit(_model(), seq_data, _config(*extra), out_dir=cut, device="cpu", resume=True)
    a, _ = read_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.safetensors")
    b, _ = read_checkpoint(cut / "checkpoints" / "latest.safetensors")
    assert a.keys() == b.keys() and any(".denselayer1.conv1." in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.final == whole.final and resumed.steps == whole.steps == 12


def test_memory_efficient_training_matches_plain_training(seq_data, tmp_path: Path) -> None:
    plain = fit(_model(), seq_data, _config(), device="cpu")
    efficient = fit(_model(), seq_data, _config("train.checkpoint_blocks=true"), device="cpu")
    assert [h["train_loss"] for h in plain.history] == [h["train_loss"] for h in efficient.history]
    assert plain.final == efficient.final
