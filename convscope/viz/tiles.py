"""Mosaics of filters and feature maps, ready for a pyqtgraph ImageItem.

A mosaic is a float array whose gaps (``pad`` pixels between cells, and the unused
cells of the last row) are NaN, which pyqtgraph draws transparent. Cells are laid out
row by row; cell ``i`` of an ``(h, w)``-celled grid with ``cols`` columns starts at
``grid_position(i, (h, w), cols, pad)``, and ``cell_at`` inverts that for clicks. There
is no outer border: the mosaic is ``rows·h + (rows−1)·pad`` by ``cols·w + (cols−1)·pad``.

NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_SLICE_COLUMNS = 16  # up to this many input channels, each filter shows every slice


def default_cols(count: int) -> int:
    """Columns of a near-square grid of ``count`` cells (what ``cols=None`` means)."""
    return max(1, math.ceil(math.sqrt(max(count, 1))))


def grid_position(index: int, shape: tuple[int, int], cols: int, pad: int = 1) -> tuple[int, int]:
    """(row0, col0): the top-left pixel of cell ``index`` in the mosaic."""
    h, w = shape[0], shape[1]
    return (index // cols) * (h + pad), (index % cols) * (w + pad)


def cell_at(
    x: float, y: float, shape: tuple[int, int], cols: int, pad: int = 1, count: int | None = None
) -> int | None:
    """The cell under mosaic pixel coordinates (x = column, y = row), or None on a gap,
    outside the mosaic, or past the last of ``count`` cells."""
    if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
        return None
    h, w = shape[0], shape[1]
    px, py = int(math.floor(x)), int(math.floor(y))
    col, cx = divmod(px, w + pad)
    row, cy = divmod(py, h + pad)
    if cx >= w or cy >= h or col >= cols:
        return None
    index = row * cols + col
    if count is not None and index >= count:
        return None
    return index


def _mosaic(cells: np.ndarray, cols: int, pad: int) -> np.ndarray:
    """cells (N, h, w[, 3]) → NaN-padded mosaic, row by row."""
    if pad < 0:
        raise ValueError(f"pad must be ≥ 0, got {pad}")
    if cols < 1:
        raise ValueError(f"cols must be ≥ 1, got {cols}")
    n, h, w = cells.shape[:3]
    extra = cells.shape[3:]
    rows = max(1, math.ceil(n / cols))
    buf = np.full((rows * cols, h + pad, w + pad, *extra), np.nan, np.float32)
    buf[:n, :h, :w] = cells
    buf = buf.reshape(rows, cols, h + pad, w + pad, *extra).swapaxes(1, 2)
    buf = buf.reshape(rows * (h + pad), cols * (w + pad), *extra)
    return np.ascontiguousarray(buf[: rows * (h + pad) - pad, : cols * (w + pad) - pad])


def levels_of(values: np.ndarray) -> tuple[float, float]:
    """Display levels shared by all maps: (min, max) of the finite values, symmetric
    (−m, m) when they take both signs; a constant or empty input gets a width of 1."""
    v = np.asarray(values)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0 < hi:
        m = max(-lo, hi)
        return -m, m
    if hi <= lo:
        return (lo - 1.0, hi) if lo > 0 else (lo, hi + 1.0)
    return lo, hi


def map_grid(
    maps: np.ndarray, *, cols: int | None = None, pad: int = 1
) -> tuple[np.ndarray, tuple[float, float]]:
    """All C channels of ``maps`` (H, W, C) as one NaN-padded 2-D mosaic (float32) and
    the levels they share (see ``levels_of``). Channel i is cell i (row by row)."""
    maps = np.asarray(maps)
    if maps.ndim == 2:
        maps = maps[..., None]
    if maps.ndim != 3:
        raise ValueError(f"map_grid: expected maps of shape (H, W, C), got {maps.shape}")
    c = maps.shape[2]
    cols = default_cols(c) if cols is None else cols
    mosaic = _mosaic(np.moveaxis(maps, 2, 0).astype(np.float32, copy=False), cols, pad)
    return mosaic, levels_of(maps)


def vector_grid(values: np.ndarray, *, cols: int | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """A 1-D layer (dense units, logits) as a near-square block, one pixel per unit,
    row by row, NaN after the last unit; with ``levels_of`` levels."""
    v = np.asarray(values, np.float32).ravel()
    cols = default_cols(v.size) if cols is None else cols
    rows = max(1, math.ceil(v.size / cols))
    block = np.full(rows * cols, np.nan, np.float32)
    block[: v.size] = v
    return block.reshape(rows, cols), levels_of(v)


@dataclass(frozen=True)
class FilterLayout:
    """How ``tile_filters`` arranged a (F, F, D, K) kernel.

    kind "rgb": one colour cell per filter; "slices": row k holds filter k's D input
    slices (cell index k·D + d); "grid": one cell per filter, near-square (D == 1, or the
    norm-weighted mean over inputs when D > MAX_SLICE_COLUMNS).
    """

    kind: str
    rows: int
    cols: int
    cell: tuple[int, int]
    count: int


def filter_layout(w_shape: tuple[int, ...], *, color: bool | None = None) -> FilterLayout:
    if len(w_shape) != 4:
        raise ValueError(f"filters must have shape (F, F, D, K), got {tuple(w_shape)}")
    fh, fw, d, k = w_shape
    if color is None:
        color = d == 3
    if color:
        if d != 3:
            raise ValueError(f"color filters need 3 input channels, got {d}")
        cols = default_cols(k)
        return FilterLayout("rgb", math.ceil(k / cols), cols, (fh, fw), k)
    if 1 < d <= MAX_SLICE_COLUMNS:
        return FilterLayout("slices", k, d, (fh, fw), k * d)
    cols = default_cols(k)
    return FilterLayout("grid", math.ceil(k / cols), cols, (fh, fw), k)


def tile_filters(w: np.ndarray, *, color: bool | None = None, pad: int = 1) -> tuple[np.ndarray, float]:
    """A conv kernel (F, F, D, K) as a NaN-padded mosaic and its symmetric level m.

    * ``color`` (default: D == 3, the first layer of an RGB model): one RGB cell per
      filter, (H, W, 3) in 0..1, mapped symmetrically as ``0.5 + w / (2m)`` so 0.5 is
      zero; NaN gaps.
    * 1 < D ≤ 16: K rows × D columns, cell (k, d) = ``w[:, :, d, k]``, raw values.
    * D == 1: one cell per filter in a near-square grid, raw values.
    * D > 16: one cell per filter, the mean of its input slices weighted by each
      slice's L2 norm (the slices that matter most dominate), near-square grid.

    m is the largest |value| shown (= max |w| except in the weighted-mean view); draw
    levels (−m, m) with a diverging colormap. All-zero weights give m = 1.
    """
    w = np.asarray(w, np.float32)
    layout = filter_layout(w.shape, color=color)
    if layout.kind == "rgb":
        m = float(np.abs(w).max()) if w.size else 0.0
        m = m if m > 0 else 1.0
        cells = 0.5 + np.moveaxis(w, 3, 0) / (2.0 * m)  # (K, F, F, 3)
        return _mosaic(cells, layout.cols, pad), m
    if layout.kind == "slices":
        cells = np.transpose(w, (3, 2, 0, 1)).reshape(-1, *w.shape[:2])  # (K·D, F, F)
    elif w.shape[2] == 1:
        cells = np.moveaxis(w[:, :, 0, :], 2, 0)
    else:
        norms = np.sqrt((w.astype(np.float64) ** 2).sum(axis=(0, 1)))  # (D, K)
        total = norms.sum(axis=0)  # (K,)
        weights = np.divide(norms, total, out=np.zeros_like(norms), where=total > 0)
        cells = np.einsum("hwdk,dk->khw", w.astype(np.float64), weights).astype(np.float32)
    m = float(np.abs(cells).max()) if cells.size else 0.0
    m = m if m > 0 else 1.0
    return _mosaic(cells, layout.cols, pad), m
