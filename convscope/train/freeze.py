"""Frozen layers: which parameter layers a step may change, as a traced mask.

``TrainConfig.frozen`` names conv blocks (``conv2``: its kernel, its bias *and* its batch
norm's scale, shift and running statistics), hidden dense layers and the classifier
(``logits``). The step receives one float32 scalar per parameter layer (1: trained,
0: frozen) inside its traced hyperparameters, so changing the frozen set never
recompiles; only a new architecture (new layer names) does.

A frozen layer gets no update at all: its gradient (weight decay included) is zeroed
before the optimizer sees it, *and* the new value is chosen with ``jnp.where`` between the
old and the updated one, so momentum or Adam moments accumulated before it was frozen
cannot move it either; its weights stay bitwise what they were.

A frozen batch-norm layer normalises with its *running* statistics in training too (as
Keras does for a BatchNormalization layer with ``trainable=False``), and they are not
updated: the frozen block is then one fixed function, whatever the batch holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from convscope.config import ArchSpec, TrainConfig, freezable_layers

Array = jax.Array


def frozen_refusal(arch: ArchSpec, frozen: tuple[str, ...], lr_multipliers: tuple = ()) -> str:
    """Why ``frozen`` (or the multipliers' layers) do not fit ``arch`` ("" when they do)."""
    known = freezable_layers(arch)
    bad = [name for name in frozen if name not in known]
    if bad:
        return f"no layer {', '.join(bad)} to freeze; this model has {', '.join(known)}"
    bad = [name for name, _ in lr_multipliers if name not in known]
    if bad:
        return f"lr_multipliers: no layer {', '.join(bad)}; this model has {', '.join(known)}"
    return ""


def check_frozen(arch: ArchSpec, config: TrainConfig) -> None:
    """ValueError with :func:`frozen_refusal`'s reason when ``config``'s frozen layers or
    learning-rate multipliers do not fit ``arch``."""
    why = frozen_refusal(arch, config.frozen, config.lr_multipliers)
    if why:
        raise ValueError(why)


def through(arch: ArchSpec, last: str) -> tuple[str, ...]:
    """Every freezable layer from the first up to and including ``last`` (ValueError if
    ``arch`` has none of that name)."""
    known = freezable_layers(arch)
    if last not in known:
        raise ValueError(f"no layer {last} to freeze through; this model has {', '.join(known)}")
    return known[: known.index(last) + 1]


def owner(param_layer: str) -> str:
    """The freezable layer a parameter layer belongs to (``bn2`` → ``conv2``)."""
    return "conv" + param_layer[2:] if param_layer.startswith("bn") else param_layer


def trainable_mask(arch: ArchSpec, config: TrainConfig) -> dict[str, Array]:
    """{parameter layer: float32 scale of its update}, 0 where frozen, else its
    learning-rate multiplier (1 by default), for every layer of ``arch`` (batch norm with
    its conv): a traced argument of the training step."""
    frozen, lrs = set(config.frozen), dict(config.lr_multipliers)
    names = [*freezable_layers(arch), *(f"bn{i}" for i in range(1, len(arch.convs) + 1) if arch.batch_norm)]
    return {name: jnp.float32(0.0 if owner(name) in frozen else lrs.get(owner(name), 1.0)) for name in names}


def scale_updates(updates: Mapping[str, Mapping[str, Array]], trainable: Mapping[str, Array]) -> dict:
    """Each layer's optimizer update times its multiplier (× 1 is exact: no change)."""
    return {name: {k: u * trainable[name] for k, u in layer.items()} if name in trainable else dict(layer)
            for name, layer in updates.items()}


def mask_grads(grads: Mapping[str, Mapping[str, Array]], trainable: Mapping[str, Array]) -> dict:
    """Zero the gradients of frozen layers (``where``, so a non-finite one cannot leak as NaN)."""
    return {name: {k: jnp.where(trainable[name] > 0, g, jnp.zeros_like(g)) for k, g in layer.items()}
            for name, layer in grads.items()}


def keep_frozen(new: Mapping[str, Mapping[str, Array]], old: Mapping[str, Mapping[str, Array]],
                trainable: Mapping[str, Array]) -> dict:
    """``new`` for trained layers, ``old`` (bitwise) for frozen ones; layers absent from
    ``trainable`` are taken from ``new``."""
    return {name: ({k: jnp.where(trainable[name] > 0, v, old[name][k]) for k, v in layer.items()}
                   if name in trainable else dict(layer)) for name, layer in new.items()}


def bn_frozen(trainable: Mapping[str, Array]) -> dict[str, Array]:
    """{bn layer: traced bool, frozen} for model.network.apply."""
    return {name: trainable[name] == 0 for name in trainable if name.startswith("bn")}
