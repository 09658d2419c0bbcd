from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reslab.reporting import Report, ReportError, write_index
from reslab.reporting.figures import fig_to_png, new_figure


class _Rows(HTMLParser):
    """The index table: one list of cell texts per row, plus every href/src."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []
        self.links += [attrs[k] for k in ("href", "src") if k in attrs]

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def png() -> bytes:
    fig, ax = new_figure(size=(2, 2))
    ax.plot([0, 1], [0, 1])
    return fig_to_png(fig, dpi=40)


def make_runs(root: Path) -> Path:
    """Five runs: complete, nested without report, broken JSON, config only, and empty."""
    runs = root / "runs"
    good = runs / "degradation-2024"
    (good / "figures").mkdir(parents=True)
    (good / "figures" / "b_second.png").write_bytes(png())
    (good / "figures" / "a_first.png").write_bytes(png())
    verdict = {"text": "plain-56 worse than plain-20", "ok": True}
    results = {"experiment": "degradation", "date": "2024-05-01T10:00:00", "verdict": verdict}
    (good / "results.json").write_text(json.dumps(results))
    Report("degradation").write(good / "report.html")
    nested = runs / "landscape" / "resnet 56 <b>"
    nested.mkdir(parents=True)
    late = {"experiment": "landscape", "date": "2025-01-02T03:04:05", "verdict": "sharp"}
    (nested / "results.json").write_text(json.dumps(late))
    (runs / "crashed").mkdir()
    (runs / "crashed" / "results.json").write_text('{"experiment": "degradation", ')
    (runs / "unfinished").mkdir()
    (runs / "unfinished" / "config.yaml").write_text("depth: 56\n")
    (runs / "empty").mkdir()
    (runs / ".hidden").mkdir()
    return runs


def test_index_lists_runs_newest_first_and_tolerates_broken_ones(tmp_path: Path):
    runs = make_runs(tmp_path)
    path = write_index(runs)
    assert path == runs / "index.html"
    page = _Rows()
    page.feed(path.read_text(encoding="utf-8"))
    body = [r for r in page.rows if r]
    by_run = {r[0]: r for r in body}
    assert set(by_run) == {
        "degradation-2024",
        "landscape/resnet 56 <b>",
        "crashed",
        "unfinished",
        "empty",
    }
    order = [r[0] for r in body]  # undated (broken) runs fall back to their mtime: now
    assert order[-2:] == ["landscape/resnet 56 <b>", "degradation-2024"]
    assert by_run["degradation-2024"][1:4] == [
        "degradation",
        "2024-05-01 10:00",
        "✓ reproduced plain-56 worse than plain-20",
    ]
    assert by_run["landscape/resnet 56 <b>"][3] == "done sharp"
    assert by_run["landscape/resnet 56 <b>"][4] == "reslab report landscape/resnet 56 <b>"
    assert by_run["crashed"][3].startswith("broken results.json is not valid JSON")
    assert by_run["unfinished"][3].startswith("incomplete results.json is missing")
    assert by_run["empty"][3].startswith("incomplete")
    assert by_run["crashed"][4] == "—"  # no `reslab report` hint for a run that cannot be drawn
    assert "degradation-2024/report.html" in page.links
    assert "degradation-2024/figures/a_first.png" in page.links  # first figure by name
    assert not any("b_second" in link for link in page.links)


def test_index_escapes_and_quotes_paths(tmp_path: Path):
    html = write_index(make_runs(tmp_path)).read_text(encoding="utf-8")
    assert "resnet 56 <b>" not in html
    assert "resnet 56 &lt;b&gt;" in html


def test_index_rejects_a_missing_folder(tmp_path: Path):
    with pytest.raises(ReportError, match="does not exist or is not a directory"):
        write_index(tmp_path / "nope")


def test_index_of_an_empty_folder(tmp_path: Path):
    html = write_index(tmp_path).read_text(encoding="utf-8")
    assert "0 run(s)" in html
