"""The invariance sweeps (probes/invariance.py) against independent computations: the
identity is exactly 0, a whole-pixel shift moves the image (and a stride-1 conv layer's
maps) by exactly that shift, the distances are those of separate forward passes
computed in NumPy, and bad input is a ValueError."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer
from convscope.model import init
from convscope.probes import invariance as inv
from convscope.probes.inspect import Inspector

ARCH = ArchSpec(input_shape=(12, 12, 1), convs=(ConvLayer(3, 3, pool="max"), ConvLayer(4, 3, pool="none")),
                dense=(6,), num_classes=4)


@pytest.fixture(scope="module")
def model():
    params, state = jax.device_get(init(ARCH, 3))
    rng = np.random.default_rng(0)
    image = np.zeros((12, 12, 1), np.uint8)
    image[3:9, 4:8] = rng.integers(60, 256, (6, 4, 1))  # a blob on black, like a digit
    return params, state, image


def test_sweep_values_hold_the_identity_exactly_and_span_the_ranges() -> None:
    for kind, want in (("shift_x", 0.0), ("shift_y", 0.0), ("scale", 1.0), ("rotate", 0.0)):
        values, i = inv.sweep_values(kind, (28, 28, 1))
        assert values[i] == want and np.all(np.diff(values) > 0), kind
    assert list(inv.sweep_values("shift_x", (28, 28, 1))[0][[0, -1]]) == [-14, 14]
    assert list(inv.sweep_values("scale", (28, 28, 1))[0][[0, -1]]) == [0.5, 1.5]
    assert list(inv.sweep_values("rotate", (28, 28, 1))[0][[0, -1]]) == [-180, 180]
    big, _ = inv.sweep_values("shift_y", (224, 100, 3))
    assert len(big) <= inv.MAX_SHIFT_STEPS and big[-1] <= 112 and np.all(big == np.round(big))


@pytest.mark.parametrize("kind", inv.KINDS)
def test_the_distance_at_the_identity_is_exactly_zero(model, kind) -> None:
    params, state, image = model
    s = inv.sweep(ARCH, params, state, None, image, kind)
    np.testing.assert_array_equal(s.images[s.identity], image.astype(np.float32))
    for layer, d in s.distances.items():
        assert d[s.identity] == 0.0, layer
        assert np.all(np.isfinite(d)) and np.all(d >= 0), layer
    assert list(s.distances) == inv.feature_layers(ARCH)
    np.testing.assert_allclose(s.probs.sum(axis=1), 1.0, rtol=1e-5)


def test_a_whole_pixel_shift_moves_the_image_and_a_stride_one_conv_map_by_the_same_shift(model) -> None:
    params, state, image = model
    s = inv.sweep(ARCH, params, state, None, image, "shift_x")
    inspector = Inspector(ARCH)
    base = inspector.run(params, state, None, image).taps["conv1"]
    for dx in (-3, 2):
        i = int(np.flatnonzero(s.values == dx)[0])
        expected = np.zeros_like(image, np.float32)  # black fill: the border is black
        if dx > 0:
            expected[:, dx:] = image[:, :-dx]
        else:
            expected[:, :dx] = image[:, -dx:]
        np.testing.assert_array_equal(s.images[i], expected)
        moved = inspector.run(params, state, None, s.images[i].astype(np.uint8)).taps["conv1"]
        # Away from the borders a 3×3 "same" convolution of the shifted image is the
        # shifted convolution: interior columns where neither sees padding or fill.
        lo, hi = 1 + max(dx, 0), 11 + min(dx, 0)
        np.testing.assert_allclose(moved[1:-1, lo:hi], base[1:-1, lo - dx:hi - dx], rtol=1e-5, atol=1e-6)
    vertical = inv.sweep(ARCH, params, state, None, image, "shift_y")
    i = int(np.flatnonzero(vertical.values == 2)[0])
    np.testing.assert_array_equal(vertical.images[i][2:], image[:-2].astype(np.float32))


def test_distances_and_probabilities_match_separate_forward_passes(model) -> None:
    params, state, image = model
    s = inv.sweep(ARCH, params, state, None, image, "rotate", label=2)
    # The reference runs the float copies the sweep made, one by one, through apply.
    from convscope.model.network import apply

    ref_taps = {}
    for k in range(len(s.values)):
        x = s.images[k][None] / 255.0
        logits, taps, _ = apply(ARCH, params, state, x, train=False)
        for name in s.distances:
            ref_taps.setdefault(name, []).append(np.asarray(taps[name]).reshape(-1))
        np.testing.assert_allclose(s.probs[k], np.asarray(jax.nn.softmax(logits))[0], rtol=1e-4, atol=1e-6)
    for name, rows in ref_taps.items():
        f = np.asarray(rows, np.float64)
        ref = f[s.identity]
        want = np.linalg.norm(f - ref, axis=1) / np.linalg.norm(ref)
        np.testing.assert_allclose(s.distances[name], want, rtol=1e-3, atol=1e-5, err_msg=name)
    assert s.target == 2 and s.target_is_label
    np.testing.assert_allclose(s.target_probs, s.probs[:, 2])


def test_a_quarter_turn_is_numpys_rot90_and_a_half_scale_shrinks_about_the_centre(model) -> None:
    params, state, image = model
    s = inv.sweep(ARCH, params, state, None, image, "rotate")
    i = int(np.flatnonzero(s.values == 90)[0])
    np.testing.assert_allclose(s.images[i], np.rot90(image.astype(np.float32), 1), atol=1e-3)
    scale = inv.sweep(ARCH, params, state, None, image, "scale")
    half = scale.images[0]  # ×0.5: the blob shrinks towards the centre, the rim is fill
    assert scale.values[0] == 0.5 and half[:2].max() == 0 and half[-2:].max() == 0
    assert half[4:8, 4:8].max() > 0


def test_the_predicted_class_is_followed_without_a_label(model) -> None:
    params, state, image = model
    s = inv.sweep(ARCH, params, state, None, image, "scale")
    probs = Inspector(ARCH).run(params, state, None, image).probs
    assert s.target == int(np.argmax(probs)) and not s.target_is_label
    np.testing.assert_allclose(s.probs[s.identity], probs, rtol=1e-4, atol=1e-6)


def test_bad_input_is_a_value_error(model) -> None:
    params, state, image = model
    cases = [
        (dict(image=image[:10]), "input shape"),
        (dict(image=image.astype(np.float32)), "uint8"),
        (dict(kind="shear"), "unknown transformation"),
        (dict(layers=["conv9"]), "no layer"),
        (dict(label=7), "not one of"),
        (dict(norm=np.zeros((2, 3), np.float32)), "norm"),
    ]
    for change, message in cases:
        kw = dict(image=image, kind="shift_x", norm=None) | change
        with pytest.raises(ValueError, match=message):
            inv.sweep(ARCH, params, state, kw.pop("norm"), kw.pop("image"), kw.pop("kind"), **kw)
