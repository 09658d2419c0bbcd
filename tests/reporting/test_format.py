from __future__ import annotations

import numpy as np
import pytest

from reslab.reporting import MeanStd, format_mean_std, format_number
from reslab.reporting._format import format_value


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
        # From 1e5 up and below 1e-3, mean and std share one exponent.
        (7.3e7, 2.1e5, "(7.30 ± 0.02)e+07"),
        (-7.3e7, 3.1e7, "(-7 ± 3)e+07"),
        (123456.0, 3400.0, "(1.23 ± 0.03)e+05"),
        (99999.0, 1.0, "99999.0 ± 1.0"),  # just below 1e5: fixed point
        (5e-7, 5e-7, "(5 ± 5)e-07"),
        (2.5e-4, 1.5e-5, "(2.50 ± 0.15)e-04"),
        (1e-3, 1e-5, "0.001000 ± 0.000010"),  # 1e-3 itself: fixed point
        (9.996e7, 2e5, "(1.000 ± 0.002)e+08"),  # rounds up to 10: the next power of ten
        (1e6, 9.6e6, "(0.1 ± 1.0)e+07"),  # the larger of the two sets the exponent
        (1e-4, 0.5, "0.0 ± 0.5"),  # a mean below the std's last digit: no exponent needed
        (7.3e7, 0.0, "7.300e+07 ± 0"),
    ],
)
def test_format_mean_std(mean, std, text):
    assert format_mean_std(mean, std) == text


def test_mean_std_cells_use_exponents_for_extreme_magnitudes():
    assert format_value(MeanStd(7.3e7, 2e5)) == "(7.30 ± 0.02)e+07"
    assert format_value([1e-6, 3e-6]) == "(2.0 ± 1.4)e-06"  # per-seed samples


def test_mean_std_from_samples_uses_sample_std():
    ms = MeanStd.from_samples([6.0, 7.0, 8.0])
    assert (ms.mean, ms.std, ms.n) == (7.0, 1.0, 3)
    assert MeanStd.from_samples([5.0]).std == 0.0
    with pytest.raises(ValueError, match="no values"):
        MeanStd.from_samples([])
