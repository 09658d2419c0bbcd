"""The reports in a real headless Chromium: they load offline, draw, and log no errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reslab.reporting import Markup, Report, write_index
from reslab.reporting.figures import fig_to_png

from .browser import is_blank, load_and_check
from .conftest import curves_png, demo_report


def test_demo_report_renders_offline(browser, demo_html: Path):
    errors, png, images, plotly = load_and_check(demo_html, browser)
    assert errors == []
    assert images == 1  # the matplotlib curves, decoded
    assert plotly == 1  # the 3-D surface, drawn by the inlined Plotly JS
    # go.Surface is WebGL: a drawn scene holds a canvas of the page's size, not an error text.
    canvas = browser.execute_script(
        "const c = document.querySelector('#plotly-figure-1 canvas');"
        "return c ? [c.width, c.height] : null;"
    )
    assert canvas is not None and min(canvas) > 100
    assert not is_blank(png)
    best = browser.execute_script("return document.querySelector('td.best').textContent")
    assert best == "6.97 ± 0.15"


def test_index_page_renders_thumbnails(browser, tmp_path: Path):
    for i, experiment in enumerate(["degradation", "landscape"]):
        run = tmp_path / f"run{i}"
        run.mkdir()
        (run / "fig.png").write_bytes(fig_to_png(curves_png(), dpi=40))
        (run / "results.json").write_text(json.dumps({"experiment": experiment}))
        demo_report(experiment).write(run / "report.html")
    (tmp_path / "crashed").mkdir()
    errors, png, images, plotly = load_and_check(write_index(tmp_path), browser)
    assert (errors, images, plotly) == ([], 2, 0)
    assert not is_blank(png)


def test_helper_reports_script_errors(browser, tmp_path: Path):
    page = Report("broken script").add_text(Markup("<script>throw new Error('boom');</script>"))
    errors, _, _, _ = load_and_check(page.write(tmp_path / "page.html"), browser)
    assert len(errors) == 1 and "boom" in errors[0]


def test_helper_rejects_an_undecodable_image(browser, tmp_path: Path):
    page = Report("broken image").add_text(Markup('<img src="data:image/png;base64,AAAA">'))
    with pytest.raises(AssertionError, match="1 of 1 <img> did not decode"):
        load_and_check(page.write(tmp_path / "page.html"), browser, timeout=2.0)


def test_blank_screenshot_is_detected(browser, tmp_path: Path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><head><title>x</title></head><body></body></html>")
    _, png, images, plotly = load_and_check(blank, browser)
    assert (images, plotly) == (0, 0)
    assert is_blank(png)


def test_missing_chromium_skips_locally_but_fails_under_ci(monkeypatch):
    from . import browser as helper

    monkeypatch.setattr(helper, "chromium_paths", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"install_browser\.sh"):
        helper.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set, so the browser test must run"):
        helper.require_chromium()
