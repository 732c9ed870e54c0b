"""The CNN as data: ``init(spec, key)`` builds the parameters, ``apply`` runs them.

``apply`` returns the logits *and* every intermediate output by name (the taps the
panels draw), in forward order; names match ``convscope.shapes.layer_table``. Under
``jit`` the taps nobody uses are dead code and cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from convscope.config import ArchSpec
from convscope.model.arrays import to_device
from convscope.model.layers import ACTIVATION_FNS, batch_norm, conv2d, dropout, guided_activation, pool2d
from convscope.shapes import layer_table

Array = jax.Array
Params = dict[str, dict[str, Array]]

GAUSSIAN_STD = 0.01  # the classic "0.01 * randn" initialisation


def init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the normal distribution each initialisation draws from."""
    return {
        "zeros": 0.0,
        "gaussian": GAUSSIAN_STD,
        "xavier": math.sqrt(2.0 / (fan_in + fan_out)),
        "he": math.sqrt(2.0 / fan_in),
    }[scheme]


def _weight(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int, scheme: str) -> Array:
    # NumPy draws in milliseconds; jax.random on the CPU compiles for seconds per shape.
    std = init_std(scheme, fan_in, fan_out)
    return to_device(std * rng.standard_normal(shape, dtype=np.float32))


def _full(shape: tuple[int, ...], value: float) -> Array:
    # From NumPy, like the weights: jnp.zeros/ones compile a small program per shape.
    return to_device(np.full(shape, value, np.float32))


def init(spec: ArchSpec, seed: int | np.random.Generator = 0) -> tuple[Params, Params]:
    """Parameters and batch-norm running statistics ("state") for ``spec``.

    Weights are drawn with the initialisation ``spec.init`` names; the classifier layer
    of a He-initialised net uses Xavier, as the classifier is not followed by a ReLU.
    Biases start at zero, batch norm at the identity.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params: Params = {}
    state: Params = {}
    h, w, d = spec.input_shape
    rows = {row.name: row for row in layer_table(spec)}
    for i, conv in enumerate(spec.convs, start=1):
        f, k = conv.kernel, conv.filters
        params[f"conv{i}"] = {
            "w": _weight(rng, (f, f, d, k), f * f * d, f * f * k, spec.init),
            "b": _full((k,), 0.0),
        }
        if spec.batch_norm:
            params[f"bn{i}"] = {"gamma": _full((k,), 1.0), "beta": _full((k,), 0.0)}
            state[f"bn{i}"] = {"mean": _full((k,), 0.0), "var": _full((k,), 1.0)}
        d = k
    units = rows["flatten"].shape[0]
    for j, width in enumerate(spec.dense, start=1):
        params[f"dense{j}"] = {
            "w": _weight(rng, (units, width), units, width, spec.init),
            "b": _full((width,), 0.0),
        }
        units = width
    params["logits"] = {
        "w": _weight(rng, (units, spec.num_classes), units, spec.num_classes,
                     "xavier" if spec.init == "he" else spec.init),
        "b": _full((spec.num_classes,), 0.0),
    }
    return params, state


def apply(
    spec: ArchSpec,
    params: Params,
    state: Params,
    x: Array,
    *,
    train: bool = False,
    dropout_rate: Array | float = 0.0,
    key: Array | None = None,
    guided: bool = False,
    perturb: Mapping[str, Array] | None = None,
    stop_after: str | None = None,
    bn_frozen: Mapping[str, Array] | None = None,
) -> tuple[Array | None, dict[str, Array], Params]:
    """Forward pass on a float batch ``x`` of shape (N, H, W, C).

    Returns ``(logits, taps, new_state)``; dropout (after each hidden dense layer) is
    active only when ``train`` and a ``key`` are given. The layers and their tap names
    are :func:`convscope.shapes.layer_table`'s rows, the one list of them.

    The hooks the probes need (all off by default, none costs anything when off):

    * ``guided`` — every activation's backward pass lets only positive gradients
      through (guided backprop; :func:`convscope.model.layers.guided_activation`);
    * ``perturb`` — ``{tap: delta}``: ``delta`` is added to that layer's output on the
      way forward (the tap keeps the value before it), so ∂logits/∂delta = ∂logits/∂tap
      (Grad-CAM);
    * ``stop_after`` — return right after that tap, logits ``None``: the rest of the
      model is not run, so for a conv-block tap ``x`` may be any window of the input
      (activation maximization on the centre's receptive field, ``probes/fields.py``);
    * ``bn_frozen`` — ``{bn layer: traced bool}``: in training, a frozen batch norm
      normalises with its running statistics and keeps them (``train/freeze.py``).
    """
    act = ACTIVATION_FNS[spec.activation]
    if guided:
        act = guided_activation(act)
    perturb = perturb or {}
    taps: dict[str, Array] = {}
    new_state: Params = {}
    drop_keys = (
        list(jax.random.split(key, len(spec.dense))) if (train and key is not None and spec.dense) else None
    )
    conv, dense_index = None, 0
    for row in layer_table(spec)[1:]:  # after "input"
        name, kind = row.name, row.kind
        if kind == "conv":
            conv, p = spec.convs[int(name[4:]) - 1], params[name]
            x = conv2d(x, p["w"], p["b"], conv.stride, conv.padding)
        elif kind == "bn":
            bn, st = params[name], state[name]
            y, mean, var = batch_norm(x, bn["gamma"], bn["beta"], st["mean"], st["var"], train)
            if train and bn_frozen is not None and name in bn_frozen:
                fixed, _, _ = batch_norm(x, bn["gamma"], bn["beta"], st["mean"], st["var"], False)
                y = jnp.where(bn_frozen[name], fixed, y)
                mean = jnp.where(bn_frozen[name], st["mean"], mean)
                var = jnp.where(bn_frozen[name], st["var"], var)
            x = y
            new_state[name] = {"mean": mean, "var": var}
        elif kind == "act":
            x = act(x)
        elif kind == "pool":
            x = pool2d(x, conv.pool_size, conv.pool)
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind in ("dense", "logits"):
            if drop_keys is not None and dense_index > 0:  # after the previous dense layer's activation
                x = dropout(x, dropout_rate, drop_keys[dense_index - 1])
            dense_index += 1
            p = params[name]
            x = x @ p["w"] + p["b"]
        else:  # a kind layer_table makes and apply does not know: fail loudly, never skip it
            raise ValueError(f"apply: no rule for layer {name!r} of kind {kind!r}")
        taps[name] = x
        if name == stop_after:
            return None, taps, new_state
        if name in perturb:
            x = x + perturb[name]
    return x, taps, new_state


def preprocess(x_uint8: Array, mean: Array | float, std: Array | float) -> Array:
    """uint8 images → the float tensor the model sees: scaled to [0, 1], then standardised."""
    return (x_uint8.astype(jnp.float32) / 255.0 - mean) / std


def count_params(params: Params) -> int:
    return int(sum(np.prod(a.shape) for layer in params.values() for a in layer.values()))
