"""How a loss-landscape grid becomes a picture: one transform shared by the Loss
landscape panel, the PNG and the SVG (``probes.landscape_io`` / ``landscape_svg``), so
that the screen and the files show the same values, colours and contours. NumPy only.

* :func:`display_loss`: missing cells (NaN: not computed yet, or no number) filled —
  from the coarsest complete lattice of the coarse-to-fine order, else from the nearest
  computed cell —, +inf (overflow far from the centre) drawn as the largest finite loss,
  then log₁₀ if asked; NaN only where nothing finite is known at all.
* :func:`display_levels`: the colour range, (lowest, highest) of those values.
* :func:`contour_levels`: ``CONTOURS`` iso-values evenly inside that range.
* :func:`contour_segments`: marching squares on the grid itself.
"""

from __future__ import annotations

import numpy as np

CONTOURS = 10


def lattice_indices(n: int, stride: int) -> np.ndarray:
    """Indices ≡ centre (mod stride), plus both ends: a coarse axis that keeps the centre."""
    c = n // 2
    idx = {i for i in range(n) if (i - c) % stride == 0} | {0, n - 1}
    return np.array(sorted(idx), dtype=np.int64)


def fill_from_coarse(values: np.ndarray) -> np.ndarray:
    """A complete surface from a partial one: the finest coarse-to-fine lattice
    (stride 1, 2 or 4, see ``landscape.coarse_to_fine_order``) that is fully computed,
    interpolated bilinearly onto every point; the input unchanged if none is complete."""
    v = np.asarray(values, np.float64)
    n_rows, n_cols = v.shape
    for stride in (1, 2, 4):
        rows, cols = lattice_indices(n_rows, stride), lattice_indices(n_cols, stride)
        sub = v[np.ix_(rows, cols)]
        if np.all(np.isfinite(sub)):
            if stride == 1:
                return v.copy()
            across = np.stack([np.interp(np.arange(n_cols), cols, r) for r in sub])  # (len(rows), n_cols)
            return np.stack([np.interp(np.arange(n_rows), rows, c) for c in across.T], axis=1)
    return v.copy()


def _fill_axis(values: np.ndarray) -> np.ndarray:
    """Each NaN of every row takes the nearest non-NaN value of its row (rows with none
    stay NaN)."""
    out = values.copy()
    cols = np.arange(values.shape[1])
    for r in range(values.shape[0]):
        ok = np.flatnonzero(~np.isnan(values[r]))
        if 0 < len(ok) < len(cols):
            pos = np.clip(np.searchsorted(ok, cols), 1, len(ok) - 1) if len(ok) > 1 else np.zeros_like(cols)
            left = ok[np.maximum(pos - 1, 0)]
            right = ok[pos]
            nearest = np.where(np.abs(cols - left) <= np.abs(right - cols), left, right)
            out[r] = values[r, nearest]
    return out


def fill_missing(values: np.ndarray) -> np.ndarray:
    """A partial grid made whole for display. Once the coarse lattice is in, the missing
    cells are interpolated from it (:func:`fill_from_coarse`) and every computed cell
    keeps its value; before that, each missing cell takes the nearest computed cell
    along its row, then (rows with none) along its column."""
    values = np.asarray(values, np.float64)
    known = ~np.isnan(values)
    if known.all():
        return values.copy()
    smooth = fill_from_coarse(values)
    if np.isfinite(smooth).all():
        smooth[known] = values[known]
        return smooth
    return _fill_axis(_fill_axis(values).T).T


def display_loss(loss: np.ndarray, log: bool, fill: bool = True) -> np.ndarray:
    """What the colours and contours show (see the module docstring), on the grid."""
    v = np.array(loss, np.float64)
    finite = v[np.isfinite(v)]
    v[np.isposinf(v)] = finite.max() if finite.size else np.nan
    v[np.isneginf(v)] = np.nan  # a loss is never −inf: no number
    if fill:
        v = fill_missing(v)
    if log:
        v = np.log10(np.maximum(v, 1e-12), where=np.isfinite(v), out=np.full_like(v, np.nan))
    return v


