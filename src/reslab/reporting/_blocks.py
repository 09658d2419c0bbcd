"""Render one report block (table, figure, Plotly chart, verdict, provenance) to safe HTML."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from reslab.reporting._format import format_value, is_numeric, sort_key
from reslab.reporting._markup import Markup, escape

HIGHLIGHTS = ("min", "max")


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    caption: str | None,
    highlight: Mapping[str, str],
) -> Markup:
    _check_table(columns, rows, highlight)
    best = {
        columns.index(col): _best_rows(rows, columns.index(col), how)
        for col, how in highlight.items()
    }
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            classes = (["num"] if is_numeric(value) else []) + (
                ["best"] if r in best.get(c, ()) else []
            )
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{_cell(value)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return Markup(
        f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: Any) -> Markup:
    return value if isinstance(value, Markup) else escape(format_value(value))


def _check_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], highlight: Mapping[str, str]
) -> None:
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(
                f"table row {i} has {len(row)} cells; accepted: {len(columns)} (one per column "
                f"{list(columns)})"
            )
    for col, how in highlight.items():
        if col not in columns:
            raise ValueError(f"highlight column {col!r} is unknown; accepted: {list(columns)}")
        if how not in HIGHLIGHTS:
            raise ValueError(f"highlight[{col!r}]={how!r} is unknown; accepted: {HIGHLIGHTS}")


def _best_rows(rows: Sequence[Sequence[Any]], col: int, how: str) -> set[int]:
    keys = {r: sort_key(row[col]) for r, row in enumerate(rows)}
    ranked = {r: k for r, k in keys.items() if k is not None}
    if not ranked:
        return set()
    target = min(ranked.values()) if how == "min" else max(ranked.values())
    return {r for r, k in ranked.items() if k == target}


def figure_png(png: bytes, caption: str | None, alt: str) -> Markup:
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(
            "add_figure got bytes that are not a PNG; accepted: PNG bytes or a matplotlib Figure"
        )
    data = base64.b64encode(png).decode("ascii")
    img = f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
    return Markup(f"<figure>{img}{_figcaption(caption)}</figure>")


def _figcaption(caption: str | None) -> str:
    return f"<figcaption>{escape(caption)}</figcaption>" if caption else ""


def plotly_json(fig: Any) -> str:
    """A Plotly figure, dict, or JSON string as a JSON string with `data` and `layout`."""
    import plotly.io as pio

    if hasattr(fig, "to_plotly_json"):
        return pio.to_json(fig, validate=False)
    if isinstance(fig, str):
        try:
            fig = json.loads(fig)
        except json.JSONDecodeError as exc:
            raise ValueError(f"add_plotly got a string that is not JSON ({exc})") from None
    if isinstance(fig, Mapping) and "data" in fig:
        return pio.to_json(dict(fig), validate=False)
    raise ValueError(
        f"add_plotly got {type(fig).__name__}; accepted: a plotly Figure, or a dict/JSON string "
        "with a 'data' key"
    )


def plotly_figure(
    spec_json: str, div_id: str, caption: str | None, height: int, script: str | None = None
) -> Markup:
    # '<', '>' and '&' only occur inside JSON strings, where \u escapes are equivalent; escaping
    # them means no label text can close the <script> element (HTML injection).
    safe = spec_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    then = f".then(function(gd){{{_checked_script(script)}}})" if script else ""
    draw = (
        f'(function(){{var s=JSON.parse(document.getElementById("{div_id}-json").textContent);'
        f'Plotly.newPlot("{div_id}",s.data||[],s.layout||{{}},'
        f"{{responsive:true,displaylogo:false}}){then};}})();"
    )
    return Markup(
        f'<figure><div id="{div_id}" class="plotly-graph" style="height:{int(height)}px"></div>'
        f'<script type="application/json" id="{div_id}-json">{safe}</script>'
        f"<script>{draw}</script>{_figcaption(caption)}</figure>"
    )


def _checked_script(script: str) -> str:
    # The script is code the report's author wrote, never data; still, "</" would end the
    # enclosing <script> element early and leave the rest of the page broken.
    if "</" in script or "<!--" in script:
        raise ValueError(
            f"add_plotly script contains '</' or '<!--' ({script[:60]!r}...); accepted: "
            "JavaScript without them (write '<\\/' inside strings)"
        )
    return script


def verdict(text: str, ok: bool | None) -> Markup:
    cls, mark, word = {
        True: ("ok", "✓", "reproduced"),
        False: ("fail", "✗", "contradicted"),
        None: ("neutral", "?", "inconclusive"),
    }[ok]
    return Markup(
        f'<p class="verdict {cls}" data-ok="{escape(word)}"><span class="mark" '
        f'aria-label="{word}">{mark}</span>{escape(text)}</p>'
    )


def provenance(info: Mapping[str, Any]) -> Markup:
    rows = "".join(
        f"<tr><th>{escape(key)}</th><td>{_provenance_value(value)}</td></tr>"
        for key, value in info.items()
    )
    return Markup(
        '<details class="provenance"><summary>Provenance: config, seeds, versions, device, '
        f"commit</summary><table><tbody>{rows}</tbody></table></details>"
    )


def _provenance_value(value: Any) -> Markup:
    if isinstance(value, (Mapping, list, tuple)):
        text = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        return Markup(f"<pre>{escape(text)}</pre>")
    return Markup(f"<code>{escape(value)}</code>")
