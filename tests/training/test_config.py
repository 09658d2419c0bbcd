"""Recipes load as typed configs; overrides are type-checked with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reslab.training import (
    RECIPES,
    ConfigError,
    apply_overrides,
    config_from_dict,
    load_recipe,
    resolve_config,
    validate,
)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_loads_and_validates(name: str) -> None:
    config = load_recipe(name)
    assert config.recipe == name
    assert validate(config) is config


def test_paper_recipe_is_he_et_al_2015_section_4_2() -> None:
    c = load_recipe("paper")
    assert (c.data.batch_size, c.optim.name, c.optim.momentum) == (128, "sgd", 0.9)
    assert (c.optim.lr, c.optim.weight_decay, c.train.steps) == (0.1, 1e-4, 64000)
    # Divided by 10 at 32k and 48k iterations.
    assert [m * c.train.steps for m in c.schedule.milestones] == [32000, 48000]
    assert c.schedule.gamma == 0.1 and c.schedule.error_warmup == "auto"
    assert c.data.val_size == 0  # the 45k/5k split is an override: data.val_size=5000


def test_overrides_are_typed() -> None:
    c = apply_overrides(
        load_recipe("paper"),
        ["optim.lr=0.05", "optim.weight_decay=5e-4", "train.steps=null", "train.epochs=3",
         "optim.nesterov=true", "schedule.milestones=[0.3, 0.6]", "data.val_size=5000"],
    )  # fmt: skip
    assert c.optim.lr == 0.05 and c.optim.weight_decay == 5e-4  # "5e-4" is a str in YAML 1.1
    assert c.train.epochs == 3 and c.train.steps is None and c.optim.nesterov is True
    assert c.schedule.milestones == [0.3, 0.6] and c.data.val_size == 5000
    assert isinstance(c.optim.lr, float)
    assert apply_overrides(c, ["optim.lr=1"]).optim.lr == 1.0  # an int is accepted as a float


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=0.1", r"unknown field 'optim.lrr'; accepted fields of optim: name, lr,"),
        ("optm.lr=0.1", r"unknown section 'optm' in 'optm.lr'; accepted: model, data, optim"),
        ("optim.lr=fast", r"optim.lr='fast' is not accepted; it must be a float$"),
        ("train.steps=1.5", r"train.steps=1.5 is not accepted; it must be an int or null"),
        ("optim.name=adam", r"optim.name='adam' is not accepted; it must be one of 'sgd', 'adamw'"),
        ("train.deterministic=3", r"it must be a bool \(true/false\)"),
        ("optim.lr", r"must look like section.field=value"),
    ],
)
def test_bad_override_is_a_one_line_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        apply_overrides(load_recipe("paper"), [override])
    assert "\n" not in str(info.value)


def test_cross_field_checks() -> None:
    both = apply_overrides(load_recipe("paper"), ["train.epochs=3"])
    with pytest.raises(ConfigError, match="set exactly one"):
        validate(both)
    with pytest.raises(ConfigError, match=r"milestones=\[0.75, 0.5\] must be increasing"):
        validate(apply_overrides(load_recipe("paper"), ["schedule.milestones=[0.75, 0.5]"]))
    with pytest.raises(ConfigError, match=r"optim\.lr=-0\.1 must be > 0"):
        validate(apply_overrides(load_recipe("paper"), ["optim.lr=-0.1"]))


def test_unknown_recipe_lists_the_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="recipe='foo' is unknown; accepted: paper, preact, fast"):
        load_recipe("foo")


def test_recipe_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("optim:\n  lr: 0.3\ntrain:\n  epochs: 2\n")
    c = load_recipe(str(path))
    assert c.recipe == str(path) and c.optim.lr == 0.3 and c.train.epochs == 2
    path.write_text("optim:\n  lr: [oops\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_recipe(str(path))
    path.write_text("train:\n  epoch: 2\n")
    with pytest.raises(ConfigError, match=r"unknown field 'train\.epoch'"):
        load_recipe(str(path))


def test_config_round_trips_through_a_dict() -> None:
    c = apply_overrides(load_recipe("fast"), ["optim.lr=0.2"])
    assert config_from_dict(c.to_dict()) == c


def test_resolve_config_explicit_arguments_win() -> None:
    c = resolve_config(
        "paper", model_name="resnet56", data_name="cifar100", overrides=["optim.lr=0.05"],
        epochs=5, seed=3, precision="bf16", channels_last=True,
    )  # fmt: skip
    assert (c.model.name, c.data.name, c.optim.lr) == ("resnet56", "cifar100", 0.05)
    assert (c.train.epochs, c.train.steps, c.train.seed) == (5, None, 3)
    assert c.train.precision == "bf16" and c.train.channels_last is True
    assert resolve_config("mnist1d", steps=7).train.epochs is None
