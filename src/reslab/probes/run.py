"""One probe on one trained model and one dataset, for ``reslab probe``: the glue between a loaded
model (``reslab.models.pretrained``), its data and the measurements of this package. A
measurement, not a claim: the result holds numbers and never a verdict.

- ``gradients``: per residual block, ||dL/dx_l||, ||dL/dtheta_l|| and ||x_l|| (``gradients.py``).
- ``lesion``: the loss and error with each block deleted on its own, y = act(shortcut(x)) (Veit
  et al. 2016, section 4.1, Fig. 3; ``lesions.py``); for a GPT each attention and MLP sub-layer.
- ``responses``: the std of each 3x3 conv's BN output (He et al. 2015, 4.2, Fig. 7;
  ``responses.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Subset

from reslab.data import DataBundle, Split, load_data, make_loader
from reslab.data.evalfolder import load_eval_folder
from reslab.data.load import IMAGEFOLDER
from reslab.models.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedInfo,
    load_pretrained,
)
from reslab.probes.gradients import block_gradient_norms
from reslab.probes.lesions import lesionable, lesioned
from reslab.probes.responses import layer_responses, response_layers
from reslab.training import objective
from reslab.training.checkpoint import FORMAT as CHECKPOINT_FORMAT

PROBES: tuple[str, ...] = ("gradients", "lesion", "responses")
Batches = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class ProbeResult:
    """``rows``: one dict per block (per 3x3 layer for ``responses``), keyed by ``columns``;
    ``plot``: the columns the report draws against the row index; ``intact``: the unlesioned
    model's loss and error (``lesion``)."""

    probe: str
    columns: list[str]
    rows: list[dict[str, Any]]
    plot: list[str]
    samples: int
    intact: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_probe(kind: str) -> str:
    if kind not in PROBES:
        raise ValueError(f"probe={kind!r} is unknown; accepted: {', '.join(PROBES)}")
    return kind


def load_model(source: str | None = None, model_file: str | Path | None = None) -> nn.Module:
    """The model a probe runs on: ``source`` (``load_pretrained``'s formats; a timm name takes
    ``model_file`` as its weights) or ``model_file`` alone (told apart by its content). Dropout is
    switched off: the gradient probe runs in train mode, and must not measure a random mask."""
    if source is None and model_file is None:
        raise ValueError("no model: give a source (e.g. resnet50:IMAGENET1K_V2) or a model file")
    if model_file is not None and _is_reslab_checkpoint(Path(model_file)):
        raise ValueError(
            f"{model_file} is a reslab training checkpoint; accepted here: other code's models "
            "(nanoGPT, GPT-2, timm, torchvision). `reslab eval` evaluates it, and `reslab run "
            "gradients|lesion` train and probe reslab's own nets"
        )
    if source is not None and model_file is not None:
        if not source.startswith("timm:"):
            raise ValueError(f"a model file goes with a timm:ARCH source only; got {source!r}")
        model = load_pretrained(source, model_file=model_file)
    else:
        model = load_pretrained(source if source is not None else Path(model_file))  # type: ignore[arg-type]
    return without_dropout(model)


def _is_reslab_checkpoint(path: Path) -> bool:
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (OSError, ValueError, RuntimeError):  # unreadable: the loader says why
        return False
    return meta.get("format") == CHECKPOINT_FORMAT


def without_dropout(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "dropout", None), float):  # GPT's attention dropout rate
            module.dropout = 0.0
    return model


def load_probe_data(
    spec: str, model: nn.Module, *, data_dir: str | Path | None = None
) -> DataBundle:
    """The dataset ``spec`` (``load_data``'s names) as ``model`` takes it: text in windows of the
    model's context; images normalised with the model's weights' statistics where it has them;
    ``imagefolder:PATH`` without ``train/`` as one evaluation folder resized and cropped as the
    weights expect (ImageNet's 256/224 where they say nothing)."""
    info: PretrainedInfo | None = getattr(model, "pretrained_info", None)
    mean = info.mean if info and info.mean else None
    std = info.std if info and info.std else None
    if spec.startswith(IMAGEFOLDER) and not (Path(spec[len(IMAGEFOLDER) :]) / "train").is_dir():
        return load_eval_folder(
            spec[len(IMAGEFOLDER) :], resize=(info.resize if info else None) or 256,
            crop=(info.crop if info else None) or 224, mean=mean or IMAGENET_MEAN,
            std=std or IMAGENET_STD,
        )  # fmt: skip
    if getattr(model, "dims", 2) == 0:  # token ids: windows as long as the model's context
        bundle = load_data(spec, data_dir=data_dir, block_size=model.block_size)
        vocab = model.lm_head.out_features
        if bundle.dims != 0 or bundle.num_classes > vocab:
            raise ValueError(
                f"data={spec!r} ({bundle.num_classes} classes) does not fit a language model of "
                f"vocabulary {vocab}; accepted: text with at most {vocab} distinct tokens"
            )
        return bundle
    bundle = load_data(spec, data_dir=data_dir)
    dims = getattr(model, "dims", 2)
    if bundle.dims != dims:
        kinds = {0: "token ids", 1: "sequences", 2: "images"}
        raise ValueError(
            f"data={spec!r} holds {kinds[bundle.dims]} but the model takes {kinds.get(dims, dims)}"
            f"; accepted: a dataset of {kinds.get(dims, dims)}"
        )
    return replace(bundle, mean=mean, std=std) if mean and std else bundle


