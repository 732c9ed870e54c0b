"""Augmentation and normalization against independent references: NumPy shifts, flips
and rotations, a pixel-by-pixel NumPy bilinear sampler, hand-worked zooms, and the
statistics colour jitter must have."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import TrainConfig
from convscope.model.network import preprocess
from convscope.train.augment import (
    LUMA,
    augment,
    augment_hparams,
    augment_preview,
    bilinear_sample,
    color_jitter,
    normalization_norm,
    source_coordinates,
)

RNG = np.random.default_rng(0)


def hp(**strengths: float) -> dict[str, jax.Array]:
    base = dict.fromkeys(("shift", "flip", "rotate", "zoom", "brightness", "contrast", "saturation"), 0.0)
    base.update(strengths)
    return {k: jnp.float32(v) for k, v in base.items()}


def params(n: int, flip=0.0, angle=0.0, scale=1.0, ty=0.0, tx=0.0) -> jax.Array:
    row = [flip, angle, scale, ty, tx]
    return jnp.asarray(np.tile(np.asarray(row, np.float32), (n, 1)))


def warp(x: np.ndarray, p: jax.Array) -> np.ndarray:
    sy, sx = source_coordinates(p, x.shape[1], x.shape[2])
    return np.asarray(bilinear_sample(jnp.asarray(x, jnp.float32), sy, sx))


def numpy_shift(img: np.ndarray, ty: int, tx: int) -> np.ndarray:
    """Content moved down by ty and right by tx, zero fill (pad and crop)."""
    h, w = img.shape[:2]
    pad = max(abs(ty), abs(tx))
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    return padded[pad - ty : pad - ty + h, pad - tx : pad - tx + w]


def numpy_bilinear(img: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """One pixel at a time: the four neighbours' weighted sum, zero outside."""
    h, w, c = img.shape
    out = np.zeros((*sy.shape, c))
    for i in range(sy.shape[0]):
        for j in range(sy.shape[1]):
            y, x = float(sy[i, j]), float(sx[i, j])
            y0, x0 = math.floor(y), math.floor(x)
            for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                if 0 <= yy < h and 0 <= xx < w:
                    out[i, j] += (1 - abs(y - yy)) * (1 - abs(x - xx)) * img[yy, xx]
    return out


# ------------------------------------------------------------------ geometry
def test_integer_shifts_match_pad_and_crop_exactly() -> None:
    x = RNG.integers(0, 256, (1, 7, 9, 2)).astype(np.float32)
    for ty, tx in [(0, 0), (2, -1), (-3, 3), (1, 0)]:
        got = warp(x, params(1, ty=ty, tx=tx))[0]
        np.testing.assert_array_equal(got, numpy_shift(x[0], ty, tx))


