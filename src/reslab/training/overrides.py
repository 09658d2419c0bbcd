"""Building a ``TrainConfig`` from nested mappings (YAML) and ``section.field=value`` overrides,
type-checked against the dataclasses' annotations, so a typo fails before any training."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

import yaml

from reslab.training.config import SECTIONS, TrainConfig
from reslab.training.errors import ConfigError


def config_from_dict(data: Mapping[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """Fields given in ``data`` replace those of ``base`` (default: all defaults)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    config = base if base is not None else TrainConfig()
    for key, value in data.items():
        if key == "recipe":
            config = dataclasses.replace(config, recipe=_check(value, str, "recipe"))
        elif key in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"section {key!r} must be a mapping of fields, got {value!r}")
            for name, item in value.items():
                config = set_field(config, f"{key}.{name}", item)
        else:
            raise ConfigError(f"unknown section {key!r}; accepted: recipe, {', '.join(SECTIONS)}")
    return config


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Apply ``["optim.lr=0.05", "train.steps=null", ...]``; values are read as YAML scalars.
    Each field is type-checked here; checks across fields wait for ``validate`` (``fit`` calls it),
    so ``train.steps=null`` and ``train.epochs=10`` can come in either order."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override {item!r} must look like section.field=value, e.g. optim.lr=0.05"
            )
        config = set_field(config, key.strip(), _parse_scalar(raw.strip()), from_text=True)
    return config


def set_field(config: TrainConfig, key: str, value: Any, *, from_text: bool = False) -> TrainConfig:
    """A copy of ``config`` with ``key`` ("section.field") set to a type-checked ``value``."""
    section, _, name = key.partition(".")
    if section not in SECTIONS:
        raise ConfigError(
            f"unknown section {section!r} in {key!r}; accepted: {', '.join(SECTIONS)}"
        )
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    if name not in hints:
        raise ConfigError(
            f"unknown field {key!r}; accepted fields of {section}: {', '.join(hints)}"
        )
    if from_text and isinstance(value, str):
        value = _coerce_text(value, hints[name])
    checked = _check(value, hints[name], key)
    new_section = dataclasses.replace(getattr(config, section), **{name: checked})
    return dataclasses.replace(config, **{section: new_section})


def _parse_scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return raw


def _coerce_text(value: str, tp: Any) -> Any:
    # YAML 1.1 reads "1e-4" as a string; a float field should still accept it.
    accepts = _arms(tp)
    for kind in (int, float):
        if kind in accepts:
            try:
                return kind(value)
            except ValueError:
                continue
    return value


def _arms(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _check(value: Any, tp: Any, key: str) -> Any:
    for arm in _arms(tp):
        ok, coerced = _matches(value, arm)
        if ok:
            return coerced
    raise ConfigError(f"{key}={value!r} is not accepted; it must be {_describe(tp)}")


def _matches(value: Any, tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return value is None, value
    if origin is Literal:
        return value in typing.get_args(tp), value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            return False, value
        items = [_matches(v, item_tp) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    return isinstance(value, tp), value


def _describe(tp: Any) -> str:
    names = []
    for arm in _arms(tp):
        origin = typing.get_origin(arm)
        if arm is type(None):
            names.append("null")
        elif origin is Literal:
            names.append("one of " + ", ".join(repr(a) for a in typing.get_args(arm)))
        elif origin is list:
            names.append(f"a list of {typing.get_args(arm)[0].__name__}")
        else:
            names.append(_NAMES.get(arm, f"a {getattr(arm, '__name__', arm)}"))
    return " or ".join(names)


_NAMES = {int: "an int", float: "a float", bool: "a bool (true/false)", str: "a string"}
