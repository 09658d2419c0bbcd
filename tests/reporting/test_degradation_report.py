from __future__ import annotations

from reslab.reporting import build_report

from .browser import is_blank, load_and_check


def test_degradation_report_renders(tiny_degradation_run, browser) -> None:
    path = build_report(tiny_degradation_run)
    html = path.read_text()
    assert "degradation observed:" in html
    assert "plain train err (%)" in html and "±" in html
    png = (tiny_degradation_run / "degradation.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images >= 1
    assert not is_blank(screenshot)
