"""Results as JSON and back: ``to_jsonable`` writes dataclasses, arrays, paths and non-finite
floats as plain JSON; ``from_jsonable`` rebuilds them, guided by the type annotations."""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np

from reslab.io import atomic_write_text


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


_NONFINITE = {"inf": math.inf, "-inf": -math.inf}


def from_jsonable(tp: Any, value: Any) -> Any:
    """The inverse of ``to_jsonable``, guided by the type annotation ``tp``: dataclasses from
    dicts, tuples where the type says tuple, ``Path``, arrays, and floats that were written as
    None (nan), "inf" or "-inf". Where the type says ``Any``, the JSON value is returned as is;
    ``float | None`` reads None as None (a nan written there cannot be told apart).
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.TypeVar) or origin is typing.Literal:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            if _fits(option, value):
                return from_jsonable(option, value)
        return from_jsonable(options[0], value) if len(options) == 1 else value
    if tp is float:
        if value is None:
            return math.nan
        if isinstance(value, str) and value in _NONFINITE:
            return _NONFINITE[value]
        return float(value) if isinstance(value, (int, float)) else value
    if value is None:
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_from_json(tp, value)
    if tp is Path:
        return Path(value)
    if tp is np.ndarray:
        return np.asarray(value)
    if tp is int and isinstance(value, str):  # a dict key: to_jsonable wrote str(k)
        return int(value)
    if tp is tuple or origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(args[0], v) for v in value)
        if args and args != ((),):
            return tuple(from_jsonable(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    if tp is list or origin in _SEQUENCES:
        item = args[0] if args else Any
        return [from_jsonable(item, v) for v in value]
    if tp is dict or origin in _MAPPINGS:
        key, item = args if args else (Any, Any)
        return {from_jsonable(key, k): from_jsonable(item, v) for k, v in value.items()}
    return value


_SEQUENCES = (list, collections.abc.Sequence, collections.abc.MutableSequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _fits(tp: Any, value: Any) -> bool:
    """Could ``value`` be what ``to_jsonable`` wrote for a ``tp``? (picks a union's member)"""
    origin = typing.get_origin(tp)
    if tp is Any or origin is typing.Literal:
        return True
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        # Every field without a default present: tells apart a union of record types (an
        # experiment whose tasks return different records).
        return isinstance(value, dict) and all(f.name in value for f in _required_fields(tp))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number or value is None or (isinstance(value, str) and value in _NONFINITE)
    if tp in (str, Path):
        return isinstance(value, str)
    if tp in (tuple, list, np.ndarray) or origin is tuple or origin in _SEQUENCES:
        return isinstance(value, list)
    if tp is dict or origin in _MAPPINGS:
        return isinstance(value, dict)
    return False


def _required_fields(cls: type) -> list[dataclasses.Field[Any]]:
    missing = dataclasses.MISSING
    return [
        f
        for f in dataclasses.fields(cls)
        if f.init and f.default is missing and f.default_factory is missing
    ]


def _dataclass_from_json(cls: type, data: dict[str, Any]) -> Any:
    """Keys that are not init fields are ignored; a field missing from ``data`` (a file written
    before the field existed) gets its default."""
    hints = _type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name in data]
    return cls(**{f.name: from_jsonable(hints.get(f.name, Any), data[f.name]) for f in fields})


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # string annotations (``from __future__``) evaluated


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON (``to_jsonable``), written atomically (``reslab.io.atomic_write``)."""
    atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, allow_nan=False))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
