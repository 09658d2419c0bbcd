"""The two networks a landscape compares: built from a seed, trained once, kept in a checkpoint.

The checkpoint (initial and trained weights, plus what training measured) lets an interrupted
run resume its grids around exactly the same point of parameter space: retraining, even with
the same seed, is not guaranteed to give bit-identical weights across machines or thread counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from reslab.data import DataBundle
from reslab.experiments.common import final_err_pct
from reslab.experiments.protocol import net_for
from reslab.training import apply_overrides, fit, load_recipe, set_field
from reslab.training.checkpoint import read_checkpoint, save_checkpoint
from reslab.training.config import TrainConfig
from reslab.training.distributed import DistContext

if TYPE_CHECKING:
    from reslab.experiments.landscape.path import PathRecorder

INIT, TRAINED = "init/", "trained/"


@dataclass
class TrainSummary:
    status: str  # "completed" or "diverged"
    train_err: float  # %, whole training split, eval mode (chance level if diverged)
    test_err: float  # %
    wall_s: float
    reused: bool = False  # read back from the run directory's checkpoint, not trained now


def build_net(depth: int, shortcut: str, seed: int, bundle: DataBundle) -> nn.Module:
    """The initial weights depend on ``seed`` only; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return net_for(bundle, depth, shortcut=shortcut)


def train_key(train_cfg: TrainConfig, depth: int, shortcut: str) -> str:
    spec = {"train": train_cfg.to_dict(), "depth": depth, "shortcut": shortcut}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def make_train_config(
    recipe: str, data: str, epochs: int | None, steps: int | None, seed: int,
    overrides: tuple[str, ...],
) -> TrainConfig:  # fmt: skip
    cfg = load_recipe(recipe)
    for key, value in (
        ("data.name", data), ("train.epochs", epochs), ("train.steps", steps),
        ("train.seed", seed), ("train.eval_train", True), ("train.checkpoint_every", 0),
    ):  # fmt: skip
        cfg = set_field(cfg, key, value)
    return apply_overrides(cfg, overrides)


def train_or_reuse(
    model: nn.Module, bundle: DataBundle, train_cfg: TrainConfig, key: str, *,
    device: torch.device, ctx: DistContext, checkpoint: Path | None,
    recorder: PathRecorder | None = None,
) -> tuple[dict[str, torch.Tensor], TrainSummary]:  # fmt: skip
    """Train ``model`` in place (or load it from ``checkpoint`` when its key matches); returns
    the initial state and what training measured. Under torchrun every rank ends identical.
    A ``recorder`` takes snapshots during training; they are kept in the checkpoint and read
    back with it (on rank 0 only)."""
    init = {k: v.detach().clone().to(device) for k, v in model.state_dict().items()}
    stored = _read(checkpoint, key) if checkpoint is not None and ctx.is_main else None
    if ctx.active:
        box = [stored is not None]
        dist.broadcast_object_list(box, src=0)
        reuse = bool(box[0])
    else:
        reuse = stored is not None
    if reuse:
        summary = _load(model, init, stored) if stored is not None else None
        if recorder is not None and stored is not None:
            recorder.restore(stored[0])
        model.to(device)
    else:
        callbacks = [recorder] if recorder is not None else None
        result = fit(model, bundle, train_cfg, device=device, callbacks=callbacks)
        summary = TrainSummary(
            result.status, final_err_pct(result, "train_err", bundle.num_classes),
            final_err_pct(result, "test_err", bundle.num_classes), result.wall_s,
        )  # fmt: skip
        if checkpoint is not None and ctx.is_main:
            extra = recorder.tensors() if recorder is not None else {}
            _write(checkpoint, key, init, model, summary, extra)
    if ctx.active:  # rank 0's weights (and BN statistics) are the ones every rank probes
        summary = _broadcast_state(model, init, summary)
    assert summary is not None
    return init, summary


def _read(path: Path, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    if not path.exists():
        return None
    tensors, state = read_checkpoint(path)
    if state.get("key") != key:
        raise ValueError(
            f"{str(path)!r} holds a net trained with another configuration (recipe, overrides "
            "or reslab's training defaults differ); choose another --out or delete the file"
        )
    return tensors, state


def _load(
    model: nn.Module,
    init: dict[str, torch.Tensor],
    stored: tuple[dict[str, torch.Tensor], dict[str, Any]],
) -> TrainSummary:
    tensors, state = stored
    model.load_state_dict(
        {k[len(TRAINED) :]: v for k, v in tensors.items() if k.startswith(TRAINED)}
    )
    for name, value in init.items():
        value.copy_(tensors[INIT + name])
    return TrainSummary(**{**state["summary"], "reused": True})


def _write(
    path: Path, key: str, init: dict[str, torch.Tensor], model: nn.Module, summary: TrainSummary,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:  # fmt: skip
    tensors = {INIT + k: v for k, v in init.items()}
    tensors.update({TRAINED + k: v for k, v in model.state_dict().items()})
    tensors.update(extra or {})
    save_checkpoint(path, tensors, {"key": key, "summary": asdict(summary)})


def _broadcast_state(
    model: nn.Module, init: dict[str, torch.Tensor], summary: TrainSummary | None
) -> TrainSummary:
    for tensor in [*model.state_dict().values(), *init.values()]:
        dist.broadcast(tensor, src=0)  # state_dict() tensors share the model's storage
    box = [summary]
    dist.broadcast_object_list(box, src=0)
    return box[0]
