from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from reslab.experiments.lesion import LesionConfig, run
from reslab.reporting import build_report

from .browser import is_blank, load_and_check


@pytest.fixture(scope="module")
def lesion_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: extra threads only contend on a shared machine
    config = LesionConfig(
        data="synthetic1d", depth=14, seeds=2, draws=2, epochs=None, steps=10, batch_size=64,
        workers=1, device="cpu",
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("lesion")
    run(config).save(run_dir)
    torch.set_num_threads(threads)
    yield run_dir


def test_lesion_report_renders(lesion_run: Path, browser) -> None:
    path = build_report(lesion_run)
    html = path.read_text()
    assert "ensemble-like" in html and "Veit et al. 2016" in html
    assert "residual err (%)" in html and "n/a" in html and "±" in html
    for name in ("lesion_single.png", "lesion_random.png"):
        assert (lesion_run / name).read_bytes().startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images == 2
    assert not is_blank(screenshot)


def test_report_table_has_one_row_per_block(lesion_run: Path) -> None:
    from reslab.reporting import load_results
    from reslab.reporting.lesion import block_rows

    rows = block_rows(load_results(lesion_run))
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r[2] for r in rows] == ["", "", "yes", "", "yes", ""]
    assert rows[2][4] == "n/a" and rows[2][3].n == 2
