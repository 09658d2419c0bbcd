"""Named recipes (``reslab/recipes/<name>.yaml``, shipped as package data) or a YAML file path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from reslab.training.config import TrainConfig, validate
from reslab.training.errors import ConfigError
from reslab.training.overrides import config_from_dict

RECIPES: tuple[str, ...] = ("paper", "preact", "fast", "mnist1d", "gpt", "highway")


def load_recipe(name: str) -> TrainConfig:
    """A built-in recipe by name, or any ``.yaml``/``.yml`` file laid out like them."""
    if name in RECIPES:
        text = (resources.files("reslab") / "recipes" / f"{name}.yaml").read_text()
        origin = name
    elif name.endswith((".yaml", ".yml")) and Path(name).is_file():
        text, origin = Path(name).read_text(), name
    else:
        raise ConfigError(
            f"recipe={name!r} is unknown; accepted: {', '.join(RECIPES)}, or a path to a .yaml file"
        )
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise ConfigError(f"recipe {origin!r} is not valid YAML: {first}") from None
    config = config_from_dict(data)
    if config.recipe == "custom":
        config.recipe = origin
    return validate(config)
