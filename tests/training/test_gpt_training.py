"""The GPT through the trainer: a step, gradient clipping, resume and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reslab.data import DataBundle, load_data
from reslab.models import create_model
from reslab.training import ConfigError, fit, read_checkpoint
from reslab.training.optim import clip_gradients

from . import ddp_gpt_worker
from .helpers import Interrupt, StopAt, tiny_config, torchrun

WORKER = Path(__file__).with_name("ddp_gpt_worker.py")

TEXT = "".join(f"{w} " for _ in range(60) for w in ("alas", "poor", "yorick", "i", "knew", "him"))


@pytest.fixture
def text(tmp_path: Path) -> DataBundle:
    path = tmp_path / "hamlet.txt"
    path.write_text(TEXT, encoding="utf-8")
    return load_data(f"text:{path}", block_size=16)


def gpt(data: DataBundle, **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = {"n_layer": 2, "n_head": 2, "n_embd": 16, **kw}
    return create_model("gpt", vocab_size=data.num_classes, block_size=16, **sizes)


def gpt_config(*overrides: str):
    return tiny_config(
        "optim.name=adamw", "optim.lr=0.01", "optim.momentum=0.9", "optim.beta2=0.99",
        "optim.weight_decay=0.1", "optim.decay_norm_and_bias=false", "optim.grad_clip=1.0",
        "schedule.kind=cosine", "schedule.warmup=0.1", "schedule.final_lr=0.1",
        "data.augment=false", "train.label_smoothing=0.0", "train.eval_train=false", *overrides,
    )  # fmt: skip


def test_a_gpt_learns_a_text_and_reports_nats_per_character(text: DataBundle) -> None:
    result = fit(gpt(text), text, gpt_config("train.steps=60", "train.log_every=10"), device="cpu")
    assert result.status == "completed"
    # From about ln(16) = 2.8 nats per character at init to far below the characters' unigram
    # entropy (2.56, what ignoring the context costs): measured 0.26-0.33 over seeds 0-4.
    assert result.final["test_loss"] < 1.0
    assert 0.0 <= result.final["test_err"] < 0.2


def test_grad_clip_bounds_each_update(text: DataBundle) -> None:
    model = gpt(text)
    before = [p.detach().clone() for p in model.parameters()]
    config = tiny_config(
        "optim.lr=0.1", "optim.momentum=0", "optim.nesterov=false", "optim.weight_decay=0",
        "optim.grad_clip=0.001",
        "schedule.kind=constant", "schedule.warmup=0", "train.steps=1", "train.log_every=1",
        "data.augment=false", "train.eval_train=false",
    )  # fmt: skip
    fit(model, text, config, device="cpu")
    moved = torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)]
    )
    # Plain SGD moves the weights by lr * (clipped gradient): exactly 0.1 * 0.001.
    assert moved.norm().item() == pytest.approx(1e-4, rel=1e-3)


def test_clip_unscales_a_scaled_gradient_first() -> None:
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    optimizer = torch.optim.SGD([w], lr=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale((w * torch.tensor([3.0, 4.0])).sum()).backward()  # true gradient (3, 4), norm 5
    clip_gradients(optimizer, 1.0, scaler)
    assert torch.allclose(w.grad, torch.tensor([0.6, 0.8]))  # the true gradient, clipped to 1
    scaler.step(optimizer)  # knows the gradients are unscaled already: not divided again
    assert torch.allclose(w.detach(), torch.tensor([2.4, 3.2]))


def test_negative_grad_clip_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"optim.grad_clip=-1.0 must be >= 0 \(0 turns it off\)"):
        tiny_config("optim.grad_clip=-1.0")


def test_resume_equals_the_uninterrupted_run(text: DataBundle, tmp_path: Path) -> None:
    # Dropout draws from the RNG every step, AdamW has state, the lr warms up and decays, the
    # embeddings are tied: all of it must come back from the checkpoint. 94 windows at batch 16
    # are 6 batches per epoch (5 full + 1 partial), so step 9 resumes mid-epoch.
    config = gpt_config("train.steps=16", "train.checkpoint_every=3", "data.batch_size=16",
                        "train.deterministic=true", "train.log_every=4")  # fmt: skip
    whole = fit(gpt(text, dropout=0.1), text, config, out_dir=tmp_path / "whole", device="cpu")
    cut = tmp_path / "cut"
    with pytest.raises(Interrupt):
        fit(gpt(text, dropout=0.1), text, config, out_dir=cut, device="cpu",
            callbacks=[StopAt(11)])  # fmt: skip
    resumed = fit(gpt(text, dropout=0.1), text, config, out_dir=cut, device="cpu", resume=True)
    a, _ = read_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.safetensors")
    b, state = read_checkpoint(cut / "checkpoints" / "latest.safetensors")
    assert a.keys() == b.keys() and "model/lm_head.weight" in a and "model/wte.weight" in a
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.final == whole.final and state["step"] == 16
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]


@pytest.mark.slow  # two torchrun processes: 26 s on a shared 2-core machine
def test_two_gloo_ranks_train_a_gpt_like_one_process(tmp_path: Path) -> None:
    text_file = tmp_path / "hamlet.txt"
    text_file.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "ddp"
    torchrun(str(WORKER), str(text_file), str(out))
    ddp = json.loads((out / "summary.json").read_text())
    assert ddp["env"]["world_size"] == 2
    bundle = ddp_gpt_worker.data(str(text_file))
    single_model = ddp_gpt_worker.model(bundle.num_classes)
    single = fit(single_model, bundle, ddp_gpt_worker.config(), device="cpu")
    # Gradients averaged over ranks, then clipped, as one process: the same losses up to the
    # order of the sums (as the ResNet test in test_distributed.py).
    losses = [h["train_loss"] for h in single.history]
    assert [h["train_loss"] for h in ddp["history"]] == pytest.approx(losses, rel=1e-4)
    tensors, _ = read_checkpoint(out / "checkpoints" / "latest.safetensors")
    for key, value in single_model.state_dict().items():
        torch.testing.assert_close(tensors[f"model/{key}"], value, rtol=1e-3, atol=1e-5)