def test_flip_mirrors_left_and_right() -> None:
    x = RNG.integers(0, 256, (1, 5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(warp(x, params(1, flip=1.0))[0], x[0, :, ::-1])


def test_rotation_by_90_degrees_is_rot90_counter_clockwise() -> None:
    x = RNG.integers(0, 256, (1, 6, 6, 1)).astype(np.float32)
    got = warp(x, params(1, angle=math.pi / 2))[0]
    np.testing.assert_allclose(got, np.rot90(x[0], k=1, axes=(0, 1)), atol=1e-3)
    got = warp(x, params(1, angle=-math.pi / 2))[0]
    np.testing.assert_allclose(got, np.rot90(x[0], k=-1, axes=(0, 1)), atol=1e-3)


def test_zoom_of_one_is_the_identity_and_zoom_two_is_hand_worked() -> None:
    x = RNG.integers(0, 256, (1, 4, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(warp(x, params(1, scale=1.0))[0], x[0])
    # Magnified twice about the centre 1.5: output pixel p samples 1.5 + (p - 1.5) / 2,
    # that is 0.75, 1.25, 1.75, 2.25 on both axes.
    row = x[0, :, :, 0]
    coords = [0.75, 1.25, 1.75, 2.25]

    def lerp(v: np.ndarray, t: float) -> np.ndarray:
        i = int(t)
        return v[..., i] * (1 - (t - i)) + v[..., i + 1] * (t - i)

    cols = np.stack([lerp(row, t) for t in coords], axis=1)  # along x
    expected = np.stack([lerp(cols.T, t) for t in coords], axis=0)  # then along y
    np.testing.assert_allclose(warp(x, params(1, scale=2.0))[0, :, :, 0], expected, rtol=1e-5)


def test_bilinear_sampler_matches_a_pixel_by_pixel_numpy_reference() -> None:
    x = RNG.random((3, 8, 7, 2)).astype(np.float32)
    sy = RNG.uniform(-2, 10, (3, 5, 6)).astype(np.float32)  # some outside the image
    sx = RNG.uniform(-2, 9, (3, 5, 6)).astype(np.float32)
    got = np.asarray(bilinear_sample(jnp.asarray(x), jnp.asarray(sy), jnp.asarray(sx)))
    for n in range(3):
        np.testing.assert_allclose(got[n], numpy_bilinear(x[n], sy[n], sx[n]), atol=1e-5)


def test_random_shift_draws_whole_pixels_uniformly_within_the_limit() -> None:
    img = np.zeros((1, 15, 15, 1), np.uint8)
    img[0, 7, 7, 0] = 255  # one bright pixel: where it lands is the shift
    x = np.repeat(img, 2000, axis=0)
    out = np.asarray(augment(jnp.asarray(x), jax.random.key(1), hp(shift=2.0)))
    assert set(np.unique(out)) <= {0.0, 1.0}, "whole-pixel shifts never blend"
    ys, xs = np.nonzero(out[..., 0].max(axis=2))[1], np.nonzero(out[..., 0].max(axis=1))[1]
    counts = np.bincount(ys - 7 + 2, minlength=5)
    assert set(ys - 7) == set(xs - 7) == {-2, -1, 0, 1, 2}
    assert counts.min() > 2000 / 5 * 0.8, counts


def test_flip_probability_is_respected_and_rotation_stays_within_its_limit() -> None:
    x = np.zeros((4000, 9, 9, 1), np.uint8)
    x[:, 4, 0:2] = 255  # a bar at the left edge
    out = np.asarray(augment(jnp.asarray(x), jax.random.key(2), hp(flip=0.3)))
    flipped = out[:, 4, -1, 0] == 1.0
    assert abs(flipped.mean() - 0.3) < 0.03
    np.testing.assert_array_equal(out[~flipped], x[~flipped] / 255.0)
    # Rotation by at most 10° about the centre moves a pixel 4 away by < 0.7 px.
    out = np.asarray(augment(jnp.asarray(x), jax.random.key(3), hp(rotate=10.0)))
    assert np.all(out[:, 4, 0, 0] > 0.3)
    assert np.all(out[:, 0:2, :, 0] == 0) and np.all(out[:, 7:, :, 0] == 0)


def test_stages_that_are_off_leave_pixels_bit_identical() -> None:
    """All off: exactly what the model's own preprocess gives (the step before issue 6)."""
    x = RNG.integers(0, 256, (16, 10, 10, 3)).astype(np.uint8)
    out = np.asarray(jax.jit(augment)(jnp.asarray(x), jax.random.key(0), hp()))
    before = np.asarray(jax.jit(lambda v: preprocess(v, 0.0, 1.0))(jnp.asarray(x)))
    np.testing.assert_array_equal(out, before)
    np.testing.assert_allclose(out, x / 255.0, rtol=1e-7)


# ------------------------------------------------------------------ colour
def test_brightness_adds_one_uniform_offset_per_image() -> None:
    x = jnp.full((4000, 4, 4, 3), 0.5, jnp.float32)
    out = np.asarray(color_jitter(x, jax.random.key(0), hp(brightness=0.2)))
    delta = out - 0.5
    per_image = delta[:, 0, 0, 0]
    np.testing.assert_allclose(delta, per_image[:, None, None, None] * np.ones_like(delta), atol=1e-6)
    assert -0.2 <= per_image.min() < -0.19 and 0.19 < per_image.max() <= 0.2
    assert abs(per_image.mean()) < 0.01
    assert abs(per_image.std() - 0.2 / math.sqrt(3)) < 0.005  # uniform on [-b, b]


def test_contrast_scales_about_the_image_mean() -> None:
    base = RNG.uniform(0.3, 0.7, (1, 6, 6, 1)).astype(np.float32)
    x = jnp.asarray(np.repeat(base, 3000, axis=0))
    out = np.asarray(color_jitter(x, jax.random.key(1), hp(contrast=0.4)))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), base.mean(), atol=1e-5)
    ratio = out.std(axis=(1, 2, 3)) / base.std()
    assert 0.6 - 1e-4 <= ratio.min() < 0.62 and 1.38 < ratio.max() <= 1.4 + 1e-4
    assert abs(ratio.mean() - 1.0) < 0.02


def test_saturation_keeps_luminance_and_spares_gray_and_grayscale_images() -> None:
    color = RNG.uniform(0.35, 0.65, (500, 5, 5, 3)).astype(np.float32)
    out = np.asarray(color_jitter(jnp.asarray(color), jax.random.key(2), hp(saturation=0.5)))
    luma = np.asarray(LUMA, np.float32)
    np.testing.assert_allclose((out * luma).sum(-1), (color * luma).sum(-1), atol=1e-5)
    chroma_in = color - (color * luma).sum(-1, keepdims=True)
    chroma_out = out - (out * luma).sum(-1, keepdims=True)
    factor = (chroma_out * chroma_in).sum(axis=(1, 2, 3)) / (chroma_in**2).sum(axis=(1, 2, 3))
    assert 0.5 - 1e-4 <= factor.min() < 0.55 and 1.45 < factor.max() <= 1.5 + 1e-4
    gray = np.repeat(RNG.uniform(0, 1, (20, 5, 5, 1)), 3, axis=-1).astype(np.float32)
    out = np.asarray(color_jitter(jnp.asarray(gray), jax.random.key(3), hp(saturation=1.0)))
    np.testing.assert_allclose(out, gray, atol=1e-6)
    single = RNG.uniform(0, 1, (20, 5, 5, 1)).astype(np.float32)
    out = np.asarray(color_jitter(jnp.asarray(single), jax.random.key(3), hp(saturation=1.0)))
    np.testing.assert_allclose(out, single, atol=1e-6)


def test_jitter_clips_to_the_pixel_range() -> None:
    x = jnp.asarray(RNG.uniform(0, 1, (200, 6, 6, 3)).astype(np.float32))
    out = np.asarray(color_jitter(x, jax.random.key(4), hp(brightness=1.0, contrast=1.0, saturation=1.0)))
    assert out.min() == 0.0 and out.max() == 1.0


# ------------------------------------------------------------------ normalization
@pytest.mark.parametrize("mode", ["standardize", "center", "none"])
def test_normalization_modes_match_numpy(mode: str) -> None:
    x = RNG.integers(0, 256, (50, 6, 6, 3)).astype(np.uint8)
    scaled = x.astype(np.float64) / 255.0
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    stats = np.stack([mean, std]).astype(np.float32)
    norm = normalization_norm(stats, mode)
    expected = {"standardize": (scaled - mean) / std, "center": scaled - mean, "none": scaled}[mode]
    np.testing.assert_allclose((scaled - norm[0]) / norm[1], expected, atol=1e-5)
    assert norm.shape == (2, 3) and norm.dtype == np.float32


def test_normalization_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="normalization must be one of"):
        normalization_norm(np.zeros((2, 1)), "whiten")


# ------------------------------------------------------------------ config and preview
@pytest.mark.parametrize(
    ("field", "value"),
    [("augment_flip", 1.5), ("augment_rotate", -1.0), ("augment_zoom", 2.0), ("augment_brightness", "x"),
     ("normalization", "zscore"), ("augment_saturation", float("nan"))],
)
def test_config_refuses_out_of_range_strengths_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_default_config_shifts_by_two_and_nothing_else() -> None:
    strengths = {k: float(v) for k, v in augment_hparams(TrainConfig()).items()}
    assert strengths == {"shift": 2.0, "flip": 0.0, "rotate": 0.0, "zoom": 0.0,
                         "brightness": 0.0, "contrast": 0.0, "saturation": 0.0}
    assert {float(v) for v in augment_hparams(TrainConfig(augment=False, augment_rotate=10.0)).values()} == {0.0}
    assert TrainConfig().normalization == "standardize"


def test_preview_is_reproducible_and_follows_the_config() -> None:
    x = RNG.integers(0, 256, (8, 12, 12, 3)).astype(np.uint8)
    off = augment_preview(TrainConfig(augment=False), x, seed=0)
    np.testing.assert_array_equal(off, x)
    cfg = TrainConfig(augment_rotate=20.0, augment_brightness=0.2)
    a, b = augment_preview(cfg, x, seed=5), augment_preview(cfg, x, seed=5)
    assert a.dtype == np.uint8 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, augment_preview(cfg, x, seed=6))
    assert not np.array_equal(a, off)
    with pytest.raises(ValueError, match="uint8"):
        augment_preview(cfg, x.astype(np.float32), seed=0)


def test_preview_shows_what_the_training_step_computes() -> None:
    """The preview and the step share one function and one hyperparameter dict."""
    from convscope.train.augment import augment_and_normalize
    from convscope.train.step import live_hparams

    x = RNG.integers(0, 256, (8, 12, 12, 3)).astype(np.uint8)
    cfg = TrainConfig(augment_rotate=30.0, augment_zoom=0.2, augment_flip=0.5, augment_contrast=0.3)
    identity = jnp.asarray([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    step = augment_and_normalize(jnp.asarray(x), jax.random.key(3), live_hparams(cfg), identity)
    expected = np.round(np.asarray(step) * 255.0)
    np.testing.assert_allclose(augment_preview(cfg, x, seed=3), expected, atol=1.0)
    assert (augment_preview(cfg, x, seed=3) == expected).mean() > 0.99
