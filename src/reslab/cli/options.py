"""A config field as a command-line option: its flag, its type as typed text, and a parser.

Typer checks plain ``int``/``float``/``str``/``bool`` itself; the rest is read as text and
parsed here, so every mistake names the option and what it accepts:
``tuple[int, ...]`` is comma-separated (``--depths 20,56``), ``tuple[float, float]`` two numbers
(``--span -1,1``), ``X | None`` also takes ``none`` where the field's default is not None (e.g.
``--checkpoint-from none``), and ``overrides`` is the repeatable ``--set section.field=value``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

Parser = Callable[[Any], Any]
_SCALARS = (int, float, str)


def flag_for(name: str) -> str:
    """The option of config field ``name``: ``--set`` for ``overrides``, else ``--kebab-case``."""
    return "--set" if name == "overrides" else "--" + name.replace("_", "-")


def as_words(name: str, value: Any) -> list[str]:
    """The command-line words that give field ``name`` the option value ``value`` (as typed:
    text, a number, a bool or the list of ``--set`` items); none for an option not given."""
    flag = flag_for(name)
    if value is None or value == []:
        return []
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    if isinstance(value, list):
        return [word for item in value for word in (flag, str(item))]
    return [flag, str(value)]


def option_for(f: dataclasses.Field[Any], hint: Any, presets: dict[str, Any]) -> tuple[Any, Parser]:
    flag = flag_for(f.name)
    values = "; ".join(f"{p}: {_show(getattr(c, f.name))}" for p, c in presets.items())
    help_text = f"{f.metadata.get('help', '')} (preset {values})"
    opt = typer.Option(flag, help=help_text, show_default=False)
    if hint is bool:
        opt = typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text, show_default=False)
        return Annotated[bool | None, opt], _same
    inner, optional = _unwrap_optional(hint)
    if inner in _SCALARS and not (optional and f.default is not None):
        return Annotated[inner | None, opt], _same
    if f.name == "overrides":
        return Annotated[list[str] | None, opt], tuple
    opt.metavar = _metavar(inner, optional)
    return Annotated[str | None, opt], _text_parser(inner, optional)


def _same(value: Any) -> Any:
    return value


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "-"
    return "none" if value is None else str(value)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _metavar(inner: Any, optional: bool) -> str:
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        text = f"{item.__name__.upper()},..."
    else:
        text = getattr(inner, "__name__", "TEXT").upper()
    return text + ("|none" if optional else "")


def _text_parser(inner: Any, optional: bool) -> Parser:
    def parse(text: str) -> Any:
        if optional and text.strip().lower() == "none":
            return None
        if typing.get_origin(inner) is tuple:
            return _parse_tuple(inner, text)
        return _parse_scalar(inner, text)

    return parse


def _parse_tuple(tp: Any, text: str) -> tuple[Any, ...]:
    args = typing.get_args(tp)
    variadic = len(args) == 2 and args[1] is Ellipsis
    items = [t for t in text.replace(" ", "").split(",") if t]
    if not variadic and len(items) != len(args):
        raise ValueError(f"needs {len(args)} comma-separated values, e.g. -1,1")
    kinds = [args[0]] * len(items) if variadic else list(args)
    try:
        return tuple(kind(item) for kind, item in zip(kinds, items, strict=True))
    except ValueError:
        names = ", ".join(dict.fromkeys(k.__name__ for k in kinds)) or args[0].__name__
        raise ValueError(f"must be comma-separated values of type {names}, e.g. 20,56") from None


def _parse_scalar(tp: Any, text: str) -> Any:
    try:
        return tp(text)
    except (TypeError, ValueError):
        name = getattr(tp, "__name__", str(tp))
        raise ValueError(f"must be a {name} or none") from None
