"""Jitted training and evaluation steps with live hyperparameters.

One call runs ``STEPS_PER_CALL`` steps, unrolled at trace time (a *rolled* scan around
conv gradients is 17-56x slower on XLA:CPU, see shared/PERFORMANCE.md). Measured here
(benchmarks/bench_training.py --steps-per-call): 2 steps per call train the default model ~40% and the CIFAR-sized net ~35% faster than
1, for ~1.4x the compile time; 4 gained no more and compiled 3.5x longer. Steps
beyond the ones asked for (Step, the end of a budget) are computed and discarded by a
per-step mask, so one compiled function serves every count from 1 to STEPS_PER_CALL.

Every hyperparameter a slider moves (learning rate, optimizer, momentum, weight decay,
dropout, every augmentation strength, the input normalization) is a *traced* argument,
so changing it never recompiles (augmentation: train/augment.py).
The four optimizers are optax's, wrapped in ``optax.inject_hyperparams``; their states
live side by side and ``lax.switch`` on a traced index picks the one in use. Only a new
architecture or a new batch size compiles (once each; jit caches them).

The data set lives on the device as uint8; a step receives just the batch's indices
and gathers, scales and augments on the device — no per-step host→device image copy.

The training call *donates* its weights, batch-norm statistics and optimizer state: XLA
writes the new ones into the old ones' buffers instead of allocating a second copy of
the model's state per call (on a GPU, what lets a model twice the size fit). A donated
array is gone after the call, so the loop hands the first call of each chunk a copy
(``copy_tree``, one jitted call): the weights the loop held between chunks — the
restore point after a non-finite step, what others may hold — are never donated.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from convscope.config import OPTIMIZERS, ArchSpec, TrainConfig
from convscope.model.network import Params, apply, preprocess
from convscope.train import parallel
from convscope.train.augment import augment_and_normalize, augment_hparams
from convscope.train.freeze import bn_frozen, keep_frozen, mask_grads, scale_updates, trainable_mask

Array = jax.Array

# Overridable for benchmarks (benchmarks/bench_training.py --steps-per-call).
STEPS_PER_CALL = max(1, min(int(os.environ.get("CONVSCOPE_STEPS_PER_CALL", "2")), 16))


def make_optimizers() -> tuple[optax.GradientTransformation, ...]:
    """One optax optimizer per entry of config.OPTIMIZERS, hyperparameters injectable."""
    table = {
        "sgd": optax.inject_hyperparams(optax.sgd)(learning_rate=1e-2),
        "momentum": optax.inject_hyperparams(optax.sgd)(learning_rate=1e-2, momentum=0.9),
        "adam": optax.inject_hyperparams(optax.adam)(learning_rate=1e-3),
        # momentum given (not None) so that optax chains its trace and the slider's value
        # is an injected hyperparameter; 0 is plain RMSprop.
        "rmsprop": optax.inject_hyperparams(optax.rmsprop)(learning_rate=1e-3, momentum=0.9),
    }
    return tuple(table[name] for name in OPTIMIZERS)


def live_hparams(config: TrainConfig, arch: ArchSpec | None = None) -> dict[str, Array]:
    """The traced hyperparameters of one step, as device scalars; with ``arch``, also the
    per-layer mask of ``config.frozen`` (train/freeze.py)."""
    extra = {} if arch is None else {"trainable": trainable_mask(arch, config)}
    return {
        "lr": jnp.float32(config.learning_rate),
        "momentum": jnp.float32(config.momentum),
        "weight_decay": jnp.float32(config.weight_decay),
        "dropout": jnp.float32(config.dropout),
        "opt_index": jnp.int32(OPTIMIZERS.index(config.optimizer)),
        **augment_hparams(config),
        **extra,
    }


def _decay_mask(params: Params) -> Params:
    """Weight decay applies to conv and dense kernels only, never biases or batch norm."""
    return {name: {k: k == "w" for k in layer} for name, layer in params.items()}


def optimizer_update(
    optimizers: tuple[optax.GradientTransformation, ...], opt_states: tuple, grads: Params, params: Params,
    hp: dict[str, Array],
) -> tuple[Params, tuple]:
    """The update of the optimizer ``hp["opt_index"]`` picks, with the traced learning rate
    and momentum injected; only that optimizer's state advances."""

    def branch(i):
        def run(operand):
            grads, opt_states, params = operand
            st = opt_states[i]
            hyper = dict(st.hyperparams)
            hyper["learning_rate"] = hp["lr"]
            if "momentum" in hyper:  # SGD + momentum and RMSprop (Adam has its own β₁)
                hyper["momentum"] = hp["momentum"]
            st = st._replace(hyperparams=hyper)
            updates, st = optimizers[i].update(grads, st, params)
            return updates, tuple(st if j == i else s for j, s in enumerate(opt_states))

        return run

    return lax.switch(hp["opt_index"], [branch(i) for i in range(len(optimizers))], (grads, opt_states, params))


