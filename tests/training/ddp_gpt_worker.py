"""One rank of the GPT data-parallel test: ``python -m torch.distributed.run --nproc-per-node 2
ddp_gpt_worker.py TEXT_FILE OUT_DIR``. LayerNorm is per token, so two ranks of 8 windows compute
what one process of 16 does, up to the order of the all-reduce's sums."""

from __future__ import annotations

import sys

import torch

from reslab.data import DataBundle, load_data
from reslab.models import create_model
from reslab.training import apply_overrides, fit, load_recipe, validate

OVERRIDES = [
    "train.steps=4", "data.batch_size=16", "data.eval_batch_size=64", "data.block_size=16",
    "train.log_every=1", "train.checkpoint_every=2", "train.eval_every=1", "optim.lr=0.003",
]  # fmt: skip


def data(path: str) -> DataBundle:
    return load_data(f"text:{path}", block_size=16)


def model(vocab: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("gpt", vocab_size=vocab, block_size=16, n_layer=2, n_head=2, n_embd=16)


def config():
    # The gpt recipe (AdamW, warm-up, cosine, clipping at 1.0), without dropout: its masks are
    # drawn per rank and would differ from one process's.
    return validate(apply_overrides(load_recipe("gpt"), OVERRIDES))


if __name__ == "__main__":
    torch.set_num_threads(1)
    bundle = data(sys.argv[1])
    fit(model(bundle.num_classes), bundle, config(), out_dir=sys.argv[2], device="cpu")
