"""Statistics of one parameter snapshot over a batch of images, for the Activations
panel: per activation layer, the pre-activation histogram, the activation function
and its derivative over the same x range, and the dead / saturated unit fractions.

NumPy over taps that ``Inspector.run_batch`` already computed; no Qt, no JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convscope.config import ArchSpec
from convscope.probes.activations import activation_curve, activation_layers, histogram, unit_stats

HIST_BINS = 60
HIST_SAMPLE = 200_000  # histograms and ranges of bigger layers use a fixed random sample
MIN_CURVE_HALF_WIDTH = 3.0  # the activation curves always show at least x ∈ [−3, 3]


@dataclass(frozen=True)
class LayerStats:
    """One activation layer over the validation batch."""

    pre: str  # pre-activation tap ("conv1", "bn1", "dense1")
    act: str  # activation tap ("act1", "dense1_act")
    edges: np.ndarray  # histogram bin edges (bins + 1,); also the curves' x range
    percent: np.ndarray  # (bins,) % of all the batch's values in each bin
    x: np.ndarray  # activation curve sample points
    f: np.ndarray  # activation(x)
    df: np.ndarray  # its derivative
    dead: float  # fraction of units never positive on the batch
    saturated: float  # fraction of units saturated on > 99% of their inputs


@dataclass(frozen=True)
class BatchStats:
    """Statistics of one snapshot over a fixed batch of validation images."""

    step: int
    arch: ArchSpec
    images: int
    layers: dict[str, LayerStats]  # keyed by activation tap, forward order



def sample_values(values: np.ndarray, n: int = HIST_SAMPLE) -> np.ndarray:
    """At most ``n`` of the finite values, drawn at fixed random positions: a histogram
    of 6 million conv outputs costs 0.2 s, of a 200k sample 5 ms and looks the same.
    (A regular stride would alias with the channel axis and sample one channel.)"""
    v = np.asarray(values, np.float32).ravel()
    if v.size > n:
        v = v[np.random.default_rng(0).integers(0, v.size, n)]
    return v[np.isfinite(v)]


def value_range(values: np.ndarray, tail: float = 0.5) -> tuple[float, float]:
    """The x range for curves and histograms: the central (100 − 2·tail)% of the
    values (so one outlier does not squash the picture), at least [−3, 3]."""
    v = sample_values(values)
    lo, hi = np.percentile(v, [tail, 100.0 - tail]) if v.size else (0.0, 0.0)
    return min(float(lo), -MIN_CURVE_HALF_WIDTH), max(float(hi), MIN_CURVE_HALF_WIDTH)


def batch_stats(arch: ArchSpec, step: int, taps: dict[str, np.ndarray], images: int) -> BatchStats:
    """Histograms, curves and dead/saturated fractions from batched pre-activations."""
    units = unit_stats(arch, taps)
    layers: dict[str, LayerStats] = {}
    for pre, act in activation_layers(arch):
        if pre not in taps:
            continue
        values = sample_values(taps[pre])
        lo, hi = value_range(values)
        counts, edges = histogram(values, bins=HIST_BINS, range_=(lo, hi))
        percent = 100.0 * counts / max(values.size, 1)  # of all values, outside the range too
        x = np.linspace(lo, hi, 301, dtype=np.float32)
        f, df = activation_curve(arch.activation, x)
        stats = units.get(act)
        layers[act] = LayerStats(
            pre,
            act,
            edges,
            percent,
            x,
            f,
            df,
            stats.dead_fraction if stats else 0.0,
            stats.saturated_fraction if stats else 0.0,
        )
    return BatchStats(step, arch, images, layers)
