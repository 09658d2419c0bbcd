"""The residual Transformer: where the LayerNorm sits, and whether the skips are there at all.

Xiong et al. 2020 ("On Layer Normalization in the Transformer Architecture", sections 3-4): in a
post-LN Transformer (Vaswani et al. 2017) the gradient of the last layers' parameters does not
shrink with depth at initialisation, so large early steps blow it up and it needs a learning-rate
warm-up; a pre-LN one's shrinks like 1/sqrt(L) and trains without. Wang et al. 2022 ("DeepNet")
up-weight the skip by alpha before the LN and shrink the branches' initialisation by beta
(DeepNorm), which they report trains post-LN nets of 1000 layers. Without any skip, depth alone
should make the stack untrainable (He et al. 2015's degradation, in a Transformer).

We train a character-level GPT on Tiny Shakespeare (nanoGPT's shakespeare_char) as pre-LN,
post-LN, DeepNorm and without skips: a depth sweep at one learning rate, with and without
warm-up, and a learning-rate grid at the deepest depth; plus, at initialisation, the gradient
norm of every layer's FFN weights (Xiong et al., Fig. 3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data.cache import cached_text
from reslab.data.text import unigram_entropy
from reslab.experiments.common import mean_std
from reslab.experiments.protocol import require_at_least_one
from reslab.experiments.registry import register
from reslab.experiments.spec import Summary, Task, TrainedConfig, Verdict, default, define, option
from reslab.experiments.stats import Threshold, combine, compare
from reslab.models.gpt import GPT, INITS
from reslab.probes.gradients import ffn_grad_norms, measurement_batches
from reslab.training import fit
from reslab.training.config import TrainConfig, validate
from reslab.training.precision import resolve_device

# variant -> (norm, residual). "plain" is the pre-LN stack with every skip removed (LN -> f, no
# addition); it keeps the final LN, so it differs from "pre" in the skips only.
VARIANTS: dict[str, tuple[str, bool]] = {
    "pre": ("pre", True), "post": ("post", True), "deepnorm": ("deepnorm", True),
    "plain": ("pre", False),
}  # fmt: skip
# Xiong et al. 2020, Fig. 2 / 3.1: post-LN Transformer on IWSLT14 De-En (BLEU), Adam at lr 5e-4:
# 8.45 without warm-up, about 34 with 4000 warm-up steps (read off their figure).
XIONG_BLEU = {True: 34.0, False: 8.45}
# nanoGPT's README: the baby GPT (pre-LN, 6 layers) on shakespeare_char, val loss after 5000 it.
NANOGPT_VAL_LOSS = 1.4697
# Xiong et al. 2020, Theorem 1 / Fig. 3: ||dL/dW_FFN|| of the last layer scales as L^slope.
PAPER_SLOPE = {"pre": -0.5, "post": 0.0}
MIN_GAP = 0.05  # nats per character: the smallest loss difference a verdict counts
THRESHOLDS = {"loss_gap": Threshold(absolute=MIN_GAP)}  # declared before any run


@dataclass(kw_only=True)
class TransformerConfig(TrainedConfig):
    data: str = option("shakespeare_char", "Text: shakespeare_char (DATA_DIR/tinyshakespeare/"
                       "input.txt) or text:PATH.")  # fmt: skip
    variants: tuple[str, ...] = option(
        tuple(VARIANTS), "Variants: pre (pre-LN), post (post-LN), deepnorm, plain (no skips)."
    )
    depths: tuple[int, ...] = option((2, 6, 24), "Layers (attention + MLP) per net.")
    lr: float = option(3e-3, "Peak learning rate of the depth sweep.")
    lrs: tuple[float, ...] = option(
        (1e-3, 3e-3, 1e-2), "Learning rates tried at the deepest depth."
    )
    lr_variants: tuple[str, ...] = option(
        ("pre", "post", "deepnorm"), "Variants in the learning-rate grid."
    )
    warmup: float = option(0.2, "Warm-up fraction of the runs 'with warm-up' (others: none).")
    # One init family for every variant, so that init is not confounded with architecture:
    # Xavier, the setting of Xiong et al.'s analysis; DeepNorm scales its branches by beta on top
    # of it, which is Wang et al.'s method (Fig. 2), not another family.
    init: str = option(
        "xavier", "Init family of the pre- and post-LN nets: xavier (DeepNorm: Xavier with its "
        "beta, the same family) or gpt2 (DeepNorm keeps its own Xavier·beta)."
    )  # fmt: skip
    n_embd: int = option(32, "Width.")
    n_head: int = option(2, "Attention heads.")
    block_size: int = option(32, "Context in characters.")
    dropout: float = option(0.0, "Dropout (nanoGPT's shakespeare_char: 0.2).")
    recipe: str = default("recipe", "gpt")  # AdamW, cosine decay, clipping
    steps: int | None = default("steps", 120)
    batch_size: int = default("batch_size", 16)
    val_windows: int = option(256, "Held-out windows the final loss is measured on (0: all).")
    batches: int = option(2, "Train batches the initial gradient norms are averaged over.")

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        return (
            ("data.block_size", self.block_size), ("model.dropout", self.dropout),
            ("train.eval_every", 10**9), ("train.checkpoint_every", 0),
            ("train.eval_train", False),
        )  # fmt: skip


PRESETS: dict[str, TransformerConfig] = {
    # Minutes on 2 CPU cores: a 32-wide, 2-head GPT on 32-character windows, 120 steps of 16,
    # 3 seeds: the depth sweep (4 variants x depths 2, 6, 24 x warm-up on/off, 72 runs) and the
    # lr grid at depth 24 (3 variants x 2 more lrs x warm-up on/off, 36 runs): 6 min on 2 idle
    # cores (2026-11-29). Val loss on 256 held-out windows (8k characters).
    "quick": TransformerConfig(),
    # nanoGPT's baby GPT and recipe (config/train_shakespeare_char.py) at 6, 12 and 24 layers:
    # width 384, 6 heads, context 256, dropout 0.2, 5000 iterations of 64, warm-up 100 steps,
    # the whole held-out split. Hours per run on a CPU; meant for a GPU.
    "paper": TransformerConfig(
        preset="paper",
        depths=(6, 12, 24),
        lr=1e-3,
        lrs=(3e-4, 1e-3, 3e-3),
        warmup=0.02,
        n_embd=384,
        n_head=6,
        block_size=256,
        dropout=0.2,
        steps=5000,
        batch_size=64,
        log_every=50,
        val_windows=0,
    ),
}


@dataclass
class RunRecord:
    variant: str
    depth: int
    lr: float
    warmup: bool
    seed: int
    val_loss: float  # nats per character on the held-out windows; ln(vocab) if diverged
    failed: bool  # diverged, or no better than the unigram entropy (see ``failed``)
    status: str
    diverged_step: int | None
    unigram: float  # entropy of the train characters, nats
    ffn_grad_init: list[float]  # per layer, ||dLoss/d(FFN weights)|| at initialisation
    # The same under Xiong et al. 2020's plain Xavier init (no GPT-2 depth scaling), same seed.
    ffn_grad_xavier: list[float]
    steps: list[int]
    train_loss: list[float]
    wall_s: float


@dataclass(frozen=True)
class RunTask(Task):
    KEY = "{variant}_L{depth}_lr{lr:g}_warmup{warmup:d}_seed{seed}"
    config: TransformerConfig
    variant: str
    depth: int
    lr: float
    warmup: bool
    seed: int


def cells(config: TransformerConfig) -> list[tuple[str, int, float, bool]]:
    """(variant, depth, lr, warm-up) of every run: the depth sweep at ``lr``, then the lr grid at
    the deepest depth (cells already in the sweep are not repeated)."""
    deepest = max(config.depths)
    out = [(v, d, config.lr, w) for v in config.variants for d in config.depths
           for w in (True, False)]  # fmt: skip
    grid = [(v, deepest, lr, w) for v in config.lr_variants for lr in config.lrs
            for w in (True, False)]  # fmt: skip
    return out + [c for c in grid if c not in out]


def tasks(config: TransformerConfig, workdir: Path | None) -> list[RunTask]:
    return [RunTask(config, v, d, lr, w, s) for v, d, lr, w in cells(config)
            for s in config.seed_range]  # fmt: skip


def build(
    config: TransformerConfig, variant: str, depth: int, vocab_size: int, init: str = "gpt2"
) -> GPT:
    norm, residual = VARIANTS[variant]
    return GPT(
        vocab_size=vocab_size, block_size=config.block_size, n_layer=depth, n_head=config.n_head,
        n_embd=config.n_embd, dropout=config.dropout, norm=norm, residual=residual, init=init,
    )  # fmt: skip


def train_config(config: TransformerConfig, lr: float, warmup: bool, seed: int) -> TrainConfig:
    return config.train_config(
        seed, ("optim.lr", lr), ("schedule.warmup", config.warmup if warmup else 0.0)
    )


def failed(status: str, val_loss: float, unigram: float) -> bool:
    """A run fails when it diverges (a non-finite loss stops it) or ends no better than the
    unigram entropy: what predicting every character from its frequency alone, without the
    context, costs; a model that cannot beat it has learned nothing of the text's order."""
    return status == "diverged" or not val_loss < unigram


