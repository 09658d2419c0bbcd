"""Bring your own model: each loader turns a source model, saved in its own format, into a reslab
model that computes the same outputs, and refuses what it cannot express in one line.

Measured max |output difference| (CPU, float32, weights jittered off their init): nanoGPT with
flash attention (its default), with and without biases and compiled keys, 0; nanoGPT's non-flash
path 3.0e-7 here on outputs of 1.5 (1.7e-6 on 3.5 with 4 layers: explicit softmax attention vs
SDPA); transformers' GPT2LMHeadModel 0 with its default SDPA attention (1.8e-6 with "eager");
timm resnet18/34/50, resnext50_32x4d, wide_resnet50_2 0; torchvision resnet18, resnet50,
densenet121 weights 0.
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from tests.models import nanogpt_reference as nanogpt
from torch import nn

from reslab import load_pretrained
from reslab.models import GPT, ResNet
from reslab.models.pretrained import (
    PretrainedError,
    UnmappedKeyError,
    UnsupportedConfigError,
)
from reslab.models.pretrained.torchvision import cache_path

VOCAB, BLOCK = 23, 16


pytestmark = pytest.mark.usefixtures("one_thread")


def tokens(n: int = 3, t: int = BLOCK, vocab: int = VOCAB) -> torch.Tensor:
    return torch.randint(0, vocab, (n, t), generator=torch.Generator().manual_seed(7))


def jitter(model: nn.Module, scale: float = 0.1) -> nn.Module:
    """Every parameter and BN statistic moved off its init, so a LayerNorm gain, a bias or a BN
    that a loader mapped to the wrong place (or not at all) shows in the outputs."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
    return model.eval()


# ---- nanoGPT ---------------------------------------------------------------------------------


def nanogpt_model(bias: bool = True, flash: bool = True) -> nanogpt.GPT:
    torch.manual_seed(0)
    config = nanogpt.GPTConfig(block_size=BLOCK, vocab_size=VOCAB, n_layer=2, n_head=2,
                               n_embd=16, dropout=0.1, bias=bias)  # fmt: skip
    return jitter(nanogpt.GPT(config, flash=flash))  # type: ignore[return-value]


def save_ckpt(model: nanogpt.GPT, path: Path, compiled: bool = False) -> Path:
    torch.save(nanogpt.checkpoint(model, compiled_prefix=compiled), path)
    return path


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("compiled", [False, True])
def test_nanogpt_checkpoint_gives_the_same_logits(
    tmp_path: Path, bias: bool, compiled: bool
) -> None:
    ref = nanogpt_model(bias)
    path = save_ckpt(ref, tmp_path / "ckpt.pt", compiled)
    ours = load_pretrained(f"nanogpt:{path}")
    assert isinstance(ours, GPT) and not ours.training
    assert ours.lm_head.weight is ours.wte.weight  # tied, as in nanoGPT
    assert ours.pretrained_info.family == "nanogpt"
    x = tokens()
    with torch.no_grad():
        expected, _ = ref(x, x)  # with targets: logits at every position
        got = ours(x)
        last, _ = ref(x)  # inference: the last position only
    assert torch.equal(got, expected)  # measured: identical (same SDPA kernel, same order)
    # nanoGPT's own inference path multiplies one row by lm_head: rounding differs from its
    # full path (and ours) in the last bits (measured 1.2e-7).
    assert torch.allclose(got[:, -1:], last, rtol=0, atol=1e-6)
    assert expected.abs().max() > 0.1  # not a comparison of two near-zero tensors
    assert ours.blocks[0].heads.dropout == 0.1  # the checkpoint's dropout is kept


def test_nanogpt_non_flash_checkpoint_has_its_mask_buffer_ignored(tmp_path: Path) -> None:
    ref = nanogpt_model(flash=False)
    assert "transformer.h.0.attn.bias" in ref.state_dict()  # the causal mask buffer
    ours = load_pretrained(save_ckpt(ref, tmp_path / "ckpt.pt"), dropout=0.0)  # told by content
    x = tokens()
    with torch.no_grad():
        expected, got = ref(x, x)[0], ours(x)
    # Explicit softmax attention vs SDPA: rounding only (measured 3.0e-7 on outputs up to 1.5).
    assert (got - expected).abs().max() <= 1e-6 * expected.abs().max()
    assert ours.blocks[0].heads.dropout == 0.0


