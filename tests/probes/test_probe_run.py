"""The glue of ``reslab probe``: evenly spread samples, what a single deletion measures, and the
models and data each probe refuses."""

from __future__ import annotations

import pytest
import torch

from reslab import create_model
from reslab.data import DataBundle, Split
from reslab.probes.lesions import lesioned
from reslab.probes.run import block_names, load_probe_data, probe_batches, probe_model
from reslab.training import objective

pytestmark = pytest.mark.usefixtures("one_thread")


def token_bundle(n: int = 10, t: int = 8, vocab: int = 11) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (n, t), generator=g)
    split = Split(x, torch.roll(x, -1, dims=1))
    return DataBundle(name="tokens", train=split, test=split, val=None, num_classes=vocab,
                      in_channels=1, dims=0, input_size=(t,), mean=(0.0,), std=(1.0,),
                      source="test")  # fmt: skip


def gpt() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("gpt", vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16).eval()


def test_samples_are_spread_evenly_over_the_split() -> None:
    labels = torch.arange(10)
    bundle = token_bundle()
    bundle.test = Split(torch.zeros(10, 8, dtype=torch.long), labels[:, None].expand(10, 8).clone())
    batches = probe_batches(bundle, samples=4, batch_size=3)
    got = torch.cat([y[:, 0] for _, y in batches]).tolist()
    assert got == [0, 3, 6, 9] and [len(y) for _, y in batches] == [3, 1]
    with pytest.raises(ValueError, match=r"samples=11 but tokens test has 10; accepted: "):
        probe_batches(bundle, samples=11, batch_size=3)


def test_lesion_rows_are_each_block_deleted_alone() -> None:
    model = gpt()
    with torch.no_grad():  # the first MLP's branch adds nothing: deleting it changes nothing
        model.blocks[1].c_proj.weight.zero_()
    batches = probe_batches(token_bundle(), samples=6, batch_size=4)
    result = probe_model("lesion", model, batches)
    assert [r["name"] for r in result.rows] == block_names(model) == [
        "h.0.attn", "h.0.mlp", "h.1.attn", "h.1.mlp"]  # fmt: skip
    assert result.rows[1]["loss_rise"] == 0.0 and result.rows[1]["err_rise"] == 0.0
    assert all(r["loss_rise"] != 0.0 for i, r in enumerate(result.rows) if i != 1)
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    with torch.no_grad(), lesioned(model, [2]):
        by_hand = objective.loss(model(x), y, dim=-1).item()
    assert result.rows[2]["loss"] == pytest.approx(by_hand, rel=1e-6)
    assert result.samples == 6 and result.plot == ["loss"]


def test_probes_refuse_models_they_cannot_measure() -> None:
    batches = probe_batches(token_bundle(), samples=4, batch_size=4)
    with pytest.raises(ValueError, match=r"responses need a convolutional ResNet .*got GPT"):
        probe_model("responses", gpt(), batches)
    with torch.device("meta"):  # refused before it computes anything
        vgg = create_model("vgg19")
    with pytest.raises(ValueError, match=r"VGG has no residual blocks .* to lesion"):
        probe_model("lesion", vgg, batches)
    with pytest.raises(ValueError, match=r"probe='ablate' is unknown; accepted: gradients, "):
        probe_model("ablate", gpt(), batches)


def test_text_must_fit_the_models_vocabulary(tmp_path) -> None:
    path = tmp_path / "text.txt"
    path.write_text("abcdefghijklmnopqrstuvwxyz" * 20)
    with pytest.raises(ValueError, match=r"\(26 classes\) does not fit a language model of "
                       r"vocabulary 11"):  # fmt: skip
        load_probe_data(f"text:{path}", gpt())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lesion_on_cuda_matches_the_cpu() -> None:
    model = gpt()
    cpu = probe_model("lesion", model, probe_batches(token_bundle(), samples=6, batch_size=4))
    model.to("cuda")
    batches = probe_batches(token_bundle(), samples=6, batch_size=4, device="cuda")
    assert batches[0][0].device.type == "cuda"
    gpu = probe_model("lesion", model, batches)
    for a, b in zip(cpu.rows, gpu.rows, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)


def test_a_reslab_training_checkpoint_is_refused_with_what_to_use(tmp_path) -> None:
    from reslab.probes.run import load_model
    from reslab.training.checkpoint import model_tensors, save_checkpoint

    path = tmp_path / "latest.safetensors"
    save_checkpoint(path, model_tensors(gpt()), {"model": "gpt"})
    with pytest.raises(ValueError, match=r"is a reslab training checkpoint; .*`reslab eval`"):
        load_model(model_file=path)
