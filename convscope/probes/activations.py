"""Activation functions, their derivatives, and how the units of a layer are doing.

Definitions (the Activations panel states them):

* **Dead unit** — a channel (conv layers) or neuron (dense layers) whose pre-activation
  is never positive over the whole batch and all spatial positions. For ReLU its
  output and gradient are then zero everywhere. The same test is applied to leaky
  ReLU, ELU and GELU (there the unit is "stuck on the flat negative side", with a
  small or vanishing gradient); sigmoid and tanh units are never counted dead.
* **Saturated unit** — for sigmoid and tanh only: a unit whose derivative is below
  ``SATURATION_RATIO`` (5%) of the function's largest derivative on more than
  ``SATURATION_SHARE`` (99%) of its inputs (batch × positions). For tanh that means
  |x| > 2.18, for sigmoid |x| > 4.36.

Fractions are over units (channels or neurons) of a layer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from convscope.config import ArchSpec
from convscope.model.layers import ACTIVATION_FNS

SATURATION_RATIO = 0.05
SATURATION_SHARE = 0.99
RELU_FAMILY = ("relu", "leaky_relu", "elu", "gelu")
SATURATING = ("tanh", "sigmoid")


@dataclass(frozen=True)
class UnitStats:
    dead_fraction: float
    saturated_fraction: float


@functools.cache
def _curve_fn(name: str) -> Callable:
    f = ACTIVATION_FNS[name]

    def both(x):
        return f(x), jax.vmap(jax.grad(f))(x)

    return jax.jit(both)


def activation_curve(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f'(x) for the model's own activation ``name`` (derivative by jax.grad),
    as float32 arrays of x's shape. At a kink (ReLU at 0) the value is JAX's choice."""
    if name not in ACTIVATION_FNS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATION_FNS)}")
    x = np.asarray(x, np.float32)
    y, dy = jax.device_get(_curve_fn(name)(jnp.asarray(x.reshape(-1))))
    return np.asarray(y).reshape(x.shape), np.asarray(dy).reshape(x.shape)


def activation_layers(arch: ArchSpec) -> list[tuple[str, str]]:
    """(pre-activation tap, activation tap) for every conv block, then every dense layer."""
    pairs = [(f"bn{i}" if arch.batch_norm else f"conv{i}", f"act{i}") for i in range(1, len(arch.convs) + 1)]
    pairs += [(f"dense{j}", f"dense{j}_act") for j in range(1, len(arch.dense) + 1)]
    return pairs


def preactivation_name(arch: ArchSpec, block: int) -> str:
    """The tap feeding the ``block``-th activation layer, counted from 1 in forward order:
    blocks 1…len(convs) are the conv blocks ("conv1", or "bn1" with batch norm), the
    following ones the dense layers ("dense1", …)."""
    pairs = activation_layers(arch)
    if not 1 <= block <= len(pairs):
        raise ValueError(f"block must be in [1, {len(pairs)}], got {block}")
    return pairs[block - 1][0]


def saturation_threshold(name: str) -> float:
    """|x| beyond which f'(x) < SATURATION_RATIO · max f' (tanh, sigmoid)."""
    r = SATURATION_RATIO
    if name == "tanh":  # 1 - tanh² < r  ⇔  |tanh x| > √(1 - r)
        return math.atanh(math.sqrt(1.0 - r))
    if name == "sigmoid":  # s(1 - s) < r/4  ⇔  s > (1 + √(1 - r)) / 2
        s = (1.0 + math.sqrt(1.0 - r)) / 2.0
        return math.log(s / (1.0 - s))
    raise ValueError(f"{name} does not saturate")


def unit_stats(arch: ArchSpec, taps_batch: dict[str, np.ndarray]) -> dict[str, UnitStats]:
    """Dead and saturated fractions per activation layer (keyed by the activation tap,
    e.g. "act1", "dense1_act") from pre-activations with a batch axis: (N, H, W, C) or
    (N, units). Layers whose pre-activation is not in ``taps_batch`` are skipped."""
    out: dict[str, UnitStats] = {}
    for pre_name, act_name in activation_layers(arch):
        if pre_name not in taps_batch:
            continue
        pre = np.asarray(taps_batch[pre_name])
        units = pre.reshape(-1, pre.shape[-1])  # (inputs, units)
        dead = saturated = 0.0
        if units.shape[0] and units.shape[1]:
            if arch.activation in RELU_FAMILY:
                dead = float(np.mean(units.max(axis=0) <= 0))
            else:
                beyond = np.abs(units) > saturation_threshold(arch.activation)
                saturated = float(np.mean(beyond.mean(axis=0) > SATURATION_SHARE))
        out[act_name] = UnitStats(dead_fraction=dead, saturated_fraction=saturated)
    return out


def histogram(
    values: np.ndarray, bins: int = 60, range_: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of the finite values; without a range, their min..max (widened
    by 0.5 each way when all values are equal or there are none)."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if range_ is None:
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        range_ = (lo, hi)
    counts, edges = np.histogram(v, bins=bins, range=range_)
    return counts, edges
