"""Interrupt, resume, and end bit-identical to a run that was never interrupted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reslab.training import fit, read_checkpoint

from .helpers import Interrupt, StopAt, seq_model, tiny_config


def _model() -> torch.nn.Module:
    # Drop-path draws from the global torch RNG every step, so the RNG state must be restored too.
    torch.manual_seed(0)
    return seq_model(drop_path_rate=0.2)


def _config():
    # 512 train sequences / batch 32 = 16 batches per epoch, randomly shifted (crop_padding), so
    # step 21 resumes mid-epoch (batch 5 of epoch 1); 40 steps span 2.5 epochs.
    return tiny_config(
        "train.steps=40", "train.checkpoint_every=7", "train.deterministic=true",
        "train.log_every=5", "data.crop_padding=3",
    )  # fmt: skip


def test_resume_is_bit_identical(seq_data, tmp_path: Path) -> None:
    whole = fit(_model(), seq_data, _config(), out_dir=tmp_path / "whole", device="cpu")

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Interrupt):
        fit(_model(), seq_data, _config(), out_dir=interrupted, device="cpu",
            callbacks=[StopAt(23)])  # fmt: skip
    _, state = read_checkpoint(interrupted / "checkpoints" / "latest.safetensors")
    assert state["step"] == 21 and state["epoch"] == 1 and state["batch"] == 5
    resumed = fit(_model(), seq_data, _config(), out_dir=interrupted, device="cpu", resume=True)

    a, _ = read_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.safetensors")
    b, _ = read_checkpoint(interrupted / "checkpoints" / "latest.safetensors")
    assert a.keys() == b.keys()
    weights = [k for k in a if k.startswith("model/")]
    assert len(weights) > 100 and any(k.startswith("optim/") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.history == [
        {**h, "img_s": r["img_s"]} for h, r in zip(whole.history, resumed.history, strict=True)
    ]
    strip = ("time",)
    assert [{k: v for k, v in e.items() if k not in strip} for e in resumed.epochs] == [
        {k: v for k, v in e.items() if k not in strip} for e in whole.epochs
    ]
    assert resumed.final == whole.final and resumed.steps == whole.steps == 40


def test_metrics_log_reads_as_one_run(seq_data, tmp_path: Path) -> None:
    with pytest.raises(Interrupt):
        fit(_model(), seq_data, _config(), out_dir=tmp_path, device="cpu",
            callbacks=[StopAt(23)])  # fmt: skip
    fit(_model(), seq_data, _config(), out_dir=tmp_path, device="cpu", resume=True)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    steps = [r["step"] for r in rows if r["kind"] == "step"]
    assert steps == list(range(5, 41, 5))
    assert [r["epoch"] for r in rows if r["kind"] == "epoch"] == [1, 2, 3]