def run_one(task: RunTask) -> RunRecord:
    config, variant, depth, lr, seed = task.config, task.variant, task.depth, task.lr, task.seed
    warmup = task.warmup
    started = time.perf_counter()
    bundle = cached_text(config.data, config.data_dir, config.block_size, config.val_windows)
    device = resolve_device(config.device)
    batches = measurement_batches(bundle, config.batches, config.batch_size, device)
    torch.manual_seed(seed)
    model = build(config, variant, depth, bundle.num_classes, init=config.init).to(device)
    grads = ffn_grad_norms(model, batches)
    torch.manual_seed(seed)
    xavier = build(config, variant, depth, bundle.num_classes, init="xavier").to(device)
    xavier_grads = ffn_grad_norms(xavier, batches)
    result = fit(model, bundle, train_config(config, lr, warmup, seed), device=config.device)
    loss = result.final.get("test_loss", math.nan)
    if result.status == "diverged" or not math.isfinite(loss):
        loss = math.log(bundle.num_classes)  # a diverged net counts as a uniform guess
    unigram = unigram_entropy(bundle.train.y, bundle.num_classes)  # type: ignore[union-attr]
    return RunRecord(
        variant=variant, depth=depth, lr=lr, warmup=warmup, seed=seed, val_loss=loss,
        failed=failed(result.status, loss, unigram), status=result.status,
        diverged_step=result.diverged_step, unigram=unigram, ffn_grad_init=grads,
        ffn_grad_xavier=xavier_grads,
        steps=[h["step"] for h in result.history],
        train_loss=[h["train_loss"] for h in result.history],
        wall_s=time.perf_counter() - started,
    )  # fmt: skip


