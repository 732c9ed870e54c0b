"""convscope.model.layers against plain-NumPy references and hand-computed numbers.

The ``np_*`` functions below are deliberately naive loops written from the textbook
definitions; test_network.py reuses them for a whole-network reference forward pass.
Nothing here asks the code under test for an expected value.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.model import layers
from convscope.model.layers import ACTIVATION_FNS

# One compilation per shape instead of one per primitive (eager dispatch compiles each op).
conv2d = jax.jit(layers.conv2d, static_argnums=(3, 4))
pool2d = jax.jit(layers.pool2d, static_argnums=(1, 2))
batch_norm = jax.jit(layers.batch_norm, static_argnames=("train", "momentum", "eps"))
dropout = jax.jit(layers.dropout)

# --- NumPy references (shared with test_network.py) -----------------------------------


def np_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Cross-correlation, x: (N, H, W, D), w: (F, F, D, K), b: (K,) → (N, H', W', K).

    "same" pads F - 1 pixels in total per axis, the odd one at the bottom/right.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    f = w.shape[0]
    if padding == "same":
        before = (f - 1) // 2
        after = f - 1 - before
        x = np.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
    elif padding != "valid":
        raise AssertionError(padding)
    n, h, wd, _ = x.shape
    ho = (h - f) // stride + 1
    wo = (wd - f) // stride + 1
    out = np.zeros((n, ho, wo, w.shape[3]))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * stride : i * stride + f, j * stride : j * stride + f, :]
            for k in range(w.shape[3]):
                out[:, i, j, k] = (patch * w[:, :, :, k]).sum(axis=(1, 2, 3)) + b[k]
    return out


def np_pool2d(x: np.ndarray, size: int, kind: str) -> np.ndarray:
    """Non-overlapping size×size windows with stride size; a ragged edge is dropped."""
    if kind == "none" or size <= 1:
        return np.asarray(x, np.float64)
    n, h, w, c = x.shape
    ho, wo = h // size, w // size
    out = np.zeros((n, ho, wo, c))
    reduce = np.max if kind == "max" else np.mean
    for i in range(ho):
        for j in range(wo):
            window = x[:, i * size : (i + 1) * size, j * size : (j + 1) * size, :]
            out[:, i, j, :] = reduce(window, axis=(1, 2))
    return out


_erf = np.vectorize(math.erf)

NP_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
}

NP_DERIVATIVES = {
    "relu": lambda x: (x > 0).astype(np.float64),
    "leaky_relu": lambda x: np.where(x > 0, 1.0, 0.01),
    "tanh": lambda x: 1.0 - np.tanh(x) ** 2,
    "sigmoid": lambda x: np.exp(-x) / (1.0 + np.exp(-x)) ** 2,
    "elu": lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
    "gelu": lambda x: (
        0.5 * (1.0 + _erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    ),
}


def np_batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel batch norm; the running statistics move toward the (biased) batch ones."""
    x = np.asarray(x, np.float64)
    flat = x.reshape(-1, x.shape[-1])
    if train:
        m = flat.mean(axis=0)
        v = ((flat - m) ** 2).mean(axis=0)
        new_mean = momentum * mean + (1 - momentum) * m
        new_var = momentum * var + (1 - momentum) * v
    else:
        m, v = mean, var
        new_mean, new_var = mean, var
    y = (x - m) / np.sqrt(v + eps) * gamma + beta
    return y, new_mean, new_var


# --- convolution ------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
def test_conv2d_matches_numpy_loop(kernel: int, stride: int, padding: str) -> None:
    rng = np.random.default_rng(100 * kernel + 10 * stride + len(padding))
    # Non-square map and odd sizes so an H/W mix-up or an off-by-one cannot hide.
    x = rng.standard_normal((2, 9, 7, 3)).astype(np.float32)
    w = rng.standard_normal((kernel, kernel, 3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    got = np.asarray(conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), stride, padding))
    want = np_conv2d(x, w, b, stride, padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# A 4×4 image and the 3×3 Prewitt vertical-edge kernel; the outputs below were worked
# out by hand: out[i, j] = Σ_rows (x[r, j-1] - x[r, j+1]) over the 3×3 window.
EDGE_IMAGE = np.array(
    [
        [1, 2, 0, 3],
        [4, 1, 2, 0],
        [0, 3, 1, 2],
        [2, 0, 4, 1],
    ],
    np.float32,
)
PREWITT_X = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], np.float32)


def _edge(stride: int, padding: str, bias: float = 0.0) -> np.ndarray:
    x = jnp.asarray(EDGE_IMAGE[None, :, :, None])
    w = jnp.asarray(PREWITT_X[:, :, None, None])
    return np.asarray(conv2d(x, w, jnp.full((1,), bias, jnp.float32), stride, padding))[0, :, :, 0]


