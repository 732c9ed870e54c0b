"""viz.pictures: filters and maps as plain RGB pictures, checked pixel by pixel against
the formulas the Filters panel states (colour: 0.5 + w / 2m per channel; mid-grey = 0)."""

from __future__ import annotations

import numpy as np

from convscope.viz.pictures import GAP, enlarge, filter_picture, image_picture, maps_picture, scale_for


def test_an_rgb_first_layer_shows_each_filter_in_colour_with_grey_gaps():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)  # 5 colour filters: a 3×2 grid, one cell empty
    picture = filter_picture(w)
    side = 3 * 4 - 1  # 3 columns of 3 px and 2 gaps
    s = 256 // side
    assert picture.shape == (2 * 4 * s - s, side * s, 3) and picture.dtype == np.uint8
    cells = picture[::s, ::s].astype(int)
    m = np.abs(w).max()
    for k in range(5):
        r0, c0 = (k // 3) * 4, (k % 3) * 4
        want = np.rint(np.clip(0.5 + w[:, :, :, k] / (2 * m), 0, 1) * 255)
        assert np.abs(cells[r0:r0 + 3, c0:c0 + 3] - want).max() <= 1, k
    assert (cells[3, :] == GAP).all() and (cells[:, 3] == GAP).all()
    assert (cells[4:7, 8:11] == GAP).all(), "the unused sixth cell is a gap"


def test_maps_of_one_sign_use_viridis_and_both_signs_the_diverging_scale():
    pos = np.zeros((4, 4, 2), np.float32)
    pos[0, 0, 0] = 1.0
    p = maps_picture(pos)[:: scale_for((4, 9)), :: scale_for((4, 9))]
    assert tuple(p[0, 0]) == (253, 231, 37) and tuple(p[1, 1]) == (68, 1, 84)  # viridis ends: max, min
    signed = pos.copy()
    signed[1, 1, 0] = -1.0
    q = maps_picture(signed)[:: scale_for((4, 9)), :: scale_for((4, 9))]
    assert tuple(q[0, 0]) == (103, 0, 31) and tuple(q[1, 1]) == (5, 48, 97)  # RdBu's ends: +1, −1
    assert np.abs(q[2, 2].astype(int) - 247).max() <= 1, "zero is white (RdBu's middle)"


def test_enlarging_keeps_pixels_square_and_large_pictures_as_they_are():
    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = enlarge(a)
    assert big.shape == (2 * 32, 3 * 32, 3) and np.array_equal(big[::32, ::32], a)  # at most 32×
    large = np.zeros((300, 10, 3), np.uint8)
    assert enlarge(large) is large
    gray = np.full((8, 8, 1), 7, np.uint8)
    assert image_picture(gray).shape == (256, 256, 3) and (image_picture(gray) == 7).all()
