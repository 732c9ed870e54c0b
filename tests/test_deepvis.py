"""Activation maximization: every channel's synthetic image beats random and real
inputs of the same norm (a grey and a colour net, default settings); each regularizer
alone has its effect; regularizer pieces against NumPy references; settings validation,
cancellation, progress and the jit cache."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer
from convscope.data import builtin_mnist
from convscope.model import init
from convscope.model.network import apply
from convscope.probes import deepvis as dv
from convscope.probes.deepvis import ActMaxSettings, activation_maximization, layer_objective

SMALL = ArchSpec(convs=(ConvLayer(4, 3), ConvLayer(6, 3)), dense=(16,))
COLOUR = ArchSpec(input_shape=(32, 32, 3), convs=(ConvLayer(4, 3), ConvLayer(6, 3)), dense=(16,))
FAST = ActMaxSettings(steps=48)


@pytest.fixture(scope="module")
def model():
    params, state = jax.device_get(init(SMALL, 3))
    return params, state


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return builtin_mnist().x_val[:64]


@pytest.fixture(scope="module")
def cases(model, digits):
    """Per model: (arch, params, state, 64 real images of its data) for the grey digits
    net and a 32×32×3 colour net on the built-in colour pictures."""
    from convscope.data.synthetic import builtin_colors

    colour = jax.device_get(init(COLOUR, 5))
    return {"grey": (SMALL, *model, digits), "colour": (COLOUR, *colour, builtin_colors(1, 7).x_val[:64])}


def _rescaled(v: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Images 0.5 + v with each v scaled to the given L2 norm (about grey)."""
    n = np.linalg.norm(v.reshape(len(v), -1), axis=1)
    return (0.5 + v / n[:, None, None, None] * norms[:, None, None, None]).astype(np.float32)


@pytest.mark.slow  # 5-8 s each on 2 shared cores, mostly compiling the step for each layer
@pytest.mark.parametrize("layer", ["conv1", "act2", "pool2"])
@pytest.mark.parametrize("which", ["grey", "colour"])
def test_every_channel_beats_random_and_real_inputs_of_the_same_norm(cases, which, layer) -> None:
    """At the default settings (128 steps: what the panel and ``inspect --deepvis`` use)."""
    arch, params, state, real_images = cases[which]
    res = activation_maximization(arch, params, state, None, layer, ActMaxSettings())
    c = dv.spatial_row(arch, layer).shape[2]
    shape = tuple(arch.input_shape)
    assert res.images.shape == (c, *shape) and res.images.dtype == np.float32
    assert res.images.min() >= 0.0 and res.images.max() <= 1.0
    np.testing.assert_array_equal(res.channels, np.arange(c))
    norms = np.linalg.norm((res.images - 0.5).reshape(c, -1), axis=1)
    assert (norms > 0).all()
    rng = np.random.default_rng(0)
    for ch in range(c):
        chans = np.full(16, ch)
        noise = _rescaled(rng.uniform(-0.5, 0.5, (16, *shape)), np.full(16, norms[ch]))
        assert res.activations[ch] > layer_objective(arch, params, state, None, layer, noise, chans).max()
        real = _rescaled(real_images.astype(np.float32) / 255 - 0.5, np.full(len(real_images), norms[ch]))
        real_acts = layer_objective(arch, params, state, None, layer, real, np.full(len(real_images), ch))
        assert res.activations[ch] > real_acts.max(), (layer, ch)


def test_reported_activation_is_the_layer_value_at_the_centre(model) -> None:
    params, state = model
    norm = np.array([[0.1], [0.3]], np.float32)
    res = activation_maximization(SMALL, params, state, norm, "act1", FAST.replace(steps=8), channels=[2, 0])
    x = (res.images - 0.1) / 0.3
    _, taps, _ = apply(SMALL, params, state, jnp.asarray(x))
    t = np.asarray(taps["act1"])
    np.testing.assert_allclose(res.activations, [t[0, 14, 14, 2], t[1, 14, 14, 0]], rtol=1e-5, atol=1e-6)
    mean = layer_objective(SMALL, params, state, norm, "act1", res.images, [2, 0], objective="mean")
    np.testing.assert_allclose(mean, [t[0, ..., 2].mean(), t[1, ..., 0].mean()], rtol=1e-5, atol=1e-6)


def test_regularizer_switches_and_fourier_all_run_and_stay_in_range(model) -> None:
    params, state = model
    s = FAST.replace(steps=12, norm_clip=30.0, contrib_clip=30.0, fourier=True, objective="mean",
                     blur_every=2, blur_sigma=1.0)
    res = activation_maximization(SMALL, params, state, None, "conv2", s, channels=[1, 4])
    assert res.images.shape == (2, 28, 28, 1) and np.isfinite(res.images).all()
    assert 0.0 <= res.images.min() and res.images.max() <= 1.0
    # the percentile clips leave (at least) 30 % of the pixels grey
    assert ((res.images == 0.5).mean(axis=(1, 2, 3)) >= 0.29).all()


