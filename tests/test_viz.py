"""convscope.viz: exact placement in the mosaics, NaN gaps, shared symmetric levels,
click lookup; convolution by hand against a naive loop and hand-computed numbers;
the colour tables. All NumPy, no display."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from convscope.viz.colormaps import colorize, diverging_lut, sequential_lut
from convscope.viz.kernels import KERNEL_PRESETS, convolve2d
from convscope.viz.tiles import (
    cell_at,
    default_cols,
    filter_layout,
    grid_position,
    levels_of,
    map_grid,
    tile_filters,
    vector_grid,
)

# --- tile_filters --------------------------------------------------------------------------


def _filters(f: int, d: int, k: int) -> np.ndarray:
    """Filter k, input slice d holds the value 10·k + d + (position)/100 — every entry unique."""
    w = np.zeros((f, f, d, k), np.float32)
    pos = np.arange(f * f, dtype=np.float32).reshape(f, f) / 100
    for kk in range(k):
        for dd in range(d):
            w[:, :, dd, kk] = 10 * kk + dd + pos
    return w


def test_single_channel_filters_in_a_square_grid() -> None:
    w = _filters(2, 1, 3) - 15  # values from −15 to 5.03
    mosaic, m = tile_filters(w)
    assert mosaic.shape == (2 * 2 + 1, 2 * 2 + 1)  # 2×2 grid of 2×2 cells, 1 px gaps
    assert m == pytest.approx(15.0)
    for k in range(3):
        r, c = grid_position(k, (2, 2), 2, 1)
        np.testing.assert_array_equal(mosaic[r : r + 2, c : c + 2], w[:, :, 0, k])
    assert np.isnan(mosaic[2, :]).all() and np.isnan(mosaic[:, 2]).all()  # gaps
    assert np.isnan(mosaic[3:, 3:]).all()  # the unused fourth cell
    assert np.isfinite(mosaic).sum() == 3 * 4


def test_multi_channel_filters_one_row_per_filter() -> None:
    w = _filters(3, 2, 3)
    mosaic, m = tile_filters(w, pad=2)
    layout = filter_layout(w.shape)
    assert (layout.kind, layout.rows, layout.cols, layout.count) == ("slices", 3, 2, 6)
    assert mosaic.shape == (3 * 3 + 2 * 2, 2 * 3 + 2)
    assert m == pytest.approx(np.abs(w).max())
    for k in range(3):
        for d in range(2):
            r, c = grid_position(k * 2 + d, (3, 3), 2, 2)
            assert (r, c) == (k * 5, d * 5)
            np.testing.assert_array_equal(mosaic[r : r + 3, c : c + 3], w[:, :, d, k])
            assert cell_at(c + 1.5, r + 2.9, (3, 3), 2, 2, layout.count) == k * 2 + d


def test_first_layer_rgb_filters_are_colour_cells_centred_on_grey() -> None:
    w = np.zeros((2, 2, 3, 2), np.float32)
    w[0, 0, :, 0] = (1.0, -1.0, 0.0)
    w[1, 1, :, 1] = (0.5, 0.25, -0.5)
    mosaic, m = tile_filters(w)
    assert m == 1.0
    assert mosaic.shape == (2, 5, 3)  # one row of two cells
    np.testing.assert_allclose(mosaic[0, 0], (1.0, 0.0, 0.5))  # 0.5 + w / 2m
    np.testing.assert_allclose(mosaic[1, 4], (0.75, 0.625, 0.25))
    np.testing.assert_allclose(mosaic[0, 1], (0.5, 0.5, 0.5))  # zero weight → mid grey
    assert np.isnan(mosaic[:, 2]).all()
    gray, _ = tile_filters(w, color=False)  # forced off: 3 slices per filter
    assert gray.ndim == 2 and gray.shape == (2 * 2 + 1, 3 * 2 + 2)
    with pytest.raises(ValueError, match="3 input channels"):
        tile_filters(np.zeros((3, 3, 2, 4)), color=True)


def test_many_input_channels_show_the_norm_weighted_mean() -> None:
    d = 20
    w = np.zeros((1, 1, d, 2), np.float32)
    w[0, 0, 0, 0], w[0, 0, 1, 0] = 3.0, -1.0  # norms 3 and 1 → (3·3 + 1·(−1)) / 4 = 2
    w[0, 0, 5, 1] = -4.0  # a single slice → itself
    mosaic, m = tile_filters(w)
    assert filter_layout(w.shape).kind == "grid"
    assert mosaic.shape == (1, 3)
    np.testing.assert_allclose(mosaic[0, [0, 2]], (2.0, -4.0))
    assert m == 4.0
    zeros, m0 = tile_filters(np.zeros((3, 3, 1, 4), np.float32))
    assert m0 == 1.0 and np.nanmax(np.abs(zeros)) == 0.0  # all-zero weights: a usable level


# --- map_grid and clicks ----------------------------------------------------------------------


def test_map_grid_places_every_channel_and_pads_with_nan() -> None:
    maps = np.arange(3 * 2 * 5, dtype=np.float32).reshape(3, 2, 5) + 1  # H=3, W=2, C=5, positive
    mosaic, levels = map_grid(maps)
    assert default_cols(5) == 3
    assert mosaic.shape == (2 * 3 + 1, 3 * 2 + 2) and mosaic.dtype == np.float32
    for i in range(5):
        r, c = grid_position(i, (3, 2), 3)
        np.testing.assert_array_equal(mosaic[r : r + 3, c : c + 2], maps[..., i])
    assert np.isfinite(mosaic).sum() == maps.size
    assert np.isnan(mosaic[3]).all() and np.isnan(mosaic[:, 2]).all() and np.isnan(mosaic[:, 5]).all()
    assert np.isnan(mosaic[4:, 6:]).all()  # the sixth cell is unused
    assert levels == (1.0, 30.0)  # one sign: (min, max)

    signed = maps - 10
    _, levels = map_grid(signed, cols=5, pad=0)
    assert levels == (-20.0, 20.0)  # both signs: symmetric around zero
    wide, _ = map_grid(signed, cols=5, pad=0)
    assert wide.shape == (3, 10) and np.isfinite(wide).all()


def test_levels_of_edge_cases() -> None:
    assert levels_of(np.zeros((2, 2))) == (0.0, 1.0)
    assert levels_of(np.full(3, 4.0)) == (3.0, 4.0)
    assert levels_of(np.array([np.nan, -2.0, 1.0])) == (-2.0, 2.0)
    assert levels_of(np.array([np.nan])) == (0.0, 1.0)


def test_cell_at_inverts_grid_position() -> None:
    shape, cols, pad, count = (4, 3), 3, 1, 7
    for i in range(count):
        r, c = grid_position(i, shape, cols, pad)
        assert cell_at(c, r, shape, cols, pad, count) == i
        assert cell_at(c + 2.99, r + 3.5, shape, cols, pad, count) == i
    assert cell_at(3, 0, shape, cols, pad, count) is None  # the gap column
    assert cell_at(0, 4.2, shape, cols, pad, count) is None  # the gap row
    r, c = grid_position(7, shape, cols, pad)
    assert cell_at(c, r, shape, cols, pad, count) is None  # past the last channel
    assert cell_at(-0.5, 0, shape, cols, pad) is None and cell_at(12, 0, shape, cols, pad) is None


def test_vector_grid() -> None:
    block, levels = vector_grid(np.arange(10, dtype=np.float32) - 4)
    assert block.shape == (3, 4)
    np.testing.assert_array_equal(block.ravel()[:10], np.arange(10) - 4)
    assert np.isnan(block.ravel()[10:]).all() and levels == (-5.0, 5.0)


# --- convolution by hand ------------------------------------------------------------------------


def naive_correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    h, w = image.shape
    kh, kw = kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    y, x = i + a - top, j + b - left
                    if 0 <= y < h and 0 <= x < w:
                        out[i, j] += kernel[a, b] * image[y, x]
    return out


@pytest.mark.parametrize("kshape", [(3, 3), (5, 5), (2, 2), (1, 1), (3, 5)])
def test_convolve2d_equals_a_naive_loop(kshape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(kshape))
    image = rng.standard_normal((9, 7))
    kernel = rng.standard_normal(kshape)
    got = convolve2d(image, kernel)
    assert got.shape == image.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, naive_correlate(image, kernel), rtol=1e-5, atol=1e-5)
    rgb = rng.standard_normal((6, 8, 3))
    got = convolve2d(rgb, kernel)
    assert got.shape == rgb.shape
    for c in range(3):
        np.testing.assert_allclose(got[..., c], naive_correlate(rgb[..., c], kernel), rtol=1e-5, atol=1e-5)


def test_convolve2d_hand_computed() -> None:
    image = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    box = np.ones((3, 3), np.float32)
    # each output: the sum of the (zero-padded) 3×3 neighbourhood, worked out by hand
    np.testing.assert_array_equal(convolve2d(image, box), [[12, 21, 16], [27, 45, 33], [24, 39, 28]])
    # cross-correlation, not convolution: a kernel with a 1 on the left reads the left neighbour
    left = np.zeros((3, 3), np.float32)
    left[1, 0] = 1
    np.testing.assert_array_equal(convolve2d(image, left), [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    np.testing.assert_array_equal(convolve2d(image, KERNEL_PRESETS["Identity"]), image)


def test_sobel_responds_only_at_the_edge() -> None:
    step = np.zeros((10, 10), np.float32)
    step[:, 5:] = 1.0  # a vertical edge between columns 4 and 5
    gx = convolve2d(step, KERNEL_PRESETS["Sobel x"])[1:-1, 1:-1]  # away from the zero padding
    cols = np.nonzero(np.abs(gx).max(axis=0))[0] + 1
    assert cols.tolist() == [4, 5]
    assert (gx[:, 3:5] == 4).all()  # 1 + 2 + 1 across the edge
    assert not convolve2d(step, KERNEL_PRESETS["Sobel y"])[1:-1, 1:-1].any()
    assert not convolve2d(step.T, KERNEL_PRESETS["Sobel x"])[1:-1, 1:-1].any()


def test_kernel_presets() -> None:
    names = [
        "Identity",
        "Box blur 3×3",
        "Gaussian blur 5×5",
        "Sharpen",
        "Edge (Laplacian)",
        "Sobel x",
        "Sobel y",
        "Prewitt x",
        "Emboss",
        "Outline",
    ]
    assert list(KERNEL_PRESETS) == names
    for name, k in KERNEL_PRESETS.items():
        assert k.dtype == np.float32 and k.ndim == 2 and k.shape[0] == k.shape[1] in (3, 5), name
        assert not k.flags.writeable
    for name in ("Identity", "Box blur 3×3", "Gaussian blur 5×5", "Sharpen", "Emboss"):
        assert KERNEL_PRESETS[name].sum() == pytest.approx(1.0), name  # brightness kept
    for name in ("Edge (Laplacian)", "Sobel x", "Sobel y", "Prewitt x", "Outline"):
        assert KERNEL_PRESETS[name].sum() == 0, name  # flat regions → 0
    assert KERNEL_PRESETS["Gaussian blur 5×5"].shape == (5, 5)


# --- colour tables --------------------------------------------------------------------------


def test_lookup_tables() -> None:
    div = diverging_lut()
    assert div.shape == (256, 4) and div.dtype == np.uint8 and (div[:, 3] == 255).all()
    lo, mid, hi = div[0, :3].astype(int), div[128, :3].astype(int), div[255, :3].astype(int)
    assert lo[2] > lo[0] and hi[0] > hi[2]  # blue … red
    assert mid.min() > 235  # white in the middle
    seq = sequential_lut(64)
    assert seq.shape == (64, 4)
    luma = seq[:, :3] @ np.array([0.299, 0.587, 0.114])
    assert (np.diff(luma) > 0).all()  # monotonically brighter
    with pytest.raises(ValueError):
        diverging_lut(1)


def test_colorize() -> None:
    lut = diverging_lut(8)
    values = np.array([[-1.0, 0.0, 1.0, np.nan, 5.0]])
    rgba = colorize(values, (-1.0, 1.0), lut)
    assert rgba.shape == (1, 5, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[0, 0], lut[0])
    np.testing.assert_array_equal(rgba[0, 2], lut[7])
    np.testing.assert_array_equal(rgba[0, 4], lut[7])  # clipped
    np.testing.assert_array_equal(rgba[0, 1], lut[4])
    assert tuple(rgba[0, 3]) == (0, 0, 0, 0)  # NaN: transparent


def test_viz_imports_numpy_only() -> None:
    code = (
        "import sys, convscope.viz.tiles, convscope.viz.kernels, convscope.viz.colormaps; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'PySide6', 'PIL', 'pyqtgraph')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
