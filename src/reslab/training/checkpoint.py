"""Checkpoints as one safetensors file: weights (``model/...``), optimizer tensors (``optim/...``)
and random states (``rng/...``), with the rest of the trainer state as JSON in the header.

One file, so a checkpoint is replaced atomically as a whole (``reslab.io.atomic_write``: temp
file, fsync, ``os.replace``). Reading it never runs code (no pickle), and a SHA-256 of the
tensors, kept in the header, turns a modified or truncated file into a one-line
``CheckpointError`` instead of a deep traceback.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from reslab.io import TEMP_GLOB, atomic_write
from reslab.training.errors import CheckpointError

FORMAT = "reslab-checkpoint/1"
MODEL, OPTIM = "model/", "optim/"


def remove_stale_temps(directory: Path) -> None:
    """Temp files a killed writer left behind (they are never read)."""
    for tmp in directory.glob(TEMP_GLOB):
        tmp.unlink(missing_ok=True)


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    tensors = _unshared({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    header = {"format": FORMAT, "sha256": _digest(tensors), "state": json.dumps(state)}
    atomic_write(Path(path), safetensors.torch.save(tensors, metadata=header))


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory; tied weights (a GPT's embedding and output
    # matrix, Press & Wolf 2017) are one tensor under two names, so the second name gets a copy.
    seen: set[int] = set()
    out = {}
    for key, value in tensors.items():
        ptr = value.untyped_storage().data_ptr()
        out[key] = value.clone() if ptr in seen and value.numel() else value
        seen.add(ptr)
    return out


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, state) of a checkpoint, or a ``CheckpointError`` saying what is wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror}") from None
    try:
        tensors = safetensors.torch.load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        meta = header.get("__metadata__") or {}
    except Exception as err:  # safetensors raises its own error types for each kind of damage
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt: {reason})"
        ) from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a reslab checkpoint (format "
            f"{meta.get('format')!r}, expected {FORMAT!r})"
        )
    if _digest(tensors) != meta.get("sha256"):
        raise CheckpointError(
            f"{path} fails its SHA-256 check: it was modified after being written"
        )
    try:
        state = json.loads(meta["state"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{path} has no readable trainer state in its header") from None
    return tensors, state


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {MODEL + k: v for k, v in model.state_dict().items()}


def load_model_state(model: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Load the ``model/`` tensors, or explain in one line why they do not fit ``model``."""
    state = {k[len(MODEL) :]: v for k, v in tensors.items() if k.startswith(MODEL)}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or reshaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if reshaped:
            k = reshaped[0]
            parts.append(
                f"{len(reshaped)} of another shape (e.g. {k}: checkpoint "
                f"{tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
            )
        name = getattr(model, "reslab_name", type(model).__name__)
        raise CheckpointError(f"{source} does not fit model {name}: tensors {'; '.join(parts)}")
    model.load_state_dict(state)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state split into tensors (momentum buffers, ...) and JSON (groups, scalars)."""
    full = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in full["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIM}{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": full["param_groups"], "state": scalars}


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict, source: Path
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(OPTIM):
            index, name = key[len(OPTIM) :].split("/", 1)
            state.setdefault(int(index), {})[name] = value
    for index, scalars in saved["state"].items():
        state.setdefault(int(index), {}).update(scalars)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    except (ValueError, KeyError) as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{source}: optimizer state does not fit: {first}") from None
