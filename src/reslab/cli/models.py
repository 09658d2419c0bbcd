"""`reslab models [PATTERN ...] [--json] [--no-macs]`; `reslab models --compare NAME NAME ...`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from reslab.cli.app import app
from reslab.models import get_entry, list_models, model_info

# (header, width, cell) of the table; a row is printed as soon as its counts are known.
_Column = tuple[str, int, Callable[[dict[str, Any]], str]]


def _millions(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}M"


def _si(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}f}{unit}"
    return f"{value:.0f}"


_COLUMNS: tuple[_Column, ...] = (
    ("name", 19, lambda i: i["name"]),
    ("family", 16, lambda i: i["family"] or "-"),
    ("depth", 6, lambda i: str(i["depth"])),
    ("params", 9, lambda i: _millions(i["params"])),
    ("paper", 8, lambda i: _millions(i["paper_params"])),
    ("MACs", 9, lambda i: _si(i["macs"])),
    ("paper", 8, lambda i: _si(i["paper_macs"], 1)),
    ("input", 12, lambda i: "x".join(map(str, i["input_size"]))),
)


def _line(cells: list[str]) -> str:
    return "  ".join(
        c.ljust(w) if n in ("name", "family", "input") else c.rjust(w)
        for c, (n, w, _) in zip(cells, _COLUMNS, strict=True)
    ).rstrip()


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _resolve(patterns: list[str]) -> list[str]:
    """Registered names matching any pattern; a plain name must exist (ValueError suggests)."""
    names: list[str] = []
    for pattern in patterns:
        if not any(ch in pattern for ch in "*?["):
            get_entry(pattern)  # raises with the closest names
        matched = list_models(pattern)
        if not matched:
            raise ValueError(
                f"no model matches {pattern!r}; run `reslab models` for all "
                f"{len(list_models())} names"
            )
        names += [n for n in matched if n not in names]
    return names


def _infos(names: list[str], macs: bool) -> Iterator[dict[str, Any]]:
    for name in names:
        yield model_info(name, macs=macs)


def _print_table(names: list[str], macs: bool) -> None:
    typer.echo(_line([header for header, _, _ in _COLUMNS]))
    for info in _infos(names, macs):
        typer.echo(_line([cell(info) for _, _, cell in _COLUMNS]))
    typer.echo('"paper": as the source paper prints it (He et al. call multiply-adds FLOPs).')


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def _print_comparison(names: list[str]) -> None:
    infos = list(_infos(names, macs=True))
    base = infos[0]
    width = max(16, *(len(n) + 2 for n in names))
    rows = [
        ("family", [i["family"] or "-" for i in infos]),
        ("depth", [str(i["depth"]) for i in infos]),
        (f"  vs {base['name']}", [_ratio(i["depth"], base["depth"]) for i in infos]),
        ("params", [f"{i['params']:,}" for i in infos]),
        (f"  vs {base['name']}", [_ratio(i["params"], base["params"]) for i in infos]),
        ("MACs", [_si(i["macs"]) for i in infos]),
        (f"  vs {base['name']}", [_ratio(i["macs"], base["macs"]) for i in infos]),
        ("MACs / param", [f"{i['macs'] / i['params']:.0f}" for i in infos]),
    ]
    label = max(len(r[0]) for r in rows) + 2
    typer.echo(" " * label + "".join(n.rjust(width) for n in names))
    for title, cells in rows:
        typer.echo(title.ljust(label) + "".join(c.rjust(width) for c in cells))


@app.command("models")
def models(
    patterns: Annotated[
        list[str] | None,
        typer.Argument(
            help="Names or fnmatch patterns (e.g. 'resnet*'); with --compare, names to compare.",
            metavar="PATTERN",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of model_info dicts.")
    ] = False,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Side by side, with ratios to the first: NAME NAME ..."),
    ] = False,
    macs: Annotated[
        bool, typer.Option("--macs/--no-macs", help="Count multiply-adds (the slow column).")
    ] = True,
) -> None:
    """List registered models with their depth, parameters and multiply-adds."""
    try:
        names = _resolve(patterns or ["*"])
        if compare:
            if len(names) < 2 or not patterns:
                raise ValueError("--compare needs at least two names, e.g. resnet34 vgg19 plain34")
            _print_comparison(names)
        elif as_json:
            typer.echo(json.dumps(list(_infos(names, macs)), indent=2))
        else:
            _print_table(names, macs)
    except ValueError as e:
        raise _fail(str(e)) from None
