"""What every loader shares: its errors, reading a weights file, renaming keys by rules, and
filling a model built on the meta device with the renamed tensors (strictly: every key used)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Wrappers that prefix every key: torch.compile's OptimizedModule, DDP/DataParallel.
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


class PretrainedError(ValueError):
    """A source that cannot be loaded as asked; the message is one line naming the path, key or
    config field at fault and what is accepted."""


class UnmappedKeyError(PretrainedError):
    """A tensor of the source has no place in reslab's model (a layout reslab cannot express)."""


class UnsupportedConfigError(PretrainedError):
    """A config field has a value reslab's model cannot express."""


@dataclass(frozen=True)
class PretrainedInfo:
    """Where a loaded model came from and how its inputs must be prepared (ImageNet nets: the
    normalisation and resize/crop their weights were trained with; None where not applicable)."""

    source: str
    family: str  # nanogpt, gpt2, timm, torchvision, state_dict
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | None = None  # shorter side before the centre crop
    crop: int | None = None
    classes: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if self.classes is not None:
            out["classes"] = len(self.classes)  # the count; 1000 names add nothing to a report
        return out


# ImageNet's channel statistics, which torchvision's and timm's ResNets are trained with.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def existing(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise PretrainedError(f"no {what} at {path}")
    return path


def read_state_file(path: str | Path) -> Any:
    """A ``.safetensors`` file as a dict of tensors, anything else through ``torch.load`` with
    ``weights_only=True`` (tensors and plain containers only: a checkpoint cannot run code)."""
    path = existing(path, "weights file")
    if path.is_dir():
        raise PretrainedError(f"{path} is a folder; accepted: a weights file (.pt, .pth, .bin, "
                              ".safetensors)")  # fmt: skip
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and safetensors all raise their own types
        raise PretrainedError(f"cannot read {path}: {_one_line(err)}") from None


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def strip_prefixes(state: Mapping[str, Any]) -> dict[str, Any]:
    """Keys without the prefixes a compiled or data-parallel model adds (``_orig_mod.``)."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


Rule = tuple[str, str]  # (regular expression matching a source key, reslab key template)


def remap(
    state: Mapping[str, torch.Tensor], rules: Sequence[Rule], *, ignore: Sequence[str] = (),
    source: str,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Each source key renamed by the first rule whose pattern matches all of it; keys matching
    ``ignore`` are dropped (buffers the source recomputes, e.g. GPT-2's causal mask). A key no
    rule matches is refused: silently dropping a tensor would give a different model."""
    compiled = [(re.compile(p), t) for p, t in rules]
    skipped = [re.compile(p) for p in ignore]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if any(p.fullmatch(key) for p in skipped):
            continue
        for pattern, template in compiled:
            match = pattern.fullmatch(key)
            if match:
                out[match.expand(template)] = value
                break
        else:
            raise UnmappedKeyError(f"{source}: key {key!r} has no place in reslab's model")
    return out


def fill(
    build: Callable[[], nn.Module], state: Mapping[str, torch.Tensor], source: str, *,
    copy: bool = True,
) -> nn.Module:  # fmt: skip
    """``build()`` on the meta device (no memory, no random init), then every tensor assigned
    from ``state`` as float32 (integer buffers keep their type), contiguous. ``copy=False`` for
    tensors just read from a file, which nothing else holds: only those that must change (a
    transposed view, another dtype) are copied. Strict both ways: a reslab key the source lacks
    or a source key reslab lacks is refused by name."""
    with torch.device("meta"):
        model = build()
    expected = model.state_dict()
    state = dict(state)
    for key in expected:
        # BN's step counter postdates many published checkpoints (torchvision's DenseNets);
        # BatchNorm itself fills it with 0 when loading such a file, and so do we.
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.tensor(0, dtype=torch.long)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        what = f"lacks {missing[0]!r}" if missing else f"has {extra[0]!r}, which reslab lacks"
        more = len(missing) + len(extra) - 1
        raise UnmappedKeyError(f"{source}: the checkpoint {what}" + (f" (and {more} more key"
                               f"{'s' if more > 1 else ''})" if more else ""))  # fmt: skip
    tensors = {}
    for key, target in expected.items():
        value = state[key]
        if tuple(value.shape) != tuple(target.shape):
            raise UnmappedKeyError(
                f"{source}: {key!r} has shape {tuple(value.shape)}; reslab's model needs "
                f"{tuple(target.shape)}"
            )
        dtype = torch.float32 if target.dtype.is_floating_point else target.dtype
        t = value.detach()
        if t.dtype != dtype:
            t = t.to(dtype)  # a new tensor
        elif copy:  # an in-memory source: the model must never share memory with it
            t = t.clone(memory_format=torch.contiguous_format)
        tensors[key] = t.contiguous()
    model.load_state_dict(tensors, strict=True, assign=True)
    return model


def attach(model: nn.Module, info: PretrainedInfo) -> nn.Module:
    # A plain attribute, not a buffer: it never enters the state dict.
    model.pretrained_info = info  # type: ignore[assignment]
    return model.eval()