def check(config: TransformerConfig) -> None:
    for name, values, accepted in (
        ("variants", config.variants, VARIANTS),
        ("lr_variants", config.lr_variants, VARIANTS),
    ):
        bad = [v for v in values if v not in accepted]
        if bad or not values:
            raise ValueError(f"{name}={values!r}: {bad or 'none'}; accepted: {', '.join(VARIANTS)}")
    if "pre" not in config.variants:
        raise ValueError(f"variants={config.variants!r} must include 'pre', the reference")
    if not config.depths or min(config.depths) < 1 or not config.lrs or min(config.lrs) <= 0:
        raise ValueError(f"depths={config.depths} and lrs={config.lrs} must be non-empty, > 0")
    if config.init not in INITS:
        raise ValueError(f"init={config.init!r}; accepted: {', '.join(INITS)}")
    require_at_least_one(config, "n_embd", "n_head", "block_size", "batch_size", "batches")
    if config.n_embd % config.n_head:
        raise ValueError(f"n_embd={config.n_embd} is not divisible by n_head={config.n_head}")
    if config.val_windows < 0 or not 0 < config.warmup < 1:
        raise ValueError(f"val_windows={config.val_windows} must be >= 0 and warmup="
                         f"{config.warmup} in (0, 1)")  # fmt: skip
    validate(train_config(config, config.lr, True, 0))


