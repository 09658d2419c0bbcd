from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from reslab.experiments.driver import execute
from reslab.experiments.unet import EXPERIMENT, UnetConfig
from reslab.reporting import build_report

from .browser import is_blank, load_and_check


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: extra threads only contend on a shared machine
    config = UnetConfig(
        levels=2, width=4, seeds=1, epochs=None, steps=2, batch_size=16, skips=("concat", "none"),
        blocks=("plain",), examples=2, workers=1, device="cpu",
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("unet")
    execute(EXPERIMENT, config, out=run_dir)
    torch.set_num_threads(threads)
    yield run_dir


def test_unet_report_renders_scores_and_examples(unet_run: Path, browser) -> None:
    path = build_report(unet_run)
    html = path.read_text()
    assert "Long skips" in html and "Example predictions" in html and "Ronneberger" in html
    assert "phc u373 iou pct" in html.lower() or "phc_u373_iou_pct" in html
    assert (unet_run / "unet.png").read_bytes().startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == [] and images == 2
    assert not is_blank(screenshot)
