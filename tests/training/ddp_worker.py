"""One rank of the data-parallel test: ``python -m torch.distributed.run --nproc-per-node 2
ddp_worker.py OUT_DIR``. The test compares what rank 0 writes with a single-process run."""

from __future__ import annotations

import sys

import torch
from torch import nn

from reslab.data import load_data
from reslab.models import create_model
from reslab.training import apply_overrides, fit, load_recipe, validate

# synthetic1d (512 sequences) at a global batch of 32: each rank takes 16 per step. No
# augmentation: its random shifts are drawn per rank, so they would differ from one process's.
# lr 0.02, not the recipe's 0.2: at 0.2 the loss spikes to ~15 and the run is chaotic, so the
# 1e-7 rounding differences of the all-reduce grow past 1e-3 (seen on a 16-core machine).
# 4 steps, not more: now and then a rounding difference moves a pre-activation across a ReLU's
# kink, which changes a gradient by far more than rounding; over 12 steps the losses of the two
# runs then drifted apart by up to 5e-4 (seed 4), over 4 steps by at most 2.3e-5 (measured).
OVERRIDES = [
    "train.epochs=null", "train.steps=4", "data.batch_size=32", "train.log_every=1",
    "train.checkpoint_every=2", "train.eval_train=false", "data.augment=false", "optim.lr=0.02",
]  # fmt: skip


def group_norm_model() -> nn.Module:
    """ResNet-20 (1-D) with GroupNorm for BatchNorm: per-sample statistics, so two ranks of 16
    compute exactly what one process of 32 does (BatchNorm would see half-batch statistics)."""
    torch.manual_seed(0)
    model = create_model("resnet20", dims=1, in_channels=1, num_classes=10)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm1d):
                norm = nn.GroupNorm(1, child.num_features)
                setattr(parent, name, norm)
                view = parent.__dict__.get("branch")  # a block's unregistered view of its layers
                if view is not None and name in view._modules:
                    setattr(view, name, norm)
    return model


def config():
    return validate(apply_overrides(load_recipe("mnist1d"), OVERRIDES))


if __name__ == "__main__":
    torch.set_num_threads(1)
    fit(group_norm_model(), load_data("synthetic1d"), config(), out_dir=sys.argv[1], device="cpu")