# -- summary and verdict --------------------------------------------------------------------------


def _group(records: Sequence[RunRecord]) -> dict[tuple[str, int, float, bool], list[RunRecord]]:
    out: dict[tuple[str, int, float, bool], list[RunRecord]] = {}
    for r in sorted(records, key=lambda r: r.seed):
        out.setdefault((r.variant, r.depth, r.lr, r.warmup), []).append(r)
    return out


def _row(variant: str, depth: int, lr: float, warmup: bool, runs: list[RunRecord]) -> dict:
    m, s = mean_std([r.val_loss for r in runs])
    return {
        "variant": variant, "depth": depth, "lr": lr, "warmup": warmup, "seeds": len(runs),
        "val_loss_mean": m, "val_loss_std": s, "val_loss_per_seed": [r.val_loss for r in runs],
        "failed": sum(r.failed for r in runs),
        "diverged": sum(r.status == "diverged" for r in runs),
        "paper_xiong_bleu_iwslt14": XIONG_BLEU[warmup] if variant == "post" else None,
        "paper_nanogpt_val_loss": NANOGPT_VAL_LOSS if variant == "pre" and depth == 6 else None,
    }  # fmt: skip


def grad_rows(
    config: TransformerConfig, records: Sequence[RunRecord], field: str = "ffn_grad_init"
) -> list[dict[str, Any]]:
    """Per variant and depth, the FFN weight-gradient norms at init (geometric mean over seeds)
    of the record's ``field``: the trained nets' init, or Xavier's."""
    rows = []
    for v in config.variants:
        for d in config.depths:
            runs = [r for r in records if (r.variant, r.depth, r.lr, r.warmup) ==
                    (v, d, config.lr, True)]  # fmt: skip
            if not runs:
                continue
            per_layer = np.exp(np.mean(np.log([getattr(r, field) for r in runs]), axis=0))
            rows.append({"variant": v, "depth": d, "per_layer": per_layer.tolist(),
                         "first": float(per_layer[0]), "last": float(per_layer[-1])})  # fmt: skip
    return rows


def slopes(grads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The least-squares slope of log ||dL/dW_FFN|| of the last layer against log depth: Xiong et
    al.'s -1/2 for pre-LN, 0 for post-LN."""
    out = []
    for v in dict.fromkeys(g["variant"] for g in grads):
        pts = [(g["depth"], g["last"]) for g in grads if g["variant"] == v]
        if len(pts) < 2:
            continue
        slope = float(np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0])
        out.append({"variant": v, "last_layer_slope": slope, "paper_slope": PAPER_SLOPE.get(v)})
    return out


def summarize(config: TransformerConfig, records: list[RunRecord]) -> Summary:
    groups = _group(records)
    deepest = max(config.depths)
    depth_rows = [_row(*key, groups[key]) for key in groups if key[2] == config.lr]
    lr_rows = [_row(*key, groups[key]) for key in groups if key[1] == deepest]
    grads = grad_rows(config, records)
    xavier = grad_rows(config, records, "ffn_grad_xavier")
    return {
        "depth_sweep": sorted(
            depth_rows, key=lambda r: (r["variant"], not r["warmup"], r["depth"])
        ),
        "lr_grid": sorted(lr_rows, key=lambda r: (r["variant"], not r["warmup"], r["lr"])),
        "grad_init": [{k: v for k, v in g.items() if k != "per_layer"} for g in grads],
        "grad_slopes": slopes(grads),
        "grad_profiles": {f"{g['variant']}-L{g['depth']}": g["per_layer"] for g in grads},
        "grad_slopes_xavier": slopes(xavier),
        "grad_profiles_xavier": {f"{g['variant']}-L{g['depth']}": g["per_layer"] for g in xavier},
        "unigram_entropy": records[0].unigram if records else None,
        "paper": [
            {
                "source": "Xiong et al. 2020, Fig. 2 (IWSLT14 De-En, post-LN, BLEU)",
                "with_warmup": XIONG_BLEU[True],
                "without_warmup": XIONG_BLEU[False],
            },
            {
                "source": "nanoGPT README (baby GPT, pre-LN, 6 layers, val loss nats/char)",
                "with_warmup": NANOGPT_VAL_LOSS,
                "without_warmup": None,
            },
        ],
    }