def all_finite(tree: Any) -> Array:
    """True where every floating-point leaf of ``tree`` is finite (counts, indices skipped)."""
    leaves = [jnp.ravel(x).astype(jnp.float32) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]  # fmt: skip
    # One reduction over all leaves, not one per leaf: XLA:CPU emits a kernel per
    # reduction, and a hundred small kernels per step doubled the step's compile time.
    return jnp.all(jnp.isfinite(jnp.concatenate(leaves))) if leaves else jnp.bool_(True)


@dataclass
class StepFunctions:
    """The compiled functions of one architecture, and how often they were traced."""

    train_chunk: Callable[..., Any]  # donates its first three arguments (see the module's note)
    eval_chunk: Callable[..., Any]
    optimizers: tuple[optax.GradientTransformation, ...]
    traces: dict[str, int]
    batch_sizes: set[int] = dataclasses.field(default_factory=set)  # train_chunk compiled for


@functools.lru_cache(maxsize=8)
def build_steps(spec: ArchSpec) -> StepFunctions:
    """The jitted steps of ``spec``; cached, so returning to an architecture is instant.
    Every augmentation strength, the shift included, is a traced hyperparameter."""
    optimizers = make_optimizers()
    traces = {"train": 0, "eval": 0}

    def loss_fn(params, state, x, y, dropout_rate, key, frozen_bn):
        logits, _, new_state = apply(spec, params, state, x, train=True, dropout_rate=dropout_rate, key=key,
                                     bn_frozen=frozen_bn)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        acc = (logits.argmax(-1) == y).mean()
        return loss, (acc, new_state)

    def train_step(params, state, opt_states, x_all, y_all, idx, norm, hp, key):
        k_aug, k_drop = jax.random.split(key)
        xb = augment_and_normalize(x_all[idx], k_aug, hp, norm)
        yb = y_all[idx]
        trainable = hp.get("trainable")  # absent: every layer trains (benchmarks' hp)
        (loss, (acc, new_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, state, xb, yb, hp["dropout"], k_drop, None if trainable is None else bn_frozen(trainable)
        )
        mask = _decay_mask(params)
        grads = jax.tree.map(lambda g, p, m: g + hp["weight_decay"] * p if m else g, grads, params, mask)
        if trainable is not None:  # frozen layers: no gradient, no update (train/freeze.py)
            grads = mask_grads(grads, trainable)

        updates, opt_states = optimizer_update(optimizers, opt_states, grads, params, hp)
        if trainable is not None:  # per-layer learning-rate multipliers (1: unchanged, exactly)
            updates = scale_updates(updates, trainable)
        new_params = optax.apply_updates(params, updates)
        if trainable is not None:
            new_params = keep_frozen(new_params, params, trainable)
            new_state = keep_frozen(new_state, state, trainable)
        return new_params, new_state, opt_states, loss, acc

    # Jitted inside the chunk's jit: traced and lowered once however many steps the chunk
    # unrolls (XLA inlines the calls, so the compiled chunk is the same).
    traced_step = jax.jit(train_step)

    def train_chunk(params, state, opt_states, x_all, y_all, idxs, active, norm, hp, keys):
        """``STEPS_PER_CALL`` steps; step i is kept only where ``active[i]`` and it was finite.

        idxs: (STEPS_PER_CALL, batch) int32 indices into x_all; active: (STEPS_PER_CALL,) bool.
        Returns the new (params, state, opt_states), per-step losses and accuracies, and
        per-step ``finite``: the loss *and* the weights, batch-norm statistics and
        optimizer state after the update are all finite. A loss is computed before its
        update, so an update that overflows has a finite loss; a non-finite step is
        discarded here, so the carry is always the last finite state.
        """
        traces["train"] += 1  # runs only while tracing: counts compilations

        # A Python loop unrolls at trace time: no while loop reaches XLA at all (a scan
        # of length 1 stays a rolled loop, the slow path even with unroll=True).
        carry = (params, state, opt_states)
        losses, accs, finite = [], [], []
        for i in range(idxs.shape[0]):
            new = traced_step(*carry, x_all, y_all, idxs[i], norm, hp, keys[i])
            ok = jnp.isfinite(new[3]) & all_finite(new[:3])
            carry = jax.tree.map(lambda n, o, on=active[i] & ok: jnp.where(on, n, o), new[:3], carry)
            losses.append(new[3])
            accs.append(new[4])
            finite.append(ok)
        return (*carry, jnp.stack(losses), jnp.stack(accs), jnp.stack(finite))

    def eval_chunk(params, state, x, y, valid, norm):
        traces["eval"] += 1
        logits, _, _ = apply(spec, params, state, preprocess(x, norm[0], norm[1]), train=False)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        correct = logits.argmax(-1) == y
        return jnp.sum(losses * valid), jnp.sum(correct * valid)

    return StepFunctions(jax.jit(train_chunk, donate_argnums=(0, 1, 2)), jax.jit(eval_chunk), optimizers, traces)


@jax.jit
def copy_tree(tree: Any) -> Any:
    """A copy of every leaf of ``tree`` in new buffers, same devices and shardings (an
    output may not alias an input that is not donated, so XLA copies each leaf)."""
    return jax.tree.map(jnp.copy, tree)


def init_opt_states(optimizers: tuple[optax.GradientTransformation, ...], params: Params) -> tuple:
    """Every optimizer's initial state, in one jitted call (eagerly, each of its zeros
    is a small program of its own to compile, or to read back from the cache)."""
    return _init_opt_states(optimizers, params)


@functools.partial(jax.jit, static_argnums=0)
def _init_opt_states(optimizers: tuple[optax.GradientTransformation, ...], params: Params) -> tuple:
    return tuple(opt.init(params) for opt in optimizers)


def evaluate(
    fns: StepFunctions,
    params: Params,
    state: Params,
    x: Array,
    y: Array,
    norm: Array,
    chunk: int = 500,
    placement: parallel.Placement | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy over all of (x, y), in fixed-size chunks (one compile).
    With a ``placement`` of several devices, each chunk is split across them, as a
    training batch is (a chunk is then a multiple of their number), instead of every
    device evaluating all of it."""
    n = int(x.shape[0])
    if n == 0:
        return float("nan"), float("nan")
    ways = parallel.size(placement)
    chunk = -(-min(chunk, n) // ways) * ways
    total_loss, total_correct = [], []
    for start in range(0, n, chunk):
        xb, yb = x[start : start + chunk], y[start : start + chunk]
        m = int(xb.shape[0])
        valid = np.ones((chunk,), np.float32)
        if m < chunk:  # pad the last chunk so its shape matches the compiled one
            xb = jnp.concatenate([xb, jnp.zeros((chunk - m, *xb.shape[1:]), xb.dtype)])
            yb = jnp.concatenate([yb, jnp.zeros((chunk - m,), yb.dtype)])
            valid[m:] = 0.0
        if placement is not None:
            xb, yb, valid = placement.split_batch((xb, yb, valid))
        loss, correct = fns.eval_chunk(params, state, xb, yb, valid, norm)
        total_loss.append(loss)
        total_correct.append(correct)
    loss_sum, correct_sum = jax.device_get((sum(total_loss), sum(total_correct)))
    return float(loss_sum) / n, float(correct_sum) / n


def to_host(tree: Params) -> dict[str, dict[str, np.ndarray]]:
    return jax.tree.map(np.asarray, jax.device_get(tree))
