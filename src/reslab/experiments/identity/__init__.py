"""Extra residual blocks "do no harm" (He et al. 2015, section 1 and 4.2).

He et al. argue that a deeper net should be no worse than a shallower one, because it could copy
the shallow net and make the added layers identity mappings. We train a shallow net, build the
deeper one from it (the trained blocks first in each stage, the new same-shape blocks appended;
``deepen.py``), measure that its outputs and its training loss are unchanged, then continue
training both from that point. For contrast, the same insertion with plain layers: zero-
initialised, they cut the signal, and since the gradient of ReLU at 0 is 0, nothing upstream of
them can learn again.
"""

from __future__ import annotations

from reslab.experiments.identity.config import (
    CONTINUE_SEED,
    PRESETS,
    IdentityConfig,
    check,
    continue_config,
    shallow_config,
)
from reslab.experiments.identity.deepen import (
    INSERTS,
    VARIANTS,
    Insert,
    Variant,
    build_variant,
    deepen,
    max_output_change,
)
from reslab.experiments.identity.experiment import run
from reslab.experiments.identity.records import IdentityResult, IdentityVerdict, VariantRecord
from reslab.experiments.identity.train import run_seed
from reslab.experiments.identity.verdict import IDENTITY_TOL, SUMMARY_KEYS, judge, summarize

__all__ = [
    "CONTINUE_SEED",
    "IDENTITY_TOL",
    "INSERTS",
    "PRESETS",
    "SUMMARY_KEYS",
    "VARIANTS",
    "IdentityConfig",
    "IdentityResult",
    "IdentityVerdict",
    "Insert",
    "Variant",
    "VariantRecord",
    "build_variant",
    "check",
    "continue_config",
    "deepen",
    "judge",
    "max_output_change",
    "run",
    "run_seed",
    "shallow_config",
    "summarize",
]
