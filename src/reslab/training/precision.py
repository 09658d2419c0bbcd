"""Device choice and mixed precision: autocast contexts and the fp16 gradient scaler."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from reslab.training.errors import ConfigError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device, local_rank: int = 0) -> torch.device:
    """ "auto": the CUDA device of this rank if there is one, else the CPU."""
    if str(device) == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ConfigError(
            f"device={device!r} is unknown; accepted: auto, cpu, cuda, cuda:N"
        ) from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but CUDA is not available here; use cpu or auto")
        if chosen.index is None:
            chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    elif chosen.type != "cpu":
        raise ConfigError(f"device={device!r} is not supported; accepted: auto, cpu, cuda, cuda:N")
    return chosen


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r} is unknown; accepted: {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        # fp16 autocast on CPU runs, but CPUs have no fast fp16 kernels and the loss-scaling it
        # needs buys nothing there; bf16 has fp32's range and needs no scaler.
        raise ConfigError("precision='fp16' is for CUDA devices; on the CPU use 'bf16' or 'fp32'")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    dtype = PRECISIONS[precision]
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    # fp16's narrow exponent range underflows small gradients unless the loss is scaled
    # (Micikevicius et al. 2018, 3.2); bf16 shares fp32's range and needs no scaling.
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None