def test_conv2d_hand_computed_vertical_edge() -> None:
    np.testing.assert_array_equal(_edge(1, "valid"), [[2, 1], [-1, 1]])
    np.testing.assert_array_equal(
        _edge(1, "same"),
        [
            [-3, 3, 0, 2],
            [-6, 2, 1, 3],
            [-4, -1, 1, 7],
            [-3, -3, 0, 5],
        ],
    )
    np.testing.assert_array_equal(_edge(2, "same"), [[-3, 0], [-4, 1]])
    np.testing.assert_array_equal(_edge(2, "valid"), [[2]])
    np.testing.assert_array_equal(_edge(1, "valid", bias=0.5), [[2.5, 1.5], [-0.5, 1.5]])


def test_conv2d_even_kernel_same_pads_bottom_right() -> None:
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 3, 4, 1)
    top_left = np.array([[1, 0], [0, 0]], np.float32)[:, :, None, None]
    bottom_right = np.array([[0, 0], [0, 1]], np.float32)[:, :, None, None]
    zero = jnp.zeros((1,), jnp.float32)
    # The window of output (i, j) starts at input (i, j): picking its top-left is the identity.
    got = np.asarray(conv2d(jnp.asarray(x), jnp.asarray(top_left), zero, 1, "same"))
    np.testing.assert_array_equal(got, x)
    # ... and its bottom-right reads (i+1, j+1), which is padding on the last row/column.
    got = np.asarray(conv2d(jnp.asarray(x), jnp.asarray(bottom_right), zero, 1, "same"))[0, :, :, 0]
    np.testing.assert_array_equal(got, [[6, 7, 8, 0], [10, 11, 12, 0], [0, 0, 0, 0]])


def test_conv2d_mixes_channels_like_hwio() -> None:
    # One pixel, two input channels, three filters: a 1×1 conv is a matrix product.
    x = np.array([[[[2.0, 3.0]]]], np.float32)
    w = np.array([[[[1.0, 0.0, 10.0], [0.0, 1.0, 100.0]]]], np.float32)
    b = np.array([0.0, 0.5, -1.0], np.float32)
    got = np.asarray(conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), 1, "valid"))
    np.testing.assert_array_equal(got.reshape(-1), [2.0, 3.5, 319.0])


# --- pooling ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("size", [2, 3, 4])
def test_pool2d_matches_numpy_loop(size: int, kind: str) -> None:
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 7, 9, 3)).astype(np.float32)  # 7 and 9: ragged for every size
    got = np.asarray(pool2d(jnp.asarray(x), size, kind))
    want = np_pool2d(x, size, kind)
    assert got.shape == (2, 7 // size, 9 // size, 3)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_pool2d_hand_computed_drops_ragged_edge() -> None:
    x = np.array(
        [
            [1, 5, 2, 9, 7],
            [3, 0, 4, 1, 7],
            [8, 8, 8, 8, 7],
        ],
        np.float32,
    )[None, :, :, None]
    mx = np.asarray(pool2d(jnp.asarray(x), 2, "max"))[0, :, :, 0]
    avg = np.asarray(pool2d(jnp.asarray(x), 2, "avg"))[0, :, :, 0]
    np.testing.assert_array_equal(mx, [[5, 9]])
    np.testing.assert_array_equal(avg, [[2.25, 4.0]])


@pytest.mark.parametrize(("size", "kind"), [(1, "max"), (1, "avg"), (2, "none")])
def test_pool2d_identity_cases(size: int, kind: str) -> None:
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(pool2d(jnp.asarray(x), size, kind)), x)


# --- activations ------------------------------------------------------------------------

# Away from the kinks at 0 of relu, leaky relu and elu.
_XS = np.concatenate([np.linspace(-5.0, -0.05, 40), np.linspace(0.05, 5.0, 40)]).astype(np.float32)


def test_every_activation_has_a_reference() -> None:
    assert set(ACTIVATION_FNS) == set(NP_ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(NP_ACTIVATIONS))
def test_activation_values(name: str) -> None:
    got = np.asarray(jax.jit(ACTIVATION_FNS[name])(jnp.asarray(_XS)))
    want = NP_ACTIVATIONS[name](_XS.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(NP_ACTIVATIONS))