def probe_batches(
    bundle: DataBundle, *, split: str = "test", samples: int, batch_size: int,
    device: torch.device | str = "cpu",
) -> Batches:  # fmt: skip
    """``samples`` samples of ``split`` spread evenly over it (folders are sorted by class, so the
    first N would be one class), in batches of ``batch_size``, unaugmented, on ``device``."""
    if samples < 1 or batch_size < 1:
        raise ValueError(f"samples={samples} and batch_size={batch_size} must be >= 1")
    data = bundle.split(split)
    size = len(data)  # type: ignore[arg-type]
    if samples > size:
        raise ValueError(f"samples={samples} but {bundle.name} {split} has {size}; "
                         f"accepted: samples <= {size}")  # fmt: skip
    index = torch.linspace(0, size - 1, samples).round().long().unique()
    part = data.subset(index) if isinstance(data, Split) else Subset(data, index.tolist())
    chosen = replace(bundle, test=part)
    loader = make_loader(chosen, "test", batch_size=batch_size, train=False, device=device)
    return list(islice(loader, len(loader)))


def probe_model(kind: str, model: nn.Module, batches: Batches) -> ProbeResult:
    """Run probe ``kind`` (see ``PROBES``) on ``model`` over ``batches``."""
    check_probe(kind)
    if kind != "responses" and not getattr(model, "blocks", None):
        raise ValueError(
            f"{type(model).__name__} has no residual blocks (model.blocks) to {kind}; accepted: "
            "ResNets, DenseNets, GPTs"
        )
    samples = sum(len(y) for _, y in batches)
    if kind == "gradients":
        return _gradients(model, batches, samples)
    if kind == "lesion":
        return _lesion(model, batches, samples)
    return _responses(model, batches, samples)


def block_names(model: nn.Module) -> list[str]:
    """Each block's module path (``layer2.0``); a GPT's sub-layers as ``h.3.attn`` / ``h.3.mlp``."""
    names = {id(m): name for name, m in model.named_modules()}
    out = []
    for block in model.blocks:
        name = names[id(block)]
        if getattr(model, "dims", None) == 0 and name.startswith("h."):
            layer, part = name.split(".")[1:3]
            name = f"h.{layer}.{'attn' if part == '0' else 'mlp'}"
        out.append(name)
    return out


def _gradients(model: nn.Module, batches: Batches, samples: int) -> ProbeResult:
    # Full batches only: the norms are means over batches of batch-summed quantities.
    size = len(batches[0][1])
    full = [(x, y) for x, y in batches if len(y) == size]
    norms = block_gradient_norms(model, full)
    rows = [
        {"block": i, "name": name, **{part: float(norms[part][i]) for part in norms}}
        for i, name in enumerate(block_names(model))
    ]
    columns = ["block", "name", "input", "weight", "activation"]
    return ProbeResult("gradients", columns, rows, ["input", "weight"], size * len(full))


def _lesion(model: nn.Module, batches: Batches, samples: int) -> ProbeResult:
    intact = _loss_and_err(model, batches)
    rows = []
    for i, (block, name) in enumerate(zip(model.blocks, block_names(model), strict=True)):
        shape = bool(getattr(block, "changes_shape", False))
        row: dict[str, Any] = {"block": i, "name": name, "changes_shape": shape}
        if lesionable(block):
            with lesioned(model, [i]):
                m = _loss_and_err(model, batches)
            row |= {**m, "loss_rise": m["loss"] - intact["loss"],
                    "err_rise": m["err"] - intact["err"], "skipped": False}  # fmt: skip
        else:  # a plain block that changes shape has no identity to fall back to
            row |= {"loss": None, "err": None, "loss_rise": None, "err_rise": None,
                    "skipped": True}  # fmt: skip
        rows.append(row)
    columns = ["block", "name", "changes_shape", "loss", "err", "loss_rise", "err_rise", "skipped"]
    plot = ["loss"] if getattr(model, "dims", None) == 0 else ["err"]
    return ProbeResult("lesion", columns, rows, plot, samples, intact)


def _responses(model: nn.Module, batches: Batches, samples: int) -> ProbeResult:
    if not hasattr(model, "conv1") or not hasattr(model, "blocks"):
        raise ValueError(
            f"responses need a convolutional ResNet with a BN after every 3x3 conv; got "
            f"{type(model).__name__}"
        )
    names = {id(m): name for name, m in model.named_modules()}
    layers = response_layers(model)
    stds = layer_responses(model, batches)
    rows = [{"layer": i, "name": names[id(m)], "std": s}
            for i, (m, s) in enumerate(zip(layers, stds, strict=True))]  # fmt: skip
    return ProbeResult("responses", ["layer", "name", "std"], rows, ["std"], samples)


def _loss_and_err(model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Mean cross-entropy (nats) and error (%) over every target of ``batches``, eval mode."""
    dim = objective.class_dim(model)
    was_training = model.training
    model.eval()
    loss = wrong = count = 0.0
    try:
        with torch.no_grad():
            for x, y in batches:
                logits = model(x)
                loss += objective.loss(logits, y, dim=dim, reduction="sum").item()
                w, n = objective.wrong_and_count(logits, y, dim=dim)
                wrong, count = wrong + w.item(), count + n.item()
    finally:
        model.train(was_training)
    return {"loss": loss / count, "err": 100 * wrong / count}
