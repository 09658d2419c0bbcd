"""The relatives (Highway, DenseNet, U-Net) train under DDP: two gloo ranks that see different
halves of each batch end every step with the same weights, which holds only if every parameter's
gradient was all-reduced (a parameter DDP missed would drift apart between the ranks)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .helpers import torchrun

WORKER = Path(__file__).with_name("ddp_relatives_worker.py")


def test_two_gloo_ranks_end_with_the_same_weights(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    torchrun(str(WORKER), str(out), cache=tmp_path / "cache")
    for name in ("highway", "densenet", "unet"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["env"]["world_size"] == 2, name
        first, second = (torch.load(out / name / f"weights-rank{r}.pt") for r in (0, 1))
        assert first.keys() == second.keys()
        trained = [k for k in first if first[k].is_floating_point()]
        assert trained, name
        # BatchNorm running statistics are per rank (each sees its own half); weights are not.
        params = [k for k in trained if "running_" not in k]
        different = [k for k in params if not torch.equal(first[k], second[k])]
        assert not different, f"{name}: ranks disagree on {different[:3]}"
