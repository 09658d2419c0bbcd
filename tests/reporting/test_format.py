from __future__ import annotations

import numpy as np
import pytest

from reslab.reporting import MeanStd, format_mean_std, format_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (7.51, "7.51"),
        (12345.678, "12346"),
        (0.012345, "0.01235"),
        (1e-5, "1.000e-05"),
        (123456789.0, "1.235e+08"),
        (0.0, "0"),
        (1001, "1001"),
        (np.int64(56), "56"),
        (np.float32(0.25), "0.25"),
        (float("nan"), "nan"),
        (float("-inf"), "−∞"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("mean", "std", "text"),
    [
        (1.734, 0.31, "1.7 ± 0.3"),  # the brief's example
        (1.734, 0.15, "1.73 ± 0.15"),  # a leading 1 keeps two digits
        (6.97, 0.096, "6.97 ± 0.10"),  # 0.096 rounds up to 0.10, still two digits
        (12345.0, 340.0, "12300 ± 300"),
        (93.27, 0.0, "93.27 ± 0"),
        (float("nan"), 0.1, "nan ± 0.1"),
    ],
)
def test_format_mean_std(mean, std, text):
    assert format_mean_std(mean, std) == text


def test_mean_std_from_samples_uses_sample_std():
    ms = MeanStd.from_samples([6.0, 7.0, 8.0])
    assert (ms.mean, ms.std, ms.n) == (7.0, 1.0, 3)
    assert MeanStd.from_samples([5.0]).std == 0.0
    with pytest.raises(ValueError, match="no values"):
        MeanStd.from_samples([])
