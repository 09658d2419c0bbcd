from __future__ import annotations

from pathlib import Path

import pytest

from reslab.reporting import build_report

from .browser import rendered_report


@pytest.fixture(scope="module")
def paths_run(tiny_run) -> Path:
    return tiny_run("paths", seeds=2, steps=10)


def test_paths_report_renders(paths_run: Path, browser) -> None:
    html = rendered_report(paths_run, browser, ("paths.png",), 1)
    assert "effective paths much shorter than the net: " in html and "Veit et al. 2016" in html
    assert "Effective paths" in html and "Figure 6" in html


def test_report_tables_put_the_paper_beside_ours(paths_run: Path) -> None:
    html = build_report(paths_run).read_text()
    assert "k hi (paper)" in html and "paths pct (paper)" in html and "±" in html
    lengths = html[html.index("<caption>path lengths") :]
    lengths = lengths[: lengths.index("</table>")]
    assert lengths.count("<tr>") == 1 + 7  # the header and k = 0..6 of a 6-block net
