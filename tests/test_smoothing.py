"""TensorBoard's debiased EMA against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convscope.viz.smoothing import ema_smooth


def test_debiased_ema_by_hand() -> None:
    # w = 0.5: last = 0.5, 1.25, 2.125; divided by 1 - 0.5^n = 0.5, 0.75, 0.875
    assert ema_smooth(np.array([1.0, 2.0, 3.0]), 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    # w = 0.9, two points: last = 0.4, 0.36 + 0.1·2 = 0.56; divided by 0.1, 0.19
    assert ema_smooth(np.array([4.0, 2.0]), 0.9) == pytest.approx([4.0, 0.56 / 0.19])


def test_non_finite_points_are_kept_and_skipped() -> None:
    out = ema_smooth(np.array([1.0, math.nan, 3.0, math.inf]), 0.5)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[3] == math.inf
    assert out[2] == pytest.approx((0.25 + 1.5) / 0.75)  # the NaN counted as no point at all


def test_weight_zero_and_constant_series_are_unchanged() -> None:
    y = np.array([3.0, 1.0, 2.0])
    assert np.array_equal(ema_smooth(y, 0.0), y)
    assert np.array_equal(ema_smooth(np.full(5, 0.3), 0.99), np.full(5, 0.3))
    assert ema_smooth(np.array([]), 0.6).size == 0


def test_weight_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ema_smooth(np.ones(3), 1.0)
