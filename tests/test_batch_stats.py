"""Batch statistics for the Activations panel, on hand-built taps."""

from __future__ import annotations

import numpy as np

from convscope.config import ArchSpec, ConvLayer
from convscope.probes.batch_stats import HIST_BINS, MIN_CURVE_HALF_WIDTH, batch_stats, value_range

ARCH = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(2,))


def test_dead_units_histogram_and_curves_from_hand_built_taps():
    rng = np.random.default_rng(0)
    conv1 = rng.normal(size=(8, 28, 28, 4)).astype(np.float32)
    conv1[..., 1] = -np.abs(conv1[..., 1])  # channel 1 never positive: dead
    conv1[..., 3] = -1.0  # channel 3 too
    dense1 = np.abs(rng.normal(size=(8, 2))).astype(np.float32) + 0.1  # both alive
    stats = batch_stats(ARCH, 7, {"conv1": conv1, "dense1": dense1}, images=8)
    assert stats.step == 7 and stats.images == 8 and list(stats.layers) == ["act1", "dense1_act"]
    act1 = stats.layers["act1"]
    assert act1.pre == "conv1" and act1.dead == 0.5 and act1.saturated == 0.0
    assert stats.layers["dense1_act"].dead == 0.0
    assert act1.percent.shape == (HIST_BINS,) and act1.edges.shape == (HIST_BINS + 1,)
    assert 99.0 < act1.percent.sum() <= 100.0 + 1e-6  # nearly all values inside the range
    np.testing.assert_allclose(act1.f, np.maximum(act1.x, 0.0))
    np.testing.assert_allclose(act1.df[act1.x > 0.01], 1.0)
    np.testing.assert_allclose(act1.df[act1.x < -0.01], 0.0)


def test_value_range_covers_at_least_the_minimum_and_ignores_outliers():
    assert value_range(np.zeros(10)) == (-MIN_CURVE_HALF_WIDTH, MIN_CURVE_HALF_WIDTH)
    v = np.concatenate([np.linspace(-10, 10, 10_000), [1e6]])
    lo, hi = value_range(v)
    assert -10 <= lo < -9 and 9 < hi <= 10
