"""One rank of the relatives' data-parallel test: ``python -m torch.distributed.run
--nproc-per-node 2 ddp_relatives_worker.py OUT_DIR``. Each net trains a few steps under DDP and
every rank saves the weights it ends with, so the test can compare the ranks."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from reslab.data import DataBundle, load_data
from reslab.data.shapes import load_shapes
from reslab.models import cifar_densenet, create_model, highway_mlp
from reslab.training import apply_overrides, fit, load_recipe, validate

OVERRIDES = [
    "train.epochs=null", "train.steps=3", "data.batch_size=16", "train.log_every=1",
    "train.checkpoint_every=0", "train.eval_train=false", "data.augment=false",
    "data.eval_batch_size=64",
]  # fmt: skip


def nets() -> dict[str, tuple[nn.Module, DataBundle]]:
    """Tiny versions of each relative, each on data it takes (built on every rank alike)."""
    torch.manual_seed(0)
    images, sequences = load_data("synthetic"), load_data("synthetic1d")
    shapes = load_shapes(size=16, train_size=64, test_size=16)
    return {
        "highway": (highway_mlp(3, in_channels=3, input_size=(3, 32, 32)), images),
        "densenet": (cifar_densenet(10, 4, dims=1, in_channels=1), sequences),
        "unet": (create_model("unet", levels=2, width=4, in_channels=1, num_classes=3), shapes),
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    config = validate(apply_overrides(load_recipe("mnist1d"), OVERRIDES))
    for name, (model, data) in nets().items():
        fit(model, data, config, out_dir=out / name, device="cpu")
        rank = dist.get_rank() if dist.is_initialized() else 0
        (out / name).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out / name / f"weights-rank{rank}.pt")