def test_nanogpt_refusals_name_what_is_wrong(tmp_path: Path) -> None:
    ref = nanogpt_model()
    with pytest.raises(PretrainedError, match=r"^no weights file at .*missing\.pt$"):
        load_pretrained(f"nanogpt:{tmp_path / 'missing.pt'}")
    ckpt = nanogpt.checkpoint(ref)
    ckpt["model"]["transformer.h.0.attn.rotary.inv_freq"] = torch.zeros(4)
    torch.save(ckpt, tmp_path / "extra.pt")
    with pytest.raises(UnmappedKeyError, match=r"'transformer\.h\.0\.attn\.rotary\.inv_freq'"):
        load_pretrained(f"nanogpt:{tmp_path / 'extra.pt'}")
    ckpt = nanogpt.checkpoint(ref)
    ckpt["model_args"]["n_kv_head"] = 1
    torch.save(ckpt, tmp_path / "gqa.pt")
    with pytest.raises(UnsupportedConfigError, match=r"model_args field 'n_kv_head'.*accepted"):
        load_pretrained(f"nanogpt:{tmp_path / 'gqa.pt'}")
    ckpt = nanogpt.checkpoint(ref)
    del ckpt["model"]["transformer.ln_f.weight"]
    torch.save(ckpt, tmp_path / "short.pt")
    with pytest.raises(UnmappedKeyError, match=r"lacks 'ln_f\.weight'"):
        load_pretrained(f"nanogpt:{tmp_path / 'short.pt'}")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(PretrainedError, match=r"not a nanoGPT checkpoint.*'model_args'"):
        load_pretrained(f"nanogpt:{tmp_path / 'other.pt'}")
    with pytest.raises(PretrainedError, match=r"unknown prefix 'hub'.*nanogpt:PATH"):
        load_pretrained("hub:gpt2")


# ---- Hugging Face GPT-2 ----------------------------------------------------------------------


def hf_gpt2(**overrides: object) -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=BLOCK,
        bos_token_id=0, eos_token_id=0, **overrides,
    )  # fmt: skip
    return jitter(transformers.GPT2LMHeadModel(config))


def test_gpt2_saved_folder_gives_the_same_logits(tmp_path: Path) -> None:
    hf = hf_gpt2()
    hf.save_pretrained(tmp_path / "gpt2")
    ours = load_pretrained(f"gpt2:{tmp_path / 'gpt2'}")
    assert isinstance(ours, GPT) and ours.activation == "gelu_tanh"
    assert ours.lm_head.weight is ours.wte.weight
    x = tokens()
    with torch.no_grad():
        expected, got = hf(x).logits, ours(x)
    assert torch.equal(got, expected)  # measured: identical with transformers' SDPA attention
    assert expected.abs().max() > 0.1
    # The Conv1D transposition is exercised: a square c_proj loaded untransposed would also fit.
    conv1d = hf.transformer.h[0].attn.c_proj.weight
    assert torch.equal(ours.blocks[0].heads.c_proj.weight, conv1d.t())
    # A .safetensors file with config.json beside it, and a folder with pytorch_model.bin.
    file = next((tmp_path / "gpt2").glob("*.safetensors"))
    assert torch.equal(load_pretrained(f"gpt2:{file}")(x), got)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "config.json").write_text((tmp_path / "gpt2" / "config.json").read_text())
    torch.save(hf.state_dict(), bin_dir / "pytorch_model.bin")
    assert torch.equal(load_pretrained(bin_dir)(x), got)


def test_gpt2_in_memory_and_exact_gelu(tmp_path: Path) -> None:
    hf = hf_gpt2(activation_function="gelu")
    ours = load_pretrained(hf)
    assert ours.activation == "gelu"
    x = tokens()
    with torch.no_grad():
        assert torch.equal(ours(x), hf(x).logits)
        # The tanh approximation is a different function: loading with it would not match.
        ours.blocks[1].layers.gelu = nn.GELU(approximate="tanh")  # the branch's own module
        assert not torch.equal(ours(x), hf(x).logits)
    assert all(p.data_ptr() != q.data_ptr() for p, q in
               zip(ours.parameters(), hf.parameters(), strict=False))  # fmt: skip  # copies


@pytest.mark.parametrize(
    ("field", "value"),
    [("activation_function", "relu"), ("layer_norm_epsilon", 1e-6),
     ("scale_attn_by_inverse_layer_idx", True), ("n_inner", 64)],
)  # fmt: skip
def test_gpt2_config_reslab_cannot_express_is_refused(
    tmp_path: Path, field: str, value: object
) -> None:
    hf_gpt2().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config[field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedConfigError, match=rf"config {field}=.*accepted"):
        load_pretrained(f"gpt2:{tmp_path}")


def test_gpt2_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PretrainedError, match=r"^no GPT-2 folder or weights file at .*nope$"):
        load_pretrained(f"gpt2:{tmp_path / 'nope'}")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PretrainedError, match=r"holds no GPT-2 weights; accepted: model\.safe"):
        load_pretrained(f"gpt2:{tmp_path}")


