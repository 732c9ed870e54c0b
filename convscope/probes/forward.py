"""``network.apply``'s evaluation path, re-stated with the hooks the probes need: the
backward pass of the activation can be replaced (guided backprop), a perturbation
added to one layer (Grad-CAM's ∂score/∂A), and the run stopped after a layer (so
activation maximization can run the conv blocks on a window of the input).
tests/test_saliency.py pins it to ``apply``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from convscope.config import ArchSpec
from convscope.model.layers import ACTIVATION_FNS, batch_norm, conv2d, pool2d


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


def hooked_forward(arch: ArchSpec, params: Any, state: Any, x: jax.Array, *, guided: bool = False,
                   hook: str | None = None, delta: jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
    """Logits of ``apply(..., train=False)`` and the value of layer ``hook`` (to which
    ``delta`` is added on the way forward, so ∂logits/∂delta = ∂logits/∂tap)."""
    logits, taps = _run(arch, params, state, x, guided, hook, delta, None)
    return logits, taps.get(hook) if hook is not None else None


def spatial_taps(arch: ArchSpec, params: Any, state: Any, x: jax.Array, upto: str) -> dict[str, jax.Array]:
    """The conv-block taps up to and including ``upto``; the rest of the model is not
    run, so ``x`` may be any window of the input (see fields.centre_window)."""
    return _run(arch, params, state, x, False, None, None, upto)[1]


def _conv_stages(arch: ArchSpec, params: Any, state: Any,
                 act: Callable[[jax.Array], jax.Array]) -> list[tuple[str, Callable[[jax.Array], jax.Array]]]:
    """The conv blocks as (tap name, function) in forward order."""
    stages: list[tuple[str, Callable[[jax.Array], jax.Array]]] = []
    for i, conv in enumerate(arch.convs, start=1):
        p = params[f"conv{i}"]
        stages.append((f"conv{i}", functools.partial(_conv, p=p, stride=conv.stride, padding=conv.padding)))
        if arch.batch_norm:
            stages.append((f"bn{i}", functools.partial(_bn, p=params[f"bn{i}"], st=state[f"bn{i}"])))
        stages.append((f"act{i}", act))
        if conv.pool != "none" and conv.pool_size > 1:
            stages.append((f"pool{i}", functools.partial(pool2d, size=conv.pool_size, kind=conv.pool)))
    return stages


def _conv(x: jax.Array, p: Any, stride: int, padding: str) -> jax.Array:
    return conv2d(x, p["w"], p["b"], stride, padding)


def _bn(x: jax.Array, p: Any, st: Any) -> jax.Array:
    return batch_norm(x, p["gamma"], p["beta"], st["mean"], st["var"], False)[0]


def _run(arch: ArchSpec, params: Any, state: Any, x: jax.Array, guided: bool, hook: str | None,
         delta: jax.Array | None, upto: str | None) -> tuple[jax.Array | None, dict[str, jax.Array]]:
    act = ACTIVATION_FNS[arch.activation]
    if guided:
        act = guided_activation(act)
    taps: dict[str, jax.Array] = {}
    for name, fn in _conv_stages(arch, params, state, act):
        x = taps[name] = fn(x)
        if name == upto:
            return None, taps
        if name == hook and delta is not None:
            x = x + delta
    x = x.reshape(x.shape[0], -1)
    for j, _ in enumerate(arch.dense, start=1):
        p = params[f"dense{j}"]
        x = act(x @ p["w"] + p["b"])
    p = params["logits"]
    return x @ p["w"] + p["b"], taps