def _cell(summary: Summary, **key: Any) -> dict[str, Any] | None:
    return next((r for t in ("depth_sweep", "lr_grid") for r in summary[t]
                 if all(r[k] == v for k, v in key.items())), None)  # fmt: skip


def worse_by(a: dict[str, Any] | None, b: dict[str, Any] | None, margin: bool = False) -> str:
    """Outcome of "cell ``a`` ends with a higher validation loss than cell ``b``" by
    ``stats.compare`` on the per-seed losses at ``THRESHOLDS["loss_gap"]`` (``margin``: "no
    lower than b by more than the gap", a non-inferiority claim); inconclusive without both."""
    if a is None or b is None:
        return "inconclusive"
    threshold = THRESHOLDS["loss_gap"]
    if margin:
        threshold = Threshold(absolute=threshold.absolute, margin=True)
    return compare(a["val_loss_per_seed"], b["val_loss_per_seed"], threshold=threshold).outcome


def _majority(outcomes: list[str]) -> str:
    """The outcome most of the grid's learning rates give; a tie is inconclusive."""
    for outcome in ("reproduced", "contradicted"):
        if sum(o == outcome for o in outcomes) > len(outcomes) / 2:
            return outcome
    return "inconclusive"


def _needs_warmup(summary: Summary, variant: str, deepest: int, lrs: Sequence[float]) -> str:
    """Without warm-up worse than with it, at the majority of the grid's learning rates."""
    return _majority([worse_by(_cell(summary, variant=variant, depth=deepest, lr=lr, warmup=False),
                               _cell(summary, variant=variant, depth=deepest, lr=lr, warmup=True))
                      for lr in lrs])  # fmt: skip


def _degrades(summary: Summary, variant: str, config: TransformerConfig, warmup: bool) -> str:
    """The deepest net ends worse than the best shallower one."""
    rows = [r for r in summary["depth_sweep"] if r["variant"] == variant and r["warmup"] == warmup]
    deep = [r for r in rows if r["depth"] == max(config.depths)]
    if not deep or len(rows) < 2:
        return "inconclusive"
    best = min((r for r in rows if r is not deep[0]), key=lambda r: r["val_loss_mean"])
    return worse_by(deep[0], best)


def _not(outcome: str) -> str:
    """The outcome of the opposite claim, where the claim is that something does *not* happen."""
    return {"reproduced": "contradicted", "contradicted": "reproduced"}.get(outcome, outcome)


