"""The Deep-visualization panel's pictures, as RGB uint8 arrays (NumPy only).

Each channel becomes one cell: its synthetic preferred input on the left, its top-k
validation patches (a ⌈√k⌉-wide grid) on the right, both scaled by whole pixels
(nearest neighbour, so no detail is invented) and centred on squares of the same side.
The cells are tiled row by row with ``CELL_GAP`` white pixels between them; ``cell_at``
(viz.tiles) maps a click back to a channel. How a synthetic image or a heatmap becomes
colours is viz.display's (shared with ``convscope inspect --deepvis``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convscope.viz.display import to_rgb8
from convscope.viz.tiles import grid_position

BACKGROUND = 255  # white between cells, like the plots' background
EMPTY = 200  # light grey: an empty top-k slot or a synthetic image not computed yet
FRAME = 150  # mid grey between patches, so that both white and black patches show
INNER_GAP = 2  # pixels between the synthetic image and its patches, and between patches
CELL_GAP = 6  # pixels between channels


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of (H, W, …) by a whole ``factor`` ≥ 1."""
    if factor < 1:
        raise ValueError(f"factor must be ≥ 1, got {factor}")
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def centred(image: np.ndarray, side: int, fill: int = BACKGROUND) -> np.ndarray:
    """``image`` (h, w, 3) in the middle of a ``side``×``side`` canvas (h, w ≤ side)."""
    h, w = image.shape[:2]
    out = np.full((side, side, 3), fill, np.uint8)
    r, c = (side - h) // 2, (side - w) // 2
    out[r : r + h, c : c + w] = image
    return out


@dataclass(frozen=True)
class CellGeometry:
    """Sizes of one channel's cell, in mosaic pixels."""

    side: int  # the synthetic square and the patch square are side × side
    patch_scale: int  # each rf×rf patch is enlarged this many times
    image_scale: int  # the synthetic H×W image is enlarged this many times
    grid: int  # patches per row of the top-k square

    @property
    def shape(self) -> tuple[int, int]:
        return self.side, 2 * self.side + INNER_GAP


def cell_geometry(image_hw: tuple[int, int], rf: int, k: int, min_side: int = 0) -> CellGeometry:
    """Whole-pixel scales that make the synthetic image and the top-k square about the
    same size, at least ``min_side`` pixels."""
    g = max(1, math.ceil(math.sqrt(max(k, 1))))
    h = max(image_hw)
    target = max(h, min_side)
    patch_scale = max(1, math.ceil((target - (g - 1) * INNER_GAP) / (g * max(rf, 1))))
    patches_side = g * rf * patch_scale + (g - 1) * INNER_GAP
    image_scale = max(1, patches_side // h)
    side = max(patches_side, image_scale * h)
    return CellGeometry(side, patch_scale, image_scale, g)


def patch_square(patches: np.ndarray, valid: np.ndarray, geo: CellGeometry) -> np.ndarray:
    """(k, rf, rf, C) patches, best first, row by row in a square; invalid slots grey."""
    rf = patches.shape[1] if patches.ndim >= 3 else 1
    size = rf * geo.patch_scale
    inner = geo.grid * size + (geo.grid - 1) * INNER_GAP
    out = np.full((inner, inner, 3), FRAME, np.uint8)
    rgb = to_rgb8(patches) if len(patches) else np.zeros((0, rf, rf, 3), np.uint8)
    for j in range(min(len(rgb), geo.grid * geo.grid)):
        r, c = grid_position(j, (size, size), geo.grid, INNER_GAP)
        tile = upscale(rgb[j], geo.patch_scale) if valid[j] else np.full((size, size, 3), EMPTY, np.uint8)
        out[r : r + size, c : c + size] = tile
    return centred(out, geo.side)


def synthetic_square(image: np.ndarray | None, geo: CellGeometry, hw: tuple[int, int]) -> np.ndarray:
    """One synthetic picture (H, W, C), uint8 or float in [0, 1], enlarged and centred; grey if None."""
    if image is None:
        return centred(np.full((hw[0] * geo.image_scale, hw[1] * geo.image_scale, 3), EMPTY, np.uint8), geo.side)
    return centred(upscale(to_rgb8(image), geo.image_scale), geo.side)


def channel_cell(synthetic: np.ndarray | None, patches: np.ndarray | None, valid: np.ndarray | None,
                 geo: CellGeometry, hw: tuple[int, int]) -> np.ndarray:
    """[synthetic | gap | top-k square] for one channel: (side, 2·side + gap, 3) uint8."""
    left = synthetic_square(synthetic, geo, hw)
    if patches is None or valid is None:
        right = np.full((geo.side, geo.side, 3), BACKGROUND, np.uint8)
        right[:] = EMPTY
    else:
        right = patch_square(patches, valid, geo)
    gap = np.full((geo.side, INNER_GAP, 3), BACKGROUND, np.uint8)
    return np.concatenate([left, gap, right], axis=1)


def channel_mosaic(
    count: int,
    hw: tuple[int, int],
    geo: CellGeometry,
    cols: int,
    synthetic: np.ndarray | None = None,
    patches: np.ndarray | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Every channel's cell, ``cols`` per row, CELL_GAP apart: (rows·h′, cols·w′, 3) uint8.

    ``synthetic`` (count, H, W, C) uint8 or in [0, 1], ``patches`` (count, k, rf, rf, C) uint8 and
    ``valid`` (count, k) bool may each be None (drawn grey: not computed yet).
    """
    if cols < 1:
        raise ValueError(f"cols must be ≥ 1, got {cols}")
    ch, cw = geo.shape
    rows = max(1, math.ceil(count / cols))
    out = np.full((rows * ch + (rows - 1) * CELL_GAP, cols * cw + (cols - 1) * CELL_GAP, 3), BACKGROUND, np.uint8)
    for i in range(count):
        r, c = grid_position(i, (ch, cw), cols, CELL_GAP)
        out[r : r + ch, c : c + cw] = channel_cell(
            None if synthetic is None else synthetic[i],
            None if patches is None else patches[i],
            None if valid is None else valid[i],
            geo,
            hw,
        )
    return out
