from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from reslab.reporting import Markup, MeanStd, Report
from reslab.reporting.figures import fig_to_png, new_figure

from .conftest import bowl_surface, demo_report

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Tags(HTMLParser):
    """Every start tag with its attributes, and every script body, as a browser would parse."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def small_png() -> bytes:
    fig, ax = new_figure(size=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig_to_png(fig)


def test_every_text_input_is_escaped():
    report = Report(HOSTILE, subtitle=HOSTILE).add_section(HOSTILE).add_text(HOSTILE)
    report.add_table([HOSTILE], [[HOSTILE]], caption=HOSTILE)
    report.add_figure(small_png(), caption=HOSTILE)
    report.add_verdict(HOSTILE, ok=False)
    report.add_provenance({HOSTILE: HOSTILE, "config": {"name": HOSTILE}})
    tags = parse(report.to_html())
    assert [t for t, _ in tags.tags if t == "script"] == []
    images = [a for t, a in tags.tags if t == "img"]
    assert len(images) == 1 and images[0]["src"].startswith("data:image/png;base64,")
    assert not any(k.startswith("on") for _, attrs in tags.tags for k in attrs)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in report.to_html()


def test_markdown_subset_and_trusted_markup():
    html = (
        Report("t")
        .add_text("a **bold** *em* `x<y` [paper](https://arxiv.org/abs/1512.03385)\n\n- one\n- two")
        .add_text("[bad](javascript:alert(1))")
        .add_text(Markup('<p class="mine">kept</p>'))
        .to_html()
    )
    assert "<strong>bold</strong> <em>em</em> <code>x&lt;y</code>" in html
    assert '<a href="https://arxiv.org/abs/1512.03385">paper</a>' in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "javascript:" not in re.findall(r'href="([^"]*)"', html)
    assert "[bad](javascript:alert(1))" in html  # left as text, not a link
    assert '<p class="mine">kept</p>' in html


def test_figures_are_embedded_and_nothing_is_external():
    png = small_png()
    fig, ax = new_figure()
    ax.plot([1, 2, 3])
    html = Report("t").add_section("A").add_section("B").add_figure(png).add_figure(fig).to_html()
    tags = parse(html)
    srcs = [a["src"] for _, a in tags.tags if "src" in a]
    hrefs = [a["href"] for _, a in tags.tags if "href" in a]
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == png
    assert hrefs == ["#a", "#b"]  # the contents list: in-page anchors only
    assert not any(t == "link" for t, _ in tags.tags)


def test_add_figure_rejects_non_png_bytes(tmp_path: Path):
    with pytest.raises(ValueError, match="not a PNG"):
        Report("t").add_figure(b"GIF89a....", save_as=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_a_figure_can_also_be_kept_as_a_file(tmp_path: Path):
    fig, ax = new_figure()
    ax.plot([1, 2, 3])
    html = Report("t").add_figure(fig, "c", save_as=tmp_path / "fig.png").to_html()
    src = next(a["src"] for _, a in parse(html).tags if "src" in a)
    assert base64.b64decode(src.split(",", 1)[1]) == (tmp_path / "fig.png").read_bytes()


def test_plotly_js_is_inlined_exactly_once():
    js_head = get_plotlyjs()[:200]
    report = Report("t")
    assert js_head not in report.add_text("no charts").to_html()
    for _ in range(3):
        report.add_plotly(bowl_surface(5), caption="surface")
    html = report.to_html()
    assert html.count(js_head) == 1
    assert len(html) < 1.2 * len(get_plotlyjs())
    assert html.count('class="plotly-graph"') == 3
    assert len(set(re.findall(r'id="(plotly-figure-\d+)"', html))) == 3


def test_plotly_accepts_figure_dict_and_json_and_keeps_data():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="curve"))
    report = Report("t").add_plotly(fig).add_plotly(fig.to_dict()).add_plotly(fig.to_json())
    scripts = [s for s in parse(report.to_html()).scripts if s.startswith("{")]
    assert len(scripts) == 3
    assert all(json.loads(s)["data"][0]["name"] == "curve" for s in scripts)
    with pytest.raises(ValueError, match="accepted: a plotly Figure"):
        Report("t").add_plotly([1, 2, 3])
    with pytest.raises(ValueError, match="not JSON"):
        Report("t").add_plotly("{nope")


def test_plotly_labels_cannot_close_the_script():
    fig = go.Figure(go.Scatter(x=[1], y=[1]), layout={"title": {"text": HOSTILE}})
    html = Report("t").add_plotly(fig).to_html()
    assert "</script><img" not in html
    spec = next(s for s in parse(html).scripts if s.startswith("{"))
    assert json.loads(spec)["layout"]["title"]["text"] == HOSTILE


def test_plotly_script_runs_once_drawn_and_cannot_close_its_element():
    fig = go.Figure(go.Scatter(x=[1], y=[1]))
    html = Report("t").add_plotly(fig, script="gd.dataset.ready='yes';").to_html()
    draw = next(s for s in parse(html).scripts if "Plotly.newPlot" in s)
    assert ".then(function(gd){gd.dataset.ready='yes';})" in draw
    for bad in ("var s='</script>';", "<!--"):
        with pytest.raises(ValueError, match="accepted: JavaScript without them"):
            Report("t").add_plotly(fig, script=bad)


def test_table_formats_numbers_and_highlights_best():
    html = (
        Report("t")
        .add_table(
            ["net", "err", "params", "acc"],
            [
                ["plain", MeanStd(1.734, 0.31), 1_700_000, [0.9, 0.92, 0.94]],
                ["resnet", (1.2, 0.05), 850_000, np.array([0.95, 0.95])],
                ["none", None, 0.000012345, float("nan")],
            ],
            highlight={"err": "min", "acc": "max"},
        )
        .to_html()
    )
    assert '<td class="num">1.7 ± 0.3</td>' in html
    assert '<td class="num best">1.20 ± 0.05</td>' in html
    assert '<td class="num">0.92 ± 0.02</td>' in html  # sample std (ddof=1) of 3 seeds
    assert '<td class="num best">0.95 ± 0</td>' in html
    assert "<td>—</td>" in html and '<td class="num">1.234e-05</td>' in html


def test_table_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"row 1 has 1 cells; accepted: 2"):
        Report("t").add_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match=r"'c' is unknown; accepted: \['a', 'b'\]"):
        Report("t").add_table(["a", "b"], [[1, 2]], highlight={"c": "min"})
    with pytest.raises(ValueError, match=r"'best' is unknown; accepted: \('min', 'max'\)"):
        Report("t").add_table(["a", "b"], [[1, 2]], highlight={"a": "best"})


def test_verdict_and_provenance_blocks():
    html = (
        Report("t")
        .add_verdict("yes", True)
        .add_verdict("no", False)
        .add_verdict("unclear", None)
        .add_provenance({"git_commit": "abc123", "seeds": [0, 1]})
        .to_html()
    )
    assert re.findall(r'class="verdict (\w+)"', html) == ["ok", "fail", "neutral"]
    assert '<details class="provenance">' in html and "<code>abc123</code>" in html
    assert "[\n  0,\n  1\n]" in html
    with pytest.raises(ValueError, match=r"ok='yes' is invalid; accepted: True, False, None"):
        Report("t").add_verdict("x", "yes")


def test_write_is_atomic_and_overwrites(tmp_path: Path):
    target = tmp_path / "run" / "report.html"
    Report("first").write(target)
    written = demo_report("second").write(target)
    assert written == target
    assert "<title>second</title>" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