def test_activation_derivatives(name: str) -> None:
    # Elementwise, so the gradient of the sum is the vector of derivatives.
    got = np.asarray(jax.jit(jax.grad(lambda x: jnp.sum(ACTIVATION_FNS[name](x))))(jnp.asarray(_XS)))
    want = NP_DERIVATIVES[name](_XS.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_activation_hand_values() -> None:
    x = jnp.asarray([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(np.asarray(ACTIVATION_FNS["relu"](x)), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(np.asarray(ACTIVATION_FNS["leaky_relu"](x)), [-0.02, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ACTIVATION_FNS["sigmoid"](x))[1], 0.5)
    # Exact (erf) GELU, not the tanh approximation: they differ by ~1e-4 near |x| = 2.
    np.testing.assert_allclose(float(ACTIVATION_FNS["gelu"](jnp.float32(-2.0))), -0.0455003, rtol=1e-5)


# --- batch norm -------------------------------------------------------------------------


def _bn_inputs(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    # Per-channel offsets and scales, so pooling the statistics over channels would show.
    x = (rng.standard_normal((4, 3, 5, 3)) * [1.0, 3.0, 0.2] + [0.0, -2.0, 5.0]).astype(np.float32)
    gamma = np.array([1.5, 0.5, -1.0], np.float32)
    beta = np.array([0.1, -0.3, 2.0], np.float32)
    mean = np.array([0.2, -1.0, 4.0], np.float32)
    var = np.array([1.0, 4.0, 0.5], np.float32)
    return x, gamma, beta, mean, var


@pytest.mark.parametrize(("momentum", "eps"), [(None, None), (0.8, 1e-3)])
def test_batch_norm_train_matches_numpy(momentum: float | None, eps: float | None) -> None:
    x, gamma, beta, mean, var = _bn_inputs()
    kwargs = {} if momentum is None else {"momentum": momentum, "eps": eps}
    y, new_mean, new_var = batch_norm(*map(jnp.asarray, (x, gamma, beta, mean, var)), train=True, **kwargs)
    ref_kwargs = {"momentum": 0.9, "eps": 1e-5} if momentum is None else kwargs
    want_y, want_mean, want_var = np_batch_norm(x, gamma, beta, mean, var, True, **ref_kwargs)
    np.testing.assert_allclose(np.asarray(y), want_y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(new_mean), want_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(new_var), want_var, rtol=1e-5, atol=1e-5)
    # Normalised per channel: each channel of (y - beta) / gamma has mean 0, variance ~1.
    z = (want_y - beta) / gamma
    np.testing.assert_allclose(z.reshape(-1, 3).mean(axis=0), 0.0, atol=1e-6)


def test_batch_norm_eval_uses_running_stats() -> None:
    x, gamma, beta, mean, var = _bn_inputs(1)
    y, new_mean, new_var = batch_norm(*map(jnp.asarray, (x, gamma, beta, mean, var)), train=False)
    want = (x.astype(np.float64) - mean) / np.sqrt(var.astype(np.float64) + 1e-5) * gamma + beta
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(new_mean), mean)
    np.testing.assert_array_equal(np.asarray(new_var), var)


def test_batch_norm_running_stats_get_no_gradient() -> None:
    x, gamma, beta, mean, var = map(jnp.asarray, _bn_inputs(2))

    def running_sum(x: jax.Array) -> jax.Array:
        _, m, v = layers.batch_norm(x, gamma, beta, mean, var, train=True)
        return jnp.sum(m) + jnp.sum(v)

    np.testing.assert_array_equal(np.asarray(jax.jit(jax.grad(running_sum))(x)), 0.0)


# --- dropout ----------------------------------------------------------------------------


def test_dropout_rate_zero_and_no_key_are_identity() -> None:
    x = jnp.asarray(np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(dropout(x, 0.0, jax.random.key(0))), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(layers.dropout(x, 0.5, None)), np.asarray(x))


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.8])
def test_dropout_keeps_fraction_and_rescales(rate: float) -> None:
    n = 200_000
    x = np.random.default_rng(1).uniform(0.5, 1.5, n).astype(np.float32)
    y = np.asarray(dropout(jnp.asarray(x), rate, jax.random.key(7)))
    kept = y != 0
    # Binomial: the kept fraction is within ~5 standard deviations of 1 - rate.
    sd = math.sqrt(rate * (1 - rate) / n)
    assert abs(kept.mean() - (1 - rate)) < 5 * sd
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-5)
    # Inverted dropout preserves the mean (x has mean 1, sd ~0.29).
    assert abs(y.mean() - x.mean()) < 0.02
    # A different key drops different units, the same key the same ones.
    assert not np.array_equal(np.asarray(dropout(jnp.asarray(x), rate, jax.random.key(8))) != 0, kept)
    np.testing.assert_array_equal(np.asarray(dropout(jnp.asarray(x), rate, jax.random.key(7))), y)
