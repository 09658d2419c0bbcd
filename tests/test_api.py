"""The top-level API: reslab.create_model, reslab.list_models, reslab.model_info."""

from __future__ import annotations

import pytest
import torch

import reslab
from reslab.models import register_model


def test_public_names() -> None:
    assert set(reslab.__all__) == {
        "__version__", "create_model", "list_models", "load_pretrained", "model_info",
        "run_experiment", "run_probe",
    }  # fmt: skip
    assert reslab.run_experiment.__module__ == "reslab.api"  # loaded on first use
    assert reslab.run_probe.__module__ == "reslab.probe_api"
    assert reslab.load_pretrained.__module__ == "reslab.models.pretrained"
    assert reslab.__version__ == "0.1.0"


def test_create_model_drops_overrides_that_are_none() -> None:
    # timm's rule: a CLI option left unset (None) never breaks a model that lacks it.
    with torch.device("meta"):
        model = reslab.create_model("resnet20", shortcut=None, dims=None, drop_path_rate=None)
        vgg = reslab.create_model("vgg19", shortcut=None, zero_init_residual=None)
    assert model.shortcut_kind == "A" and model.dims == 2
    assert model.reslab_name == "resnet20"
    assert vgg.reslab_name == "vgg19"


def test_create_model_applies_overrides() -> None:
    with torch.device("meta"):
        model = reslab.create_model("resnet20", shortcut="B", num_classes=100, width=32)
    assert model.shortcut_kind == "B"
    assert model.fc.out_features == 100
    assert model.conv1.out_channels == 32


def test_list_models_uses_fnmatch() -> None:
    everything = reslab.list_models()
    assert everything == sorted(everything) and len(everything) == 46
    assert reslab.list_models("resnet*") == sorted(n for n in everything if n.startswith("resnet"))
    assert "resnext50_32x4d" not in reslab.list_models("resnet*")
    assert reslab.list_models("*50*") == [
        "highway_mlp50", "plain_mlp50", "residual_mlp50",
        "resnet50", "resnext50_32x4d", "wide_resnet50_2",
    ]  # fmt: skip
    assert reslab.list_models("plain??") == ["plain18", "plain20", "plain32", "plain34",
                                             "plain44", "plain56"]  # fmt: skip
    assert reslab.list_models("preact_resnet1[0-9][0-9]") == ["preact_resnet110",
                                                              "preact_resnet164"]  # fmt: skip
    assert reslab.list_models("RESNET*") == []  # case-sensitive, like the registry
    assert reslab.list_models("nothing*") == []


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"model 'resnet20' is already registered"):
        register_model("resnet20", lambda: None, family="cifar", source="-")


def test_model_info_is_exported() -> None:
    info = reslab.model_info("resnet20", macs=False)
    assert info["params"] == 269_722 and info["macs"] is None


def test_run_all_runs_each_experiment_into_one_folder_resumably_and_indexes_them(
    tmp_path, monkeypatch, one_thread
) -> None:
    from tests.experiments.tiny import tiny_config

    import reslab.experiments.registry as registry
    from reslab.api import run_all

    chosen = [registry.get_experiment(n) for n in ("identity", "paths")]
    monkeypatch.setattr(registry, "list_experiments", lambda: chosen)
    configs = {e.name: tiny_config(e.name, tmp_path) for e in chosen}
    lines: list[str] = []
    results = run_all(tmp_path / "all", configs=configs, log=lines.append)
    assert list(results) == ["identity", "paths"]
    index = (tmp_path / "all" / "index.html").read_text()
    assert all(f"{r.verdict.symbol} {r.verdict.outcome}" in index for r in results.values())
    assert [line.split(":")[0] for line in lines if line[:1] in "✓✗?"] == [
        f"{results[n].verdict.symbol} {n}" for n in ("identity", "paths")
    ]
    with pytest.raises(ValueError, match="give --resume"):
        run_all(tmp_path / "all", configs=configs)
    # Resumed: both results are read back, nothing is run again.
    (tmp_path / "all" / "paths" / "results.json").unlink()  # as if cut short before saving
    again = run_all(tmp_path / "all", configs=configs, resume=True)
    assert again["identity"].records == results["identity"].records
    assert again["paths"].verdict == results["paths"].verdict
