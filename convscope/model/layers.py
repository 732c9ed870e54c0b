"""Layer functions in NHWC layout: convolution, pooling, activations, batch norm, dropout.

Chosen for speed on XLA:CPU (see shared/PERFORMANCE.md): non-overlapping pooling is a
reshape + max/mean, whose gradient is ~6× cheaper than ``lax.reduce_window``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from convscope.shapes import same_padding

Array = jax.Array

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv2d(x: Array, w: Array, b: Array, stride: int, padding: str) -> Array:
    """x: (N, H, W, D), w: (F, F, D, K), b: (K,) → (N, H', W', K)."""
    k = w.shape[0]
    pad = [same_padding(k)] * 2 if padding == "same" else [(0, 0), (0, 0)]
    y = lax.conv_general_dilated(x, w, (stride, stride), pad, dimension_numbers=_DIMS)
    return y + b


def pool2d(x: Array, size: int, kind: str) -> Array:
    """Non-overlapping ``size``×``size`` pooling with stride ``size`` (floor: the ragged
    bottom/right edge is dropped, as in Keras and PyTorch)."""
    if size <= 1 or kind == "none":
        return x
    n, h, w, c = x.shape
    ho, wo = h // size, w // size
    x = x[:, : ho * size, : wo * size, :].reshape(n, ho, size, wo, size, c)
    if kind == "max":
        return x.max(axis=(2, 4))
    return x.mean(axis=(2, 4))


def leaky_relu(x: Array) -> Array:
    return jnp.where(x >= 0, x, 0.01 * x)


ACTIVATION_FNS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "leaky_relu": leaky_relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "elu": jax.nn.elu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
}


def batch_norm(
    x: Array,
    gamma: Array,
    beta: Array,
    mean: Array,
    var: Array,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[Array, Array, Array]:
    """Normalise over every axis but the channels; returns (y, new_mean, new_var)."""
    if train:
        axes = tuple(range(x.ndim - 1))
        bmean = x.mean(axis=axes)
        bvar = x.var(axis=axes)
        new_mean = momentum * mean + (1 - momentum) * lax.stop_gradient(bmean)
        new_var = momentum * var + (1 - momentum) * lax.stop_gradient(bvar)
        y = (x - bmean) * lax.rsqrt(bvar + eps)
    else:
        new_mean, new_var = mean, var
        y = (x - mean) * lax.rsqrt(var + eps)
    return y * gamma + beta, new_mean, new_var


def dropout(x: Array, rate: Array | float, key: Array | None) -> Array:
    """Inverted dropout; ``rate`` may be traced so changing it never recompiles."""
    if key is None:
        return x
    keep = 1.0 - rate
    mask = jax.random.uniform(key, x.shape) < keep
    return jnp.where(mask, x / jnp.maximum(keep, 1e-6), 0.0)


def guided_activation(fn: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """``fn`` whose backward pass lets only positive gradients through.

    For ReLU this is guided backprop exactly: g·[x > 0]·[g > 0]. For other activations
    the same gate is put on the incoming gradient and the local derivative kept:
    fn'(x)·max(g, 0) (for leaky ReLU: 1 or 0.01 where g > 0; for tanh, sigmoid, ELU,
    GELU the smooth derivative), the natural generalisation of the rule.
    """

    @jax.custom_vjp
    def f(x):
        return fn(x)

    def fwd(x):
        return fn(x), x

    def bwd(x, g):
        _, vjp = jax.vjp(fn, x)
        return vjp(jnp.maximum(g, 0.0))

    f.defvjp(fwd, bwd)
    return f
