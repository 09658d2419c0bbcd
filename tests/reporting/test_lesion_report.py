from __future__ import annotations

from pathlib import Path

import pytest

from reslab.reporting import build_report

from .browser import rendered_report


@pytest.fixture(scope="module")
def lesion_run(tiny_run) -> Path:
    return tiny_run("lesion", seeds=2, steps=10)


def test_lesion_report_renders(lesion_run: Path, browser) -> None:
    html = rendered_report(lesion_run, browser, ("lesion_single.png", "lesion_random.png"), 2)
    assert "ensemble-like" in html and "Veit et al. 2016" in html
    assert "Deleting one block" in html and "Deleting several blocks" in html


def test_report_tables_have_one_row_per_block_and_per_net(lesion_run: Path) -> None:
    html = build_report(lesion_run).read_text()
    # The generic tables: mean ± std over the 2 seeds, no plain error for a downsampling block.
    assert "residual err" in html and "plain err" in html and "±" in html and "—" in html
    assert "intact nets" in html and "test err" in html and "diverged" in html
    assert "the blocks table counts from 0" in html
    blocks = html[html.index("<caption>blocks") :]
    blocks = blocks[: blocks.index("</table>")]
    assert blocks.count("<tr>") == 1 + 6  # the header and the 6 blocks of a 14-layer net
