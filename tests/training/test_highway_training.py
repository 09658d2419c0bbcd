"""Highway nets train with the ordinary trainer: checkpoints, resume and the registry's build."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.models import create_model
from reslab.training import fit, read_checkpoint

from .helpers import Interrupt, StopAt, tiny_config


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(f"{kind}_mlp10", dims=1, in_channels=1, input_size=(1, 40))


@pytest.mark.parametrize("kind", ["highway", "plain", "residual"])
def test_resume_of_a_highway_net_is_bit_identical(kind: str, seq_data, tmp_path: Path) -> None:
    config = tiny_config(
        "train.steps=12", "train.checkpoint_every=4", "train.deterministic=true",
        recipe="highway",
    )  # fmt: skip
    whole = fit(_model(kind), seq_data, config, out_dir=tmp_path / "whole", device="cpu")
    assert whole.status == "completed"
    cut = tmp_path / "cut"
    with pytest.raises(Interrupt):
        fit(_model(kind), seq_data, config, out_dir=cut, device="cpu", callbacks=[StopAt(6)])
    fit(_model(kind), seq_data, config, out_dir=cut, device="cpu", resume=True)
    a, _ = read_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.safetensors")
    b, _ = read_checkpoint(cut / "checkpoints" / "latest.safetensors")
    gates = [k for k in a if "gate" in k]
    assert bool(gates) == (kind == "highway")
    for key in a:
        assert torch.equal(a[key], b[key]), key
