"""The CUDA paths of ``fit``: each precision, channels_last + compile, gradient checkpointing.

They skip on machines without a GPU (CI has none); the closing notes say where they last ran.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from reslab.data import make_loader
from reslab.models import create_model
from reslab.training import evaluate, fit

from .helpers import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def image_model(**kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("resnet20", num_classes=10, **kwargs)


@pytest.fixture
def no_tf32():
    # TF32 convolutions round inputs to 10 mantissa bits: compare fp32 with fp32.
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_each_precision_trains_on_cuda(image_data, precision: str) -> None:
    config = tiny_config(f"train.precision={precision}", "train.steps=48", "train.log_every=8")
    result = fit(image_model(), image_data, config, device="cuda")
    assert result.status == "completed" and result.env["cuda"] is not None
    losses = [h["train_loss"] for h in result.history]
    assert all(math.isfinite(v) for v in losses)
    # Three epochs of synthetic images: the loss falls well below chance's ln(10) = 2.30.
    assert losses[-1] < 0.8 * losses[0]
    assert result.final["test_err"] < 0.6


def test_channels_last_and_compile_match_eager_on_cuda(image_data, no_tf32) -> None:
    # A small lr and few steps: at the recipe's lr 0.2 these tiny runs are chaotic, and rounding
    # differences of 1e-6 after one step grow ~100x per step (measured), whatever the kernels.
    base = tiny_config("train.steps=4", "train.log_every=1", "optim.lr=0.01",
                       "train.deterministic=true")  # fmt: skip
    eager = image_model().cuda()
    eager_run = fit(eager, image_data, base, device="cuda")
    fast = image_model().cuda()
    fast_run = fit(fast, image_data, dataclasses.replace(
        base, train=dataclasses.replace(base.train, channels_last=True, compile=True)
    ), device="cuda")  # fmt: skip
    # Same seeds, same batches: the two runs differ only in memory layout and kernels.
    losses = [[h["train_loss"] for h in r.history] for r in (eager_run, fast_run)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    for (name, a), b in zip(eager.state_dict().items(), fast.state_dict().values(), strict=True):
        if a.is_floating_point():
            assert torch.allclose(a, b.float(), rtol=1e-3, atol=1e-4), name


def test_gradient_checkpointing_gives_the_same_weights_on_cuda(image_data) -> None:
    base = tiny_config("train.steps=6", "train.deterministic=true")
    models = []
    for blocks in (False, True):
        config = dataclasses.replace(
            base, train=dataclasses.replace(base.train, checkpoint_blocks=blocks)
        )
        model = image_model().cuda()
        fit(model, image_data, config, device="cuda")
        models.append(model)
    for (name, a), b in zip(
        models[0].state_dict().items(), models[1].state_dict().values(), strict=True
    ):
        assert torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6), name


def test_cuda_evaluation_equals_cpu_evaluation(image_data, no_tf32) -> None:
    model = image_model().eval()
    loader = make_loader(image_data, "test", batch_size=128, train=False)
    cpu = evaluate(model, loader, device="cpu")
    loader = make_loader(image_data, "test", batch_size=128, train=False, device="cuda")
    gpu = evaluate(model.cuda(), loader, device="cuda")
    assert gpu["loss"] == pytest.approx(cpu["loss"], rel=1e-4)
    assert gpu["err"] == pytest.approx(cpu["err"], abs=2 / 256)


def test_fp16_with_gradient_clipping_trains_a_gpt_on_cuda(tmp_path) -> None:
    # The GradScaler path unscales before clipping (training/optim.py, clip_gradients).
    from reslab.data import load_data

    path = tmp_path / "play.txt"
    path.write_text("to be, or not to be: that is the question. " * 60, encoding="utf-8")
    data = load_data(f"text:{path}", block_size=16)
    torch.manual_seed(0)
    model = create_model("gpt", vocab_size=data.num_classes, block_size=16, n_layer=2, n_head=2,
                         n_embd=16)  # fmt: skip
    config = tiny_config("train.precision=fp16", "optim.grad_clip=1.0", "optim.name=adamw",
                         "optim.lr=0.01", "data.augment=false", "train.steps=30")  # fmt: skip
    result = fit(model, data, config, device="cuda")
    assert result.status == "completed" and math.isfinite(result.final["test_loss"])
    assert result.final["test_loss"] < math.log(data.num_classes)