# ---- timm ------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["resnet18", "resnext50_32x4d"])
def test_timm_resnet_gives_the_same_outputs(tmp_path: Path, arch: str) -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    ref = jitter(timm.create_model(arch, pretrained=False, num_classes=10), scale=0.02)
    torch.save(ref.state_dict(), tmp_path / "weights.pth")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref(x)
        for ours in (
            load_pretrained(ref),
            load_pretrained(f"timm:{arch}", model_file=tmp_path / "weights.pth"),
            load_pretrained(tmp_path / "weights.pth"),  # the layout read from the keys' shapes
        ):
            assert isinstance(ours, ResNet) and not ours.training
            assert torch.equal(ours(x), expected)  # measured: identical
    assert expected.abs().max() > 0.1
    assert load_pretrained(ref).pretrained_info.crop == 224


def test_timm_training_checkpoint_with_prefixes(tmp_path: Path) -> None:
    timm = pytest.importorskip("timm")
    ref = jitter(timm.create_model("resnet18", pretrained=False, num_classes=10), scale=0.02)
    state = {f"module._orig_mod.{k}": v for k, v in ref.state_dict().items()}
    torch.save({"epoch": 3, "arch": "resnet18", "state_dict": state}, tmp_path / "ckpt.pth.tar")
    ours = load_pretrained("timm:resnet18", model_file=tmp_path / "ckpt.pth.tar")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


def test_timm_layouts_reslab_cannot_express_are_refused(tmp_path: Path) -> None:
    timm = pytest.importorskip("timm")
    with pytest.raises(UnsupportedConfigError, match=r"timm:resnet50d: not supported: a deep "
                       r"stem .*\(conv1\.0\.weight\); average-pool downsampling"):  # fmt: skip
        load_pretrained(timm.create_model("resnet50d", pretrained=False))
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    state["layer1.0.attn.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(UnmappedKeyError, match=r"key 'layer1\.0\.attn\.weight' has no place"):
        load_pretrained("timm:resnet18", model_file=tmp_path / "w.pth")
    with pytest.raises(PretrainedError, match=r"^no weights file at .*gone\.pth$"):
        load_pretrained("timm:resnet18", model_file=tmp_path / "gone.pth")


# ---- torchvision weights ---------------------------------------------------------------------


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path


def test_torchvision_weights_load_from_torchs_cache(torch_home: Path) -> None:
    weights = torchvision.models.get_weight("ResNet18_Weights.IMAGENET1K_V1")
    path = cache_path(weights.url)
    assert path == torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    torch.manual_seed(0)
    ref = jitter(torchvision.models.resnet18(), scale=0.02)
    path.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), path)
    ours = load_pretrained("resnet18:IMAGENET1K_V1")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))
    info = ours.pretrained_info
    assert (info.mean, info.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (info.resize, info.crop, len(info.classes)) == (256, 224, 1000)
    assert info.classes[0] == "tench"


def test_torchvision_densenet_weights_with_their_old_key_names(torch_home: Path) -> None:
    weights = torchvision.models.get_weight("DenseNet121_Weights.IMAGENET1K_V1")
    torch.manual_seed(0)
    ref = jitter(torchvision.models.densenet121(), scale=0.02)
    # The published file spells "norm1" as "norm.1" (torchvision renames on load) and predates
    # BN's num_batches_tracked.
    old = {
        k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v
        for k, v in ref.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    cache_path(weights.url).parent.mkdir(parents=True)
    torch.save(old, cache_path(weights.url))
    ours = load_pretrained("densenet121:IMAGENET1K_V1")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert (got - expected).abs().max() <= 1e-6 * expected.abs().max()  # measured: 0


def test_torchvision_refusals_are_one_line(torch_home: Path) -> None:
    with pytest.raises(PretrainedError, match=r"weights 'IMAGENET9K' .*accepted: DEFAULT, "
                       "IMAGENET1K_V1, IMAGENET1K_V2"):  # fmt: skip
        load_pretrained("resnet50:IMAGENET9K")
    with pytest.raises(PretrainedError) as err:
        load_pretrained("resnet34:IMAGENET1K_V1")  # nothing cached, no network
    message = str(err.value)
    assert "\n" not in message and "resnet34-b627a593.pth" in message
    assert str(torch_home / "hub" / "checkpoints") in message


def test_timm_weights_of_another_depth_than_named_are_refused(tmp_path: Path) -> None:
    timm = pytest.importorskip("timm")
    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(UnsupportedConfigError, match=r"a basic ResNet with blocks \[2, 2, 2, 2\], "
                       "not resnet34"):  # fmt: skip
        load_pretrained("timm:resnet34", model_file=tmp_path / "r18.pth")
