"""Per-variant summary and the verdict: does the zero-initialised residual insertion leave the
function, and so the losses, exactly as they were (He et al. 2015, section 1)?"""

from __future__ import annotations

from typing import Any

from reslab.experiments.common import mean_std
from reslab.experiments.identity.deepen import VARIANTS, Variant
from reslab.experiments.identity.records import IdentityResult, IdentityVerdict, VariantRecord

IDENTITY_TOL = 1e-6  # max |logit change| that still counts as "unchanged" (fp32 round-off)
SUMMARY_KEYS = (
    "max_abs_diff", "eval_loss0", "train_loss0", "final_train_loss", "final_train_err",
    "final_test_err",
)  # fmt: skip


def summarize(records: list[VariantRecord]) -> list[dict[str, Any]]:
    rows = []
    for variant in VARIANTS:
        group = [r for r in records if r.variant == variant]
        row: dict[str, Any] = {"variant": variant, "seeds": len(group)}
        for key in SUMMARY_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([getattr(r, key) for r in group])
        rows.append(row)
    return rows


def judge(result: IdentityResult) -> IdentityVerdict:
    shallow, res, plain = (_by(result, v) for v in ("shallow", "residual", "plain"))
    res_diff = max(r.max_abs_diff for r in res.values())
    plain_diff = min(r.max_abs_diff for r in plain.values())
    exact = res_diff <= IDENTITY_TOL
    # "No harm": at step 0 the deeper net's losses are never above the shallow net's (up to
    # fp32 round-off), in eval mode on the whole training split and on the first training batch.
    no_harm = all(
        res[s].eval_loss0 <= shallow[s].eval_loss0 + IDENTITY_TOL
        and res[s].train_loss0 <= shallow[s].train_loss0 + IDENTITY_TOL
        for s in shallow
    )  # fmt: skip
    text = _text(result, exact and no_harm, res_diff, plain_diff)
    return IdentityVerdict(exact, no_harm, plain_diff > IDENTITY_TOL, res_diff, plain_diff, text)


def _by(result: IdentityResult, variant: Variant) -> dict[int, VariantRecord]:
    return {r.seed: r for r in result.variants if r.variant == variant}


def _text(result: IdentityResult, ok: bool, res_diff: float, plain_diff: float) -> str:
    rows = {r["variant"]: r for r in result.summary}

    def m(variant: str, key: str) -> str:
        return f"{rows[variant][f'{key}_mean']:.4g}"

    cfg = result.config
    return (
        f"do no harm: {'yes' if ok else 'NO'} — {result.inserted_blocks} "
        f"zero-initialised residual blocks (resnet{cfg.depth} -> {cfg.deep_depth}) change the "
        f"logits by at most {res_diff:.1e}; first-batch training loss at step 0 "
        f"{m('residual', 'train_loss0')} vs {m('shallow', 'train_loss0')} for the shallow net. "
        f"Plain insertion: logits change by >= {plain_diff:.2g}, step-0 loss "
        f"{m('plain', 'train_loss0')} (He init) / {m('plain_zero', 'train_loss0')} (zero "
        f"init). After {cfg.continue_steps} more steps, train-split loss (eval mode): shallow "
        f"{m('shallow', 'final_train_loss')}, residual {m('residual', 'final_train_loss')}, "
        f"plain {m('plain', 'final_train_loss')}, plain zero-init "
        f"{m('plain_zero', 'final_train_loss')}"
    )
