"""A bad configuration is refused before any work and before the run directory is made, with a
message that names the setting: one check, each experiment's cases on its tiny configuration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tests.experiments.tiny import CONFIGS

from reslab.experiments.driver import execute
from reslab.experiments.registry import get_experiment

REFUSED: dict[str, list[tuple[dict, str]]] = {
    "densenet": [
        ({"dense_depth": 20}, r"6n\+4"),
        ({"resnet_depth": 21}, r"6n\+2"),
        ({"memory_batches": (32, 8)}, "two increasing"),
        ({"growth_rate": 0}, "growth_rate"),
    ],
    "depth": [
        ({"depths": (11, 21)}, r"depth=21 .* 9n\+2"),
        ({"block": "basic", "depths": (20, 1001)}, "depth=1001"),
        ({"block": "wide"}, "accepted: bottleneck, basic"),
        ({"depths": (11, 11)}, "distinct"),
        ({"seeds": 0}, "seeds=0"),
        ({"width": 0}, "width=0"),
        ({"deepest_seeds": 0}, "deepest_seeds=0"),
        ({"checkpoint_from": -1}, "checkpoint_from=-1"),
        ({"epochs": 2}, "not both"),
        ({"overrides": ("optim.lr=fast",)}, "optim.lr"),
    ],
    "paths": [
        ({"depth": 15}, r"6n\+2"),
        ({"draws": 0}, "draws=0"),
        ({"shortcut": "none"}, "accepted: A, B, C"),
        ({"overrides": ("optim.lr=-1",)}, "optim.lr"),
        ({"block": "wide"}, "block='wide'"),
    ],
    "placement": [
        ({"variants": ("original", "post")}, "placement='post'"),
        ({"variants": ("original", "relu_preact")}, "must include 'full_preact'"),
        ({"variants": ("full_preact",)}, "must include the reference 'original'"),
        ({"block": "wide"}, "block='wide'; accepted: basic, bottleneck"),
        ({"shortcut": "C"}, "shortcut='C'; accepted: A, B"),
        ({"block": "bottleneck", "depth": 21}, r"9n\+2"),
    ],
    "shortcuts": [
        ({"variants": ("scale",)}, "must include the reference 'identity'"),
        ({"variants": ("identity", "half")}, "variant 'half' is unknown"),
        ({"depth": 21}, r"6n\+2"),
    ],
    "unet": [
        ({"skips": ("concat",)}, "must include 'none'"),
        ({"skips": ("concat", "sum", "none")}, r"skips=.*accepted values are concat, add, none"),
        ({"blocks": ("dense",)}, r"blocks=.*accepted values are plain, residual"),
        ({"levels": 0}, "levels=0 must be >= 1"),
        ({"tolerance": -1}, "tolerance=-1"),
    ],
}


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [(name, changes, message) for name, cases in REFUSED.items() for changes, message in cases],
    ids=[f"{name}-{'-'.join(changes)}" for name, cases in REFUSED.items() for changes, _ in cases],
)
def test_bad_config_fails_before_the_run_directory_is_made(
    name: str, changes: dict, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        execute(get_experiment(name), replace(CONFIGS[name], **changes), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
