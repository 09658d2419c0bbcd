"""`reslab probe` in-process: a saved timm ResNet on the shared CIFAR-10 subset, a GPT-2-layout
model on Tiny Shakespeare, and the one-line errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from reslab.cli import app

runner = CliRunner()
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CIFAR = SHARED / "cifar10-subset"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["probe", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def resnet_file(tmp_path: Path) -> Path:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    # zero_init_last=False: timm zeroes each block's last BN, which would make every deletion a
    # no-op; random weights that change the output make the numbers informative.
    model = timm.create_model("resnet18", pretrained=False, num_classes=10, zero_init_last=False)
    torch.save(model.state_dict(), tmp_path / "resnet18.pth")
    return tmp_path / "resnet18.pth"


def saved(out: Path) -> dict:
    assert (out / "report.html").is_file() and (out / "probe.png").is_file()
    return json.loads((out / "probe.json").read_text())


def test_lesion_of_a_saved_timm_resnet_on_cifar(tmp_path: Path, resnet_file: Path) -> None:
    if not CIFAR.is_dir():
        pytest.skip(f"the shared CIFAR-10 subset is not at {CIFAR}")
    code, out, err = invoke("lesion", "--model-file", str(resnet_file), "--data",
                            f"imagefolder:{CIFAR}", "--samples", "64", "--batch-size", "32",
                            "--out", "run", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    assert "report: run/report.html" in out
    results = saved(tmp_path / "run")
    rows, intact = results["result"]["rows"], results["result"]["intact"]
    assert [r["name"] for r in rows] == [f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)]
    # Downsampling blocks keep their projection shortcut: deletable, flagged as changing shape.
    assert [r["changes_shape"] for r in rows] == [False, False, True, False] * 1 + [True, False] * 2
    assert not any(r["skipped"] for r in rows)
    assert results["data"]["samples"] == 64 and 0 <= intact["err"] <= 100
    assert any(r["err"] != intact["err"] or r["loss"] != intact["loss"] for r in rows)
    for r in rows:
        assert r["loss_rise"] == pytest.approx(r["loss"] - intact["loss"])
    assert results["model"]["family"] == "state_dict" and results["model"]["blocks"] == 8
    prov = results["provenance"]
    assert prov["torch"] == torch.__version__ and prov["device"].startswith("cpu")
    assert "git_commit" in prov and "verdict" not in results
    html = (tmp_path / "run" / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    assert f"{rows[3]['loss']:.4g}" in html  # the numbers are in the table
    assert 'class="verdict' not in html  # a measurement, not a claim


def test_gradients_and_responses_of_a_timm_resnet(tmp_path: Path, resnet_file: Path) -> None:
    if not CIFAR.is_dir():
        pytest.skip(f"the shared CIFAR-10 subset is not at {CIFAR}")
    common = ["--pretrained", "timm:resnet18", "--model-file", str(resnet_file), "--data",
              f"imagefolder:{CIFAR}", "--samples", "32", "--batch-size", "16",
              "--device", "cpu"]  # fmt: skip
    code, _, err = invoke("gradients", *common, "--out", "grads")
    assert code == 0, err
    rows = saved(tmp_path / "grads")["result"]["rows"]
    assert len(rows) == 8 and all(r["input"] > 0 and r["weight"] > 0 for r in rows)
    code, _, err = invoke("responses", *common, "--out", "resp")
    assert code == 0, err
    results = saved(tmp_path / "resp")
    # resnet18: two 3x3 convs per block (the 7x7 stem is not a 3x3 layer).
    assert [r["name"] for r in results["result"]["rows"]][:2] == ["layer1.0.bn1", "layer1.0.bn2"]
    assert len(results["result"]["rows"]) == 16
    # timm's ImageNet normalisation, not the data's own statistics.
    assert results["data"]["mean"] == [0.485, 0.456, 0.406]


def test_lesion_of_a_gpt2_layout_model_on_tiny_shakespeare(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    if not (SHARED / "tinyshakespeare" / "input.txt").is_file():
        pytest.skip(f"Tiny Shakespeare is not at {SHARED / 'tinyshakespeare'}")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=65,
                                     n_positions=32, bos_token_id=0, eos_token_id=0)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    code, out, err = invoke("lesion", "--pretrained", f"gpt2:{tmp_path / 'gpt2'}", "--data",
                            "shakespeare_char", "--data-dir", str(SHARED), "--samples", "16",
                            "--batch-size", "8", "--out", "run", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    assert "intact: loss" in out
    results = saved(tmp_path / "run")
    rows = results["result"]["rows"]
    assert [r["name"] for r in rows] == ["h.0.attn", "h.0.mlp", "h.1.attn", "h.1.mlp"]
    # Next-token loss of an untrained model: about ln(65) = 4.17 nats.
    assert results["result"]["intact"]["loss"] == pytest.approx(4.17, abs=0.3)
    assert all(r["loss"] is not None and not r["skipped"] for r in rows)
    assert results["result"]["plot"] == ["loss"] and results["model"]["family"] == "gpt2"
    assert results["data"]["samples"] == 16  # windows of the model's context, 32 tokens


def test_errors_are_one_line_and_write_nothing(tmp_path: Path, resnet_file: Path) -> None:
    cases = [
        (["lesion", "--model-file", "missing.pt"], "no model file or folder at missing.pt"),
        (["dissect", "--model-file", str(resnet_file)], "probe 'dissect' is unknown; accepted: "
                                                         "gradients, lesion, responses"),
        (["lesion", "--pretrained", "resnet50:IMAGENET9K"], "weights 'IMAGENET9K'"),
        (["lesion", "--model-file", str(resnet_file), "--data", "mnist1d"], "sequences"),
    ]
    state = torch.load(resnet_file)
    state["layer1.0.se.fc1.weight"] = torch.zeros(1)
    state["layer2.0.gate.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "odd.pth")
    cases.append((["lesion", "--model-file", str(tmp_path / "odd.pth")],
                  "squeeze-and-excitation modules (layer1.0.se.fc1.weight)"))  # fmt: skip
    del state["layer1.0.se.fc1.weight"]
    torch.save(state, tmp_path / "odd2.pth")
    cases.append((["lesion", "--model-file", str(tmp_path / "odd2.pth")],
                  "key 'layer2.0.gate.weight' has no place in reslab's model"))  # fmt: skip
    for args, message in cases:
        code, _, err = invoke(*args, "--out", "nothing", "--device", "cpu")
        assert code != 0, args
        assert err.startswith("error: ") and message in err, (args, err)
        assert err.count("\n") == 1, err  # one line
        assert not (tmp_path / "nothing").exists()


def test_lesion_of_torchvision_weights_on_an_evaluation_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's example, offline: torchvision's cached file, and an ImageNet-style val/ folder
    of class subfolders whose images are resized and cropped as the weights expect."""
    import torchvision
    from PIL import Image

    from reslab.models.pretrained.torchvision import cache_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = torchvision.models.get_weight("ResNet18_Weights.IMAGENET1K_V1")
    cache_path(weights.url).parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), cache_path(weights.url))
    g = torch.Generator().manual_seed(0)
    for label, size in (("n01440764", (300, 260)), ("n01443537", (240, 320))):
        (tmp_path / "val" / label).mkdir(parents=True)
        for i in range(2):
            pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=g, dtype=torch.uint8)
            Image.fromarray(pixels.numpy()).save(tmp_path / "val" / label / f"{i}.png")
    code, _, err = invoke("lesion", "--pretrained", "resnet18:IMAGENET1K_V1", "--data",
                          f"imagefolder:{tmp_path / 'val'}", "--samples", "4", "--batch-size",
                          "2", "--out", "run", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    results = saved(tmp_path / "run")
    assert results["data"]["input_size"] == [3, 224, 224]  # resized to 256, centre crop 224
    assert results["data"]["mean"] == [0.485, 0.456, 0.406] and results["data"]["samples"] == 4
    assert results["model"]["source"] == "resnet18:IMAGENET1K_V1"
    assert results["model"]["classes"] == 1000 and len(results["result"]["rows"]) == 8


def test_gradients_of_a_nanogpt_checkpoint_on_tiny_shakespeare(tmp_path: Path) -> None:
    from tests.models import nanogpt_reference as nanogpt

    if not (SHARED / "tinyshakespeare" / "input.txt").is_file():
        pytest.skip(f"Tiny Shakespeare is not at {SHARED / 'tinyshakespeare'}")
    torch.manual_seed(0)
    config = nanogpt.GPTConfig(block_size=32, vocab_size=65, n_layer=2, n_head=2, n_embd=32,
                               dropout=0.2, bias=False)  # fmt: skip
    torch.save(nanogpt.checkpoint(nanogpt.GPT(config), compiled_prefix=True), tmp_path / "ckpt.pt")
    args = ["--model-file", str(tmp_path / "ckpt.pt"), "--data", "shakespeare_char",
            "--data-dir", str(SHARED), "--samples", "16", "--batch-size", "8",
            "--device", "cpu"]  # fmt: skip
    code, _, err = invoke("gradients", *args, "--out", "run")
    assert code == 0, err
    results = saved(tmp_path / "run")
    rows = results["result"]["rows"]
    assert [r["name"] for r in rows] == ["h.0.attn", "h.0.mlp", "h.1.attn", "h.1.mlp"]
    assert all(r["input"] > 0 and r["weight"] > 0 for r in rows)
    assert results["model"]["family"] == "nanogpt"
    # Dropout is off for probing: a second run measures the same numbers.
    code, _, err = invoke("gradients", *args, "--out", "again")
    assert code == 0, err
    assert saved(tmp_path / "again")["result"]["rows"] == rows
