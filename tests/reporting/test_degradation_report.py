from __future__ import annotations

from reslab.reporting import build_report
from reslab.reporting.degradation import protocol_text

from .browser import is_blank, load_and_check


def test_degradation_report_renders(tiny_degradation_run, browser) -> None:
    path = build_report(tiny_degradation_run)
    html = path.read_text()
    assert "degradation observed:" in html
    assert "train err" in html and "±" in html
    png = (tiny_degradation_run / "degradation.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images >= 1
    assert not is_blank(screenshot)


def test_report_states_the_recipe_every_net_trained_with(tiny_degradation_run) -> None:
    html = build_report(tiny_degradation_run).read_text()
    # The tiny run: 2 epochs of the paper recipe with the quick preset's 10% warm-up.
    assert "Every net trains with the same recipe (paper): 2 epochs at batch 128" in html
    assert "lr x0.1 at 50%, 75% of the run" in html and "warm-up over the first 10%" in html


def test_protocol_of_the_paper_preset_and_of_old_results() -> None:
    from reslab.experiments.degradation import PRESETS, train_config

    paper = train_config(PRESETS["paper"], 0).to_dict()
    text = protocol_text(paper)
    assert "64000 iterations at batch 128, sgd lr 0.1, weight decay 0.0001" in text
    assert "warm-up" not in text  # He et al. 2015 (4.2) start at lr 0.1
    assert protocol_text({}) == "Every net trains with the same recipe."
