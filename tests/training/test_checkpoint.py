"""Checkpoint files: round trip, atomic replacement, one-line errors for every kind of damage."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from reslab.models import create_model
from reslab.training import CheckpointError, read_checkpoint
from reslab.training.checkpoint import (
    atomic_write,
    load_model_state,
    load_optimizer_state,
    model_tensors,
    optimizer_tensors,
    save_checkpoint,
)
from reslab.training.rng import capture_rng, restore_rng

from .helpers import seq_model


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = seq_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 1, 40)).sum().backward()
    optimizer.step()
    optim_tensors, optim_state = optimizer_tensors(optimizer)
    path = tmp_path / "latest.safetensors"
    state = {"model": "resnet20", "step": 3, "optimizer": optim_state}
    save_checkpoint(path, {**model_tensors(model), **optim_tensors}, state)
    return path


def test_round_trip_restores_model_and_optimizer(saved: Path) -> None:
    tensors, state = read_checkpoint(saved)
    assert state["step"] == 3
    model = seq_model()
    load_model_state(model, tensors, saved)
    for key, value in model.state_dict().items():
        assert torch.equal(value, tensors[f"model/{key}"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    load_optimizer_state(optimizer, tensors, state["optimizer"], saved)
    assert optimizer.param_groups[0]["lr"] == 0.1  # the saved group, not the new one
    buffers = [optimizer.state[p]["momentum_buffer"] for p in model.parameters()]
    assert all(b is not None and b.abs().sum() > 0 for b in buffers[:3])


def test_rng_states_round_trip() -> None:
    import random

    import numpy as np

    tensors, state = capture_rng()
    expected = (torch.rand(3), random.random(), np.random.rand())
    restore_rng(tensors, state)
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    atomic_write(path, b"old")
    atomic_write(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


@pytest.mark.parametrize("keep", ["3 bytes", "half", "all but one byte"])
def test_truncated_checkpoint_is_a_one_line_error(saved: Path, keep: str) -> None:
    data = saved.read_bytes()
    length = {"3 bytes": 3, "half": len(data) // 2, "all but one byte": len(data) - 1}[keep]
    saved.write_bytes(data[:length])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        read_checkpoint(saved)
    assert "\n" not in str(info.value) and info.value.__cause__ is None


def test_garbage_bytes_are_a_one_line_error(saved: Path) -> None:
    saved.write_bytes(b"\x00\xff" * 500)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(saved)


def test_tampered_tensor_data_fails_the_checksum(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[-5] ^= 0xFF  # inside the last tensor's bytes; the header still parses
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        read_checkpoint(saved)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a reslab checkpoint"):
        read_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "nope.safetensors")


def test_wrong_architecture_names_the_mismatch(saved: Path) -> None:
    tensors, _ = read_checkpoint(saved)
    deeper = seq_model(32)  # resnet32: more blocks than the saved resnet20
    with pytest.raises(CheckpointError, match=r"does not fit model resnet32: tensors \d+ missing"):
        load_model_state(deeper, tensors, saved)
    wider = create_model("resnet20", dims=1, in_channels=1, num_classes=10, width=32)
    with pytest.raises(CheckpointError, match=r"of another shape \(e\.g\. conv1\.weight"):
        load_model_state(wider, tensors, saved)


def test_loading_never_unpickles(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while reading a checkpoint")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    tensors, state = read_checkpoint(saved)
    assert state["model"] == "resnet20" and tensors
