"""Numbers as a reader wants them in a table: a few significant digits, mean ± std over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MeanStd:
    """A mean and a standard deviation over `n` runs (seeds)."""

    mean: float
    std: float
    n: int | None = None

    @classmethod
    def from_samples(cls, values: Sequence[float] | np.ndarray) -> MeanStd:
        arr = np.asarray(values, dtype=np.float64).ravel()
        if arr.size == 0:
            raise ValueError("MeanStd.from_samples got no values; accepted: one or more numbers")
        # Sample std (ddof=1) over seeds, as airbench reports it; a single run has no spread.
        std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        return cls(float(arr.mean()), std, int(arr.size))


def format_number(x: float, digits: int = 4) -> str:
    """`digits` significant digits, no exponent between 1e-3 and 1e6, trailing zeros dropped."""
    if isinstance(x, Integral) and not isinstance(x, bool):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    exponent = math.floor(math.log10(abs(x)))
    if -3 <= exponent < 6:
        text = f"{x:.{max(0, digits - 1 - exponent)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{x:.{digits - 1}e}"


def format_mean_std(mean: float, std: float) -> str:
    """Round the std to 1 significant digit (2 when it starts with a 1), the mean to match.

    This is the usual metrology convention (a simplified Particle Data Group rule): the std
    says how many of the mean's digits mean anything. Numbers of magnitude (the larger of |mean|
    and std) from 1e5 up or below 1e-3 share one exponent: 7.3e7 ± 2e5 is "(7.30 ± 0.02)e+07",
    not "73000000 ± 200000".
    """
    mean, std = float(mean), float(std)
    if not math.isfinite(mean) or not math.isfinite(std) or std <= 0:
        return f"{format_number(mean)} ± {format_number(std)}"
    scale = max(abs(mean), std)
    if 1e-3 <= scale < 1e5:
        return _fixed_mean_std(mean, std)
    exponent = math.floor(math.log10(scale))
    text = _fixed_mean_std(mean / 10.0**exponent, std / 10.0**exponent)
    if any(part.lstrip("-").startswith("10") for part in text.split(" ± ")):
        exponent += 1  # 9.996 rounded up to 10.00: one power of ten more
        text = _fixed_mean_std(mean / 10.0**exponent, std / 10.0**exponent)
    return f"({text})e{exponent:+03d}"


def _fixed_mean_std(mean: float, std: float) -> str:
    lead = math.floor(math.log10(std))
    if round(std, -lead) >= 10 ** (lead + 1):  # 0.96 rounds to 1.0: one digit more to the left
        lead += 1
    sig = 2 if int(round(std, -lead) / 10**lead) == 1 else 1
    place = lead - (sig - 1)  # decimal position of the last kept digit
    decimals = max(0, -place)
    return f"{round(mean, -place):.{decimals}f} ± {round(std, -place):.{decimals}f}"


def as_mean_std(value: Any) -> MeanStd | None:
    """MeanStd, a (mean, std) tuple, or a list/array of per-seed samples; else None."""
    if isinstance(value, MeanStd):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(_is_number(v) for v in value):
        return MeanStd(float(value[0]), float(value[1]))
    if isinstance(value, (list, np.ndarray)) and len(value) > 0:
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return MeanStd.from_samples(arr)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (Real, np.number)) and not isinstance(value, bool)


def is_numeric(value: Any) -> bool:
    return _is_number(value) or as_mean_std(value) is not None


def format_value(value: Any) -> str:
    """Plain text for one table cell (escaping is the caller's job)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):
        return format_number(value.item() if isinstance(value, np.generic) else value)
    ms = as_mean_std(value)
    if ms is not None:
        return format_mean_std(ms.mean, ms.std)
    return str(value)


def sort_key(value: Any) -> float | None:
    """The number a cell is ranked by when a column is highlighted (a mean for mean ± std)."""
    if _is_number(value):
        key = float(value)
    else:
        ms = as_mean_std(value)
        key = ms.mean if ms is not None else math.nan
    return None if math.isnan(key) else key
