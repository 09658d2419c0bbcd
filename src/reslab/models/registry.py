"""A small strict registry: names map to builders plus what the papers say about them."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    family: str
    source: str
    paper_params: float | None = None  # as the paper states it (rounded)
    paper_macs: float | None = None  # multiply-adds at the natural input ("FLOPs" in He et al.)
    depth: int | None = None  # only where the paper counts layers its own way

    @property
    def accepted_overrides(self) -> list[str]:
        params = inspect.signature(self.builder).parameters.values()
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, builder: Callable[..., nn.Module], **meta: Any) -> ModelEntry:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    entry = ModelEntry(name, builder, **meta)
    _REGISTRY[name] = entry
    return entry


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise ValueError(
            f"unknown model {name!r}{hint} (see `reslab models` for all {len(_REGISTRY)})"
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; overrides set to None are ignored (so CLI defaults never clash)."""
    entry = get_entry(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    accepted = entry.accepted_overrides
    for key in overrides:
        if key not in accepted:
            raise ValueError(
                f"{name} does not accept the override {key!r}; "
                f"accepted overrides: {', '.join(accepted)}"
            )
    model = entry.builder(**overrides)
    model.reslab_name = name  # type: ignore[assignment]
    return model
