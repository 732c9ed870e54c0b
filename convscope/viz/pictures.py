"""Filters and feature maps as plain RGB pictures (uint8), drawn as the Filters and
Feature-maps panels draw them, for files that have no colour bar or zoom of their own
(TensorBoard's Images dashboard).

* Filters: ``tiles.tile_filters``'s mosaic with the diverging map at levels (−m, m),
  white = 0 (an RGB first layer: each filter in colour, mid-grey = 0).
* Feature maps: ``tiles.map_grid``'s mosaic with the levels all maps share, diverging
  when they take both signs, else viridis (as ``convscope inspect`` writes them).

The gaps between cells (NaN in a mosaic) are :data:`GAP` grey, and small pictures are
enlarged by a whole factor (nearest neighbour: every weight stays a crisp square) so
that their longer side reaches :data:`MIN_SIDE` pixels. NumPy only.
"""

from __future__ import annotations

import numpy as np

from convscope.viz.colormaps import colorize, diverging_lut, sequential_lut
from convscope.viz.display import to_uint8
from convscope.viz.tiles import map_grid, tile_filters

GAP = (96, 96, 96)
MIN_SIDE = 256  # pictures smaller than this are enlarged by a whole factor…
MAX_SCALE = 32  # …of at most this
_DIVERGING, _SEQUENTIAL = diverging_lut(), sequential_lut()


def scale_for(shape: tuple[int, ...]) -> int:
    """The whole factor a picture of ``shape`` (H, W, …) is enlarged by."""
    side = max(int(shape[0]), int(shape[1]), 1)
    return int(min(MAX_SCALE, max(1, MIN_SIDE // side)))


def enlarge(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (s·H, s·W, 3) with s = :func:`scale_for`, each pixel an s×s square."""
    s = scale_for(rgb.shape)
    return rgb if s == 1 else np.repeat(np.repeat(rgb, s, axis=0), s, axis=1)


def _scalar_mosaic(mosaic: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    rgb = colorize(mosaic, levels, lut)[..., :3].copy()
    rgb[~np.isfinite(mosaic)] = GAP
    return rgb


def filter_picture(w: np.ndarray) -> np.ndarray:
    """A conv kernel (F, F, D, K) → uint8 (H, W, 3), as the Filters panel tiles it."""
    mosaic, m = tile_filters(w)
    if mosaic.ndim == 3:  # one colour cell per filter, already 0..1 (0.5 = a zero weight)
        gaps = ~np.isfinite(mosaic).all(axis=-1)
        rgb = to_uint8(np.nan_to_num(mosaic, nan=0.0))
        rgb[gaps] = GAP
    else:
        rgb = _scalar_mosaic(mosaic, (-m, m), _DIVERGING)
    return enlarge(rgb)


def maps_picture(maps: np.ndarray) -> np.ndarray:
    """A layer's maps (H, W, C) → uint8 (H', W', 3): every channel, one shared scale."""
    mosaic, levels = map_grid(maps)
    lut = _DIVERGING if levels[0] < 0 < levels[1] else _SEQUENTIAL
    return enlarge(_scalar_mosaic(mosaic, levels, lut))


def image_picture(image: np.ndarray) -> np.ndarray:
    """A uint8 input image (H, W, 1 | 3) → (H', W', 3), enlarged like the others."""
    a = np.asarray(image, np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] != 3:
        a = np.repeat(a[..., :1], 3, axis=-1)
    return enlarge(a)