# Only the regularizer under test: no blur, no transformation, no decay.
PLAIN = ActMaxSettings(steps=1, learning_rate=0.01, l2_decay=0.0, blur_every=0, jitter=0.0, scale=0.0, rotate=0.0)


def _norms(images: np.ndarray) -> np.ndarray:
    return np.linalg.norm((images - 0.5).reshape(len(images), -1), axis=1)


def test_l2_decay_alone_pulls_towards_grey(model) -> None:
    params, state = model
    base = activation_maximization(SMALL, params, state, None, "act2", PLAIN)
    decayed = activation_maximization(SMALL, params, state, None, "act2", PLAIN.replace(l2_decay=0.25))
    # One step, nothing clipped: v ← (v + lr·d)·(1 − decay), the same step without decay times 0.75.
    assert 0.0 < base.images.min() and base.images.max() < 1.0
    np.testing.assert_allclose(decayed.images - 0.5, 0.75 * (base.images - 0.5), atol=1e-6)
    many = PLAIN.replace(steps=48, learning_rate=0.05)
    base = activation_maximization(SMALL, params, state, None, "act2", many)
    decayed = activation_maximization(SMALL, params, state, None, "act2", many.replace(l2_decay=0.2))
    assert (_norms(decayed.images) < 0.85 * _norms(base.images)).all()


@pytest.mark.parametrize("clip", ["norm_clip", "contrib_clip"])
@pytest.mark.parametrize("objective", ["center", "mean"])
def test_each_clip_alone_greys_its_share_of_the_pixels(model, clip, objective) -> None:
    """One step: the clip turns exactly its percentage of each image's pixels grey (for
    the norm clip: those of least |v|) and leaves the others as the unclipped step has
    them. The centre objective has no gradient outside the unit's receptive field: those
    pixels contribute nothing, and they are the first the contribution clip takes."""
    params, state = model
    s = PLAIN.replace(objective=objective)
    base = activation_maximization(SMALL, params, state, None, "act2", s).images
    clipped = activation_maximization(SMALL, params, state, None, "act2", s.replace(**{clip: 40.0})).images
    grey = clipped == 0.5
    assert not (base == 0.5).any()
    np.testing.assert_allclose(grey.mean(axis=(1, 2, 3)), int(0.4 * 28 * 28) / (28 * 28))
    np.testing.assert_array_equal(clipped[~grey], base[~grey])
    if clip == "norm_clip":
        dev = np.abs(base - 0.5)
        for i in range(len(base)):
            assert dev[i][grey[i]].max() <= dev[i][~grey[i]].min()
    many = PLAIN.replace(steps=48, learning_rate=0.05, objective=objective, **{clip: 40.0})
    after = activation_maximization(SMALL, params, state, None, "act2", many).images
    assert ((after == 0.5).mean(axis=(1, 2, 3)) >= 0.39).all()  # after every step, not only the first


def test_cancel_progress_and_no_recompile_for_numeric_settings(model) -> None:
    params, state = model
    seen: list[tuple[int, int]] = []
    res = activation_maximization(SMALL, params, state, None, "act1", FAST.replace(steps=20, progress_every=8),
                                  progress=lambda i, n: seen.append((i, n)))
    assert res is not None and seen == [(8, 20), (16, 20), (20, 20)]
    assert activation_maximization(SMALL, params, state, None, "act1", FAST, should_stop=lambda: True) is None
    step = dv._step_fn(SMALL, "act1", "center", False, False, False)
    before = step._cache_size()
    activation_maximization(SMALL, params, state, None, "act1",
                            FAST.replace(steps=4, learning_rate=0.2, l2_decay=0.1, blur_sigma=1.5, jitter=2.0))
    assert step._cache_size() == before


def test_bad_input_is_a_one_line_value_error(model) -> None:
    params, state = model
    with pytest.raises(ValueError, match="'dense1' is not a spatial layer.*conv1, act1, pool1"):
        activation_maximization(SMALL, params, state, None, "dense1")
    with pytest.raises(ValueError, match="'dense1_act' is not a spatial layer"):
        activation_maximization(SMALL, params, state, None, "dense1_act")
    with pytest.raises(ValueError, match="channels"):
        activation_maximization(SMALL, params, state, None, "act1", channels=[4])
    with pytest.raises(ValueError, match="norm"):
        activation_maximization(SMALL, params, state, np.zeros((2, 3)), "act1")
    for field, value in [("steps", 0), ("learning_rate", 0.0), ("l2_decay", 1.0), ("blur_sigma", 5.0),
                         ("norm_clip", 100.0), ("rotate", -1.0), ("objective", "max"), ("fourier", 1),
                         ("seed", -1), ("blur_every", 1.5)]:
        with pytest.raises(ValueError, match=field):
            ActMaxSettings(**{field: value})


