"""`reslab train` and `reslab eval`, in-process: files, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reslab.cli import app

runner = CliRunner()
TINY = ["--recipe", "mnist1d", "--set", "data.batch_size=32", "--set", "train.log_every=2"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_train_then_eval(tmp_path: Path) -> None:
    code, out, err = invoke("train", "resnet20", "--data", "synthetic1d", *TINY, "--steps", "6",
                            "--out", "run", "--seed", "1", "--device", "cpu",
                            "--quiet")  # fmt: skip
    assert code == 0, err
    assert "status: completed" in out and "test accuracy:" in out and "steps: 6" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["train"]["seed"] == 1 and summary["steps"] == 6
    assert summary["config"]["model"]["name"] == "resnet20"

    code, out, err = invoke("eval", "run", "--device", "cpu")  # the data it trained on
    assert code == 0, err
    test_acc = 100 * (1 - summary["final"]["test_err"])
    assert out.strip() == (
        f"test: loss {summary['final']['test_loss']:.4f}, accuracy {test_acc:.2f}%, "
        f"error {100 - test_acc:.2f}% over 256 samples"
    )
    code, out, _ = invoke("eval", "run/checkpoints/latest.safetensors", "--split", "train")
    assert code == 0 and "over 512 samples" in out


def test_resume_continues_the_run(tmp_path: Path) -> None:
    args = ["train", "resnet20", "--data", "synthetic1d", *TINY, "--out", "run", "--quiet"]
    assert invoke(*args, "--steps", "4")[0] == 0
    code, _, err = invoke(*args, "--steps", "4")
    assert code == 2 and "already holds a run; pass resume=True (--resume)" in err
    code, out, err = invoke(*args, "--steps", "4", "--resume")
    assert code == 0, err
    assert "steps: 4" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resnet20", "--data", "nope"], "dataset='nope' is unknown; accepted: mnist1d,"),
        (["resnet20", "--data", "synthetic1d", "--recipe", "foo"], "recipe='foo' is unknown"),
        (["resnet20", "--data", "synthetic1d", "--set", "optim.lrr=1"],
         "unknown field 'optim.lrr'"),
        (["resnet20", "--data", "synthetic1d", "--set", "optim.lr=abc"],
         "optim.lr='abc' is not accepted; it must be a float"),
        (["resnet21", "--data", "synthetic1d"], "unknown model 'resnet21'"),
        (["resnet50", "--data", "synthetic1d"], "model resnet50 is 2-D (images) but synthetic1d"),
        (["resnet20", "--data", "synthetic1d", "--epochs", "1", "--steps", "1"],
         "give --epochs or --steps, not both"),
        (["resnet20", "--data", "synthetic1d", "--resume"],
         "resume=True but run has no checkpoint"),
        (["resnet20", "--data", "synthetic1d", "--precision", "fp16", "--device", "cpu"],
         "precision='fp16' is for CUDA devices"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    code, out, err = invoke("train", *args, "--out", "run", "--quiet")
    assert code == 2, (out, err)
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not Path("run", "checkpoints").exists()  # nothing trained


def test_resume_needs_out() -> None:
    code, _, err = invoke("train", "resnet20", "--data", "synthetic1d", "--resume")
    assert code == 2 and "--resume needs --out RUN_DIR" in err


def test_unwritable_out_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = invoke("train", "resnet20", "--data", "synthetic1d", "--out", "file/run")
    assert code == 2 and "out_dir='file/run' is not writable" in err


def test_eval_of_a_damaged_checkpoint(tmp_path: Path) -> None:
    assert invoke("train", "resnet20", "--data", "synthetic1d", *TINY, "--steps", "2",
                  "--out", "run", "--quiet")[0] == 0  # fmt: skip
    code, _, err = invoke("eval", "run", "--data", "synthetic")  # a 1-D net's weights, 2-D data
    assert code == 2 and "does not fit model resnet20: tensors" in err and "conv1.weight" in err
    latest = tmp_path / "run" / "checkpoints" / "latest.safetensors"
    latest.write_bytes(latest.read_bytes()[:1000])
    code, _, err = invoke("eval", "run")
    assert code == 2 and "truncated or corrupt" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke("eval", "missing-run")
    assert code == 2 and "no checkpoint at missing-run" in err
