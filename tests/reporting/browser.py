"""Load an HTML report in real headless Chromium and check that it renders.

Reusable by every experiment's report test:

    from tests.reporting.browser import chromium, load_and_check

    with chromium() as driver:  # or the `browser` fixture of tests/reporting/conftest.py
        errors, png, images, plotly = load_and_check(path, driver)
    assert errors == [] and not is_blank(png)

Chromium comes from Debian (`scripts/install_browser.sh`). Without it the caller is skipped,
except when the CI environment variable is set: then it fails, so CI really runs the browser.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# The machines have no network: these flags stop Chromium's own background traffic (updates,
# sync, QUIC probes) that would otherwise flood the console with refused connections.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    "--hide-scrollbars",
)


class PageCheck(NamedTuple):
    console_errors: list[str]  # SEVERE entries of the browser console
    screenshot_png: bytes  # the viewport after rendering
    image_count: int  # <img> elements, every one of which decoded (naturalWidth > 0)
    plotly_divs_rendered: int  # Plotly divs holding a drawn plot (svg.main-svg / .plot-container)


def chromium_paths() -> tuple[str, str] | None:
    chrome = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    driver = CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK) else shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


def require_chromium() -> tuple[str, str]:
    """The browser and driver paths; skip the test without them or selenium (fail under CI)."""
    paths = chromium_paths()
    reason = None
    if paths is None:
        reason = (
            f"headless Chromium not found ({CHROMIUM}, {CHROMEDRIVER}); "
            "install it with `sudo bash scripts/install_browser.sh`"
        )
    elif importlib.util.find_spec("selenium") is None:
        reason = "selenium is not installed (pip install -e '.[dev]')"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser test must run: {reason}")
        pytest.skip(reason)
    assert paths is not None
    return paths


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """A headless Chromium WebDriver with a throw-away profile, quit on exit."""
    chrome, driver_path = require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="reslab-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chrome
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()


_IMAGES_JS = """
const imgs = Array.from(document.images);
return [imgs.length, imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                          .map(i => i.src.slice(0, 80))];
"""
_PLOTLY_JS = """
const divs = new Set(document.querySelectorAll('.plotly-graph, .js-plotly-plot'));
const drawn = Array.from(divs).filter(d => d.querySelector('svg.main-svg, .plot-container'));
return [divs.size, drawn.length];
"""


def load_and_check(
    html_path: str | Path, driver: WebDriver | None = None, *, timeout: float = 30.0
) -> PageCheck:
    """Open `html_path` via file://, wait for images and Plotly, and collect what went wrong.

    Fails (AssertionError) if the page does not finish loading or an <img> does not decode.
    Returns `PageCheck(console_errors, screenshot_png, image_count, plotly_divs_rendered)`.
    """
    if driver is None:
        with chromium() as own:
            return load_and_check(html_path, own, timeout=timeout)
    url = Path(html_path).resolve().as_uri()
    driver.get_log("browser")  # drop entries left over from a previous page
    driver.get(url)
    _wait(driver, "return document.readyState === 'complete'", timeout, f"{url} did not load")
    n_images, broken = _poll(driver, _IMAGES_JS, lambda r: not r[1], timeout)
    assert not broken, f"{len(broken)} of {n_images} <img> did not decode in {url}: {broken}"
    _, rendered = _poll(driver, _PLOTLY_JS, lambda r: r[0] == r[1], timeout)
    time.sleep(0.2)  # let the last requestAnimationFrame paint before the screenshot
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return PageCheck(errors, driver.get_screenshot_as_png(), n_images, rendered)


def _poll(driver: WebDriver, script: str, done: Callable[[Any], bool], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    result = driver.execute_script(script)
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.1)
        result = driver.execute_script(script)
    return result


def _wait(driver: WebDriver, script: str, timeout: float, message: str) -> None:
    assert _poll(driver, script, bool, timeout), message


def pixel_std(png: bytes) -> float:
    """Standard deviation of the screenshot's pixel values (0 for a uniformly blank page)."""
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")
    return float(np.asarray(pixels)[..., :3].std())


def is_blank(png: bytes, threshold: float = 0.02) -> bool:
    return pixel_std(png) < threshold


def rendered_report(run_dir: Path, driver: WebDriver, figures: Sequence[str], images: int) -> str:
    """Build ``run_dir``'s report and check it: each of ``figures`` written as a PNG, and in the
    browser no console error, ``images`` decoded images and a page that is not blank. Returns the
    report's HTML."""
    from reslab.reporting import build_report

    path = build_report(run_dir)
    for name in figures:
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG"), name
    errors, screenshot, shown, _ = load_and_check(path, driver)
    assert errors == [] and shown == images and not is_blank(screenshot)
    return path.read_text()