def display_levels(values: np.ndarray) -> tuple[float, float]:
    """(lo, hi) the colours span: the finite values' range, widened by ±0.5 when flat;
    (0, 1) when nothing is finite."""
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def contour_levels(lo: float, hi: float, n: int = CONTOURS) -> np.ndarray:
    """``n`` iso-values evenly spaced strictly inside (lo, hi)."""
    return np.linspace(lo, hi, n + 2)[1:-1]


def contour_segments(values: np.ndarray, alphas: np.ndarray, betas: np.ndarray, level: float) -> np.ndarray:
    """(S, 2, 2) line segments ((α, β), (α, β)) where ``values`` (B, A), ``values[i, j]``
    at (alphas[j], betas[i]), crosses ``level``: marching squares with linear
    interpolation along cell edges; a saddle cell is split by its centre's (mean) value.
    Cells with a non-finite corner are skipped. Vectorised over the cells (row-major)."""
    v = np.asarray(values, np.float64)
    if v.shape[0] < 2 or v.shape[1] < 2:
        return np.zeros((0, 2, 2))
    a, b = np.asarray(alphas, np.float64), np.asarray(betas, np.float64)
    # Corners around each cell: (i, j), (i, j+1), (i+1, j+1), (i+1, j); edge k joins k and k+1.
    c = np.stack([v[:-1, :-1], v[:-1, 1:], v[1:, 1:], v[1:, :-1]], axis=-1)  # (B-1, A-1, 4)
    ca = np.stack([a[None, :-1], a[None, 1:], a[None, 1:], a[None, :-1]], axis=-1)
    cb = np.stack([b[:-1, None], b[:-1, None], b[1:, None], b[1:, None]], axis=-1)
    ca, cb = np.broadcast_to(ca, c.shape), np.broadcast_to(cb, c.shape)
    ok = np.isfinite(c).all(axis=-1)
    above = c >= level
    u, w = c, np.roll(c, -1, axis=-1)
    cross = (above != np.roll(above, -1, axis=-1)) & ok[..., None]  # (…, 4) per edge
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(cross, (level - u) / (w - u), 0.0)
    pa = ca + t * (np.roll(ca, -1, axis=-1) - ca)
    pb = cb + t * (np.roll(cb, -1, axis=-1) - cb)
    pts = np.stack([pa, pb], axis=-1)  # (…, 4 edges, 2)
    n = cross.sum(axis=-1)
    cells = pts.reshape(-1, 4, 2)
    flat_cross, flat_n = cross.reshape(-1, 4), n.reshape(-1)
    out = np.full((len(cells), 2, 2, 2), np.nan)  # per cell, at most two segments
    two = flat_n == 2
    if two.any():
        order = np.argsort(~flat_cross[two], axis=1, kind="stable")[:, :2]  # the two crossed edges, in order
        out[two, 0] = np.take_along_axis(cells[two], order[..., None], axis=1)
    four = flat_n == 4
    if four.any():
        centre_above = c.reshape(-1, 4)[four].mean(axis=1) >= level
        first_above = above.reshape(-1, 4)[four, 0]
        keep = first_above == centre_above  # then edges (0, 1) and (2, 3), else (3, 0) and (1, 2)
        pairs = np.where(keep[:, None, None], np.array([[0, 1], [2, 3]]), np.array([[3, 0], [1, 2]]))
        sel = cells[four][np.arange(four.sum())[:, None, None], pairs]  # (K, 2, 2, 2)
        out[four] = sel
    out = out.reshape(-1, 2, 2)
    return out[np.isfinite(out).all(axis=(1, 2))]


def contour_xy(values: np.ndarray, alphas: np.ndarray, betas: np.ndarray,
               levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`contour_segments` at every level as one x, y pair with NaN between the
    segments (for a plot item that connects finite points)."""
    segs = [contour_segments(values, alphas, betas, float(level)) for level in levels]
    s = np.concatenate(segs) if segs else np.zeros((0, 2, 2))
    if not len(s):
        return np.zeros(0), np.zeros(0)
    gap = np.full((len(s), 1, 2), np.nan)
    xy = np.concatenate([s, gap], axis=1).reshape(-1, 2)
    return xy[:, 0], xy[:, 1]
