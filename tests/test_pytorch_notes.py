"""The README's "Reading a checkpoint in PyTorch" claims, each checked on the model code
against a NumPy computation (so the section cannot drift from what the model does)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer
from convscope.model import init
from convscope.model.layers import ACTIVATION_FNS, batch_norm, conv2d, pool2d
from convscope.model.network import apply


def test_dense_input_is_the_last_map_flattened_in_hwc_order() -> None:
    arch = ArchSpec(input_shape=(6, 6, 2), convs=(ConvLayer(3, 3),), dense=(4,))
    params, state = init(arch, 0)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 6, 6, 2)), jnp.float32)
    _, taps, _ = apply(arch, params, state, x)
    last = np.asarray(taps["pool1"])  # (2, 3, 3, 3): H, W, C
    want = np.stack([[last[n, i, j, c] for i in range(3) for j in range(3) for c in range(3)] for n in range(2)])
    np.testing.assert_array_equal(np.asarray(taps["flatten"]), want)
    np.testing.assert_allclose(np.asarray(taps["dense1"]), want @ np.asarray(params["dense1"]["w"])
                               + np.asarray(params["dense1"]["b"]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f, s, n", [(4, 2, 5), (2, 3, 7), (3, 2, 6), (5, 1, 4)])
def test_same_padding_is_f_minus_1_with_the_extra_pixel_after_for_any_stride(f, s, n) -> None:
    rng = np.random.default_rng(f * 10 + s)
    x = rng.standard_normal((1, n, n, 1)).astype(np.float32)
    w = rng.standard_normal((f, f, 1, 1)).astype(np.float32)
    before = (f - 1) // 2
    padded = np.pad(x[0, :, :, 0], ((before, f - 1 - before),) * 2)
    out = math.ceil(n / s)
    want = np.array([[np.sum(padded[i * s : i * s + f, j * s : j * s + f] * w[:, :, 0, 0]) for j in range(out)]
                     for i in range(out)])
    got = np.asarray(conv2d(jnp.asarray(x), jnp.asarray(w), jnp.zeros(1), s, "same"))[0, :, :, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_batch_norm_eps_momentum_and_biased_running_variance() -> None:
    x = np.random.default_rng(1).standard_normal((3, 2, 2, 2)).astype(np.float32)
    mean0, var0 = np.array([0.2, -0.1], np.float32), np.array([1.5, 0.7], np.float32)
    y, mean, var = batch_norm(jnp.asarray(x), jnp.ones(2), jnp.zeros(2), jnp.asarray(mean0), jnp.asarray(var0), True)
    bm, bv = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2), ddof=0)
    np.testing.assert_allclose(np.asarray(mean), 0.9 * mean0 + 0.1 * bm, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(var), 0.9 * var0 + 0.1 * bv, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(y), (x - bm) / np.sqrt(bv + 1e-5), rtol=1e-4, atol=1e-5)
    y_eval, _, _ = batch_norm(jnp.asarray(x), jnp.ones(2), jnp.zeros(2), jnp.asarray(mean0), jnp.asarray(var0), False)
    np.testing.assert_allclose(np.asarray(y_eval), (x - mean0) / np.sqrt(var0 + 1e-5), rtol=1e-5, atol=1e-6)


def test_leaky_relu_slope_and_exact_gelu() -> None:
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.0], np.float32)
    np.testing.assert_allclose(np.asarray(ACTIVATION_FNS["leaky_relu"](jnp.asarray(x))), np.where(x >= 0, x, 0.01 * x))
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    np.testing.assert_allclose(np.asarray(ACTIVATION_FNS["gelu"](jnp.asarray(x))), exact, rtol=1e-6, atol=1e-7)


def test_max_pool_gradient_is_shared_evenly_among_tied_maxima() -> None:
    x = np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)[None, :, :, None]  # three tied maxima
    grad = jax.grad(lambda v: pool2d(v, 2, "max").sum())(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad)[0, :, :, 0], [[1 / 3, 1 / 3], [1 / 3, 0.0]], rtol=1e-6)