def test_gaussian_blur_matches_numpy_edge_padded_convolution() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    sigma = 0.8
    r = dv._BLUR_RADIUS
    x = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    p = np.pad(v, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge").astype(np.float64)
    rows = sum(k[i] * p[:, i : i + 9] for i in range(2 * r + 1))
    want = sum(k[i] * rows[:, :, i : i + 11] for i in range(2 * r + 1))
    np.testing.assert_allclose(np.asarray(dv.gaussian_blur(jnp.asarray(v), sigma)), want, atol=1e-5)


def test_warp_identity_translation_and_rotation() -> None:
    rng = np.random.default_rng(2)
    img = rng.uniform(size=(1, 7, 7, 2)).astype(np.float32)
    eye = np.array([[[1, 0, 0], [0, 1, 0]]], np.float32)
    np.testing.assert_allclose(np.asarray(dv.warp(jnp.asarray(img), jnp.asarray(eye))), img, atol=1e-6)
    shift = eye.copy()
    shift[0, 0, 2], shift[0, 1, 2] = 1.0, -2.0  # output (r, c) samples input (r + 1, c - 2)
    out = np.asarray(dv.warp(jnp.asarray(img), jnp.asarray(shift)))
    np.testing.assert_allclose(out[0, :6, 2:], img[0, 1:, :5], atol=1e-6)
    np.testing.assert_allclose(out[0, 6, 2:], img[0, 6, :5], atol=1e-6)  # edge repeated
    rot = np.array([[[0, -1, 0], [1, 0, 0]]], np.float32)  # 90°: output (r, c) samples (-c, r) about the centre
    out = np.asarray(dv.warp(jnp.asarray(img), jnp.asarray(rot)))
    np.testing.assert_allclose(out[0], np.rot90(img[0], k=-1, axes=(0, 1)), atol=1e-5)
    a = dv.random_affines(np.random.default_rng(0), 100, ActMaxSettings(jitter=1.0, scale=0.1, rotate=10.0))
    det = np.linalg.det(a[:, :, :2])
    assert (np.abs(a[:, :, 2]) <= 1.0).all() and ((1 / 1.1**2 - 1e-6 <= det) & (det <= 1 / 0.9**2 + 1e-6)).all()


def test_fourier_preconditioner_scales_each_frequency_by_one_over_f_squared() -> None:
    h = w = 16
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = []
    for f in (1, 4):
        g = np.cos(2 * np.pi * f * cc / w).astype(np.float32)[None, :, :, None]
        pg = np.asarray(dv.fourier_precondition(jnp.asarray(g)))
        ratio = pg / g
        np.testing.assert_allclose(pg, g * ratio[0, 0, 0, 0], atol=1e-3 * np.abs(pg).max())
        out.append(ratio[0, 0, 0, 0])
    assert out[0] / out[1] == pytest.approx(16.0, rel=1e-3)


@pytest.mark.parametrize("arch", [
    ArchSpec(),
    ArchSpec(input_shape=(32, 32, 3), convs=(ConvLayer(4, 3, pool="none"), ConvLayer(4, 3, padding="valid"),
                                             ConvLayer(4, 3, pool="none"), ConvLayer(4, 3, padding="valid"))),
    ArchSpec(convs=(ConvLayer(5, 5, stride=2, padding="valid", pool="avg"), ConvLayer(3, 4, pool_size=3)),
             batch_norm=True, activation="tanh"),
    ArchSpec(input_shape=(13, 11, 2), convs=(ConvLayer(3, 4), ConvLayer(3, 3, stride=2, pool="none"),
                                               ConvLayer(2, 2, pool="none"))),
], ids=["default", "cifar", "strided", "odd"])
def test_centre_window_gives_the_same_centre_value_as_the_whole_image(arch) -> None:
    params, state = jax.device_get(init(arch, 0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, *arch.input_shape)).astype(np.float32))
    _, taps, _ = apply(arch, params, state, x)
    for layer in dv.spatial_layers(arch):
        (r0, r1, c0, c1), (r, c) = dv.centre_window(arch, layer)
        part = apply(arch, params, state, x[:, r0:r1, c0:c1], stop_after=layer)[1][layer]
        full = np.asarray(taps[layer])
        np.testing.assert_allclose(part[:, r, c], full[:, full.shape[1] // 2, full.shape[2] // 2],
                                   rtol=1e-5, atol=1e-5, err_msg=layer)
        start, jump, rf = dv.field_geometry(arch)[layer]
        assert r1 - r0 <= rf + jump and c1 - c0 <= rf + jump  # no bigger than the field, aligned
