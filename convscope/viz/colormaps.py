"""Colour lookup tables for pyqtgraph's ``ImageItem.setLookupTable`` and PNG export.

``diverging_lut`` (blue – white – red, ColorBrewer RdBu reversed) is for signed values
drawn with symmetric levels (−m, m): zero is white. ``sequential_lut`` (viridis) is for
values of one sign. ``colorize`` applies a table the way pyqtgraph does, NaN becoming
transparent. NumPy only.
"""

from __future__ import annotations

import numpy as np

# ColorBrewer RdBu (11 classes), from negative (dark blue) to positive (dark red).
_DIVERGING = [
    (5, 48, 97),
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
    (103, 0, 31),
]
# viridis (matplotlib), sampled at 11 evenly spaced points.
_VIRIDIS = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
]


def _interpolate(anchors: list[tuple[int, int, int]], n: int) -> np.ndarray:
    if n < 2:
        raise ValueError(f"a lookup table needs at least 2 entries, got {n}")
    a = np.asarray(anchors, np.float64)
    pos = np.linspace(0.0, 1.0, len(a))
    t = np.linspace(0.0, 1.0, n)
    rgb = np.stack([np.interp(t, pos, a[:, i]) for i in range(3)], axis=1)
    lut = np.empty((n, 4), np.uint8)
    lut[:, :3] = np.clip(np.rint(rgb), 0, 255)
    lut[:, 3] = 255
    return lut


def diverging_lut(n: int = 256) -> np.ndarray:
    """(n, 4) uint8 RGBA, blue (low) – white (middle) – red (high)."""
    return _interpolate(_DIVERGING, n)


def sequential_lut(n: int = 256) -> np.ndarray:
    """(n, 4) uint8 RGBA, viridis: dark purple (low) to yellow (high)."""
    return _interpolate(_VIRIDIS, n)


def colorize(values: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    """Values (H, W) → (H, W, 4) uint8 RGBA through ``lut`` with ``levels`` (lo, hi);
    values outside are clipped, NaN is fully transparent."""
    v = np.asarray(values, np.float64)
    lo, hi = float(levels[0]), float(levels[1])
    span = hi - lo if hi > lo else 1.0
    n = lut.shape[0]
    nan = ~np.isfinite(v)
    t = np.clip((np.where(nan, lo, v) - lo) / span, 0.0, 1.0)
    idx = np.minimum((t * n).astype(np.int64), n - 1)
    out = np.asarray(lut, np.uint8)[idx]
    out[nan] = 0
    return out
