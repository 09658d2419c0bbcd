from __future__ import annotations

from pathlib import Path

import pytest

from reslab.reporting import build_report

from .browser import is_blank, load_and_check


@pytest.fixture(scope="module")
def unet_run(tiny_run) -> Path:
    return tiny_run("unet", seeds=1, steps=2)


def test_unet_report_renders_scores_and_examples(unet_run: Path, browser) -> None:
    path = build_report(unet_run)
    html = path.read_text()
    assert "Long skips" in html and "Example predictions" in html and "Ronneberger" in html
    assert "phc u373 iou pct" in html.lower() or "phc_u373_iou_pct" in html
    assert (unet_run / "unet.png").read_bytes().startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == [] and images == 2
    assert not is_blank(screenshot)
