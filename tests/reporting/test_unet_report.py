from __future__ import annotations

from pathlib import Path

import pytest

from .browser import rendered_report


@pytest.fixture(scope="module")
def unet_run(tiny_run) -> Path:
    return tiny_run("unet", seeds=1, steps=2)


def test_unet_report_renders_scores_and_examples(unet_run: Path, browser) -> None:
    html = rendered_report(unet_run, browser, ("unet.png",), 2)
    assert "Long skips" in html and "Example predictions" in html and "Ronneberger" in html
    assert "phc u373 iou pct" in html.lower() or "phc_u373_iou_pct" in html
