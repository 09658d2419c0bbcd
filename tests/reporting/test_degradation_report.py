from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from reslab.reporting import build_report
from reslab.reporting.degradation import mean_responses, protocol_text, responses_png

from .browser import is_blank, load_and_check


def test_degradation_report_renders(tiny_run, browser) -> None:
    run_dir = tiny_run("degradation")
    path = build_report(run_dir)
    html = path.read_text()
    assert "degradation observed:" in html
    assert "train err" in html and "±" in html
    png = (run_dir / "degradation.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images >= 1
    assert not is_blank(screenshot)


def test_report_states_the_recipe_every_net_trained_with(tiny_run) -> None:
    html = build_report(tiny_run("degradation")).read_text()
    # The tiny run: 2 epochs of the paper recipe with the quick preset's 10% warm-up.
    assert "Every net trains with the same recipe (paper): 2 epochs at batch 128" in html
    assert "lr x0.1 at 50%, 75% of the run" in html and "warm-up over the first 10%" in html


def test_protocol_of_the_paper_preset_and_of_old_results() -> None:
    from reslab.experiments.degradation import PRESETS

    paper = PRESETS["paper"].train_config(0).to_dict()
    text = protocol_text(paper)
    assert "64000 iterations at batch 128, sgd lr 0.1, weight decay 0.0001" in text
    assert "warm-up" not in text  # He et al. 2015 (4.2) start at lr 0.1
    assert protocol_text({}) == "Every net trains with the same recipe."


def test_report_shows_layer_responses_and_the_cost_of_a_shortcut(tiny_run) -> None:
    run_dir = tiny_run("degradation")
    html = build_report(run_dir).read_text()
    assert "Layer responses" in html and "ResNet-110 &lt; 56 &lt; 20" in html  # the paper's
    assert "Layer responses (Figure 7): residual smaller than plain at every depth:" in html
    assert (run_dir / "responses.png").read_bytes().startswith(b"\x89PNG")
    assert html.count("<img") >= 2  # Figure 6's curves and Figure 7's responses
    assert "response std" in html  # the responses table, mean ± std over seeds
    assert "cost of a shortcut" in html and "macs ratio" in html and "step ratio" in html


def test_responses_figure_is_the_mean_over_seeds_and_absent_without_data() -> None:
    arrays = {
        "plain8_seed0_responses": np.array([1.0, 2.0, 3.0]),
        "plain8_seed1_responses": np.array([3.0, 2.0, 1.0]),
        "plain8_seed0_train": np.zeros((2, 4)),
        "residual8_seed0_responses": np.array([0.5, 0.5, 0.5]),
    }
    np.testing.assert_array_equal(mean_responses(arrays, "plain", 8), [2.0, 2.0, 2.0])
    assert mean_responses(arrays, "residual", 14) is None
    png = responses_png(arrays, [8, 14])  # residual-14 and plain-14 missing: left out
    assert png is not None and png.startswith(b"\x89PNG")
    assert responses_png({"plain8_seed0_train": np.zeros((2, 4))}, [8, 14]) is None


def test_a_result_saved_before_responses_and_costs_still_reports(tiny_run, tmp_path) -> None:
    run = Path(shutil.copytree(tiny_run("degradation"), tmp_path / "old"))
    (run / "responses.png").unlink()
    results = json.loads((run / "results.json").read_text())
    results["records"] = [r for r in results["records"] if "kind" in r]
    for r in results["records"]:
        del r["responses"]
    for key in ("responses", "responses_claim", "response_numbers", "cost_of_a_shortcut"):
        del results["summary"][key]
    (run / "results.json").write_text(json.dumps(results))
    html = build_report(run).read_text()
    assert "Training curves" in html and "Layer responses" not in html
    assert "cost of a shortcut" not in html and not (run / "responses.png").exists()