def judge(config: TransformerConfig, summary: Summary) -> Verdict:
    """Three parts, each by ``stats`` on per-seed validation losses: (1) without skips the
    deepest net does not train; (2) post-LN needs warm-up and degrades with depth without it,
    pre-LN needs no warm-up; (3) DeepNorm without warm-up is no worse than pre-LN."""
    deepest, shallowest = max(config.depths), min(config.depths)
    numbers: dict[str, Any] = {"deepest": deepest, "unigram_entropy": summary["unigram_entropy"]}
    answers: list[str] = []
    parts: dict[str, str] = {}
    # (1) no skips: most seeds fail at the deepest depth (with warm-up), pre-LN fails none.
    plain = _cell(summary, variant="plain", depth=deepest, lr=config.lr, warmup=True)
    pre = _cell(summary, variant="pre", depth=deepest, lr=config.lr, warmup=True)
    if plain is not None and pre is not None:
        untrainable = plain["failed"] > plain["seeds"] / 2 and pre["failed"] == 0
        parts["no_skips_untrainable"] = ("reproduced" if untrainable else "contradicted"
                                         if plain["failed"] == 0 else "inconclusive")  # fmt: skip
        shallow = _cell(summary, variant="plain", depth=shallowest, lr=config.lr, warmup=True)
        numbers.update(plain_deep_failed=plain["failed"], plain_deep_loss=plain["val_loss_mean"],
                       plain_shallow_loss=shallow and shallow["val_loss_mean"],
                       pre_deep_loss=pre["val_loss_mean"])  # fmt: skip
        trains = _word(parts["no_skips_untrainable"], "untrainable", "still trainable")
        answers.append(
            f"(1) no skips {trains} at {deepest} layers: {plain['failed']}/{plain['seeds']} "
            f"failed, loss {plain['val_loss_mean']:.2f} vs pre-LN {pre['val_loss_mean']:.2f}"
        )
    # (2) post-LN needs warm-up and degrades with depth without it; pre-LN needs no warm-up.
    variants = ("pre", "post", "deepnorm")
    needs = {v: _needs_warmup(summary, v, deepest, config.lrs) for v in variants}
    degrade = {v: _degrades(summary, v, config, False) for v in variants}
    numbers.update(needs_warmup=needs, degrades_without_warmup=degrade)
    parts["post_needs_warmup"] = combine([needs["post"], degrade["post"]])
    warm_pre = _cell(summary, variant="pre", depth=deepest, lr=config.lr, warmup=True)
    cold_pre = _cell(summary, variant="pre", depth=deepest, lr=config.lr, warmup=False)
    parts["pre_needs_none"] = worse_by(warm_pre, cold_pre, margin=True)
    answers.append(
        f"(2) post-LN {_word(needs['post'], 'needs', 'does not need')} warm-up "
        f"({_word(degrade['post'], 'degrades', 'does not degrade')} with depth without it), pre-LN "
        f"{_word(_not(parts['pre_needs_none']), 'needs', 'does not need')} it"
    )
    # (3) DeepNorm without warm-up at the deepest depth: no worse than pre-LN by the gap.
    nowarm = {v: _cell(summary, variant=v, depth=deepest, lr=config.lr, warmup=False)
              for v in variants}  # fmt: skip
    parts["deepnorm_closes"] = worse_by(nowarm["pre"], nowarm["deepnorm"], margin=True)
    if all(nowarm.values()):
        gap = {v: nowarm[v]["val_loss_mean"] - nowarm["pre"]["val_loss_mean"]  # type: ignore[index]
               for v in ("post", "deepnorm")}  # fmt: skip
        numbers.update(post_minus_pre_nowarm=gap["post"], deepnorm_minus_pre_nowarm=gap["deepnorm"])
        closes = _word(parts["deepnorm_closes"], "closes", "does not close")
        answers.append(
            f"(3) DeepNorm {closes} the gap without warm-up: "
            f"{gap['deepnorm']:+.3f} nats vs pre-LN (post-LN {gap['post']:+.3f})"
        )
    numbers["parts"] = parts
    return Verdict.of(parts, "; ".join(answers) or "no comparable runs", numbers)


def _word(outcome: str, yes: str, no: str) -> str:
    return {"reproduced": yes, "contradicted": no}.get(outcome, f"maybe {yes}")


def arrays(config: TransformerConfig, records: list[RunRecord]) -> dict[str, np.ndarray]:
    return {
        RunTask.key_of(r):
        np.array([r.steps, r.train_loss], dtype=float) for r in records
    }  # fmt: skip


EXPERIMENT = register(
    define(
        __name__,
        name="transformer",
        title="Residual Transformer: pre-LN, post-LN, DeepNorm, no skips",
        claim="post-LN needs warm-up and degrades with depth, pre-LN and DeepNorm do not, and "
        "without skips a deep Transformer does not train",
        paper="Xiong et al. 2020, Fig. 2-3; Wang et al. 2022 (DeepNet); Vaswani et al. 2017",
        record=RunRecord,
        run_task=run_one,
        quick_time="4.5 min",
    )
)
