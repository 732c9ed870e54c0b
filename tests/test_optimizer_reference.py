"""The step's optimizer update against plain NumPy: each optimizer, with the traced
learning rate and momentum that the sliders move, does what its textbook rule says.

RMSprop is optax's: ν ← ρν + (1−ρ)g², u = g/√(ν+ε), t ← −η·u + μ·t, θ ← θ + t
(ρ 0.9, ε 1e-8, the momentum trace after the learning-rate scale)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import OPTIMIZERS
from convscope.train.step import init_opt_states, make_optimizers, optimizer_update

SHAPES = {"conv1": {"w": (3, 3, 1, 2), "b": (2,)}, "dense1": {"w": (4, 3), "b": (3,)}}


OPTIMIZERS_OF_THE_STEP = make_optimizers()


@jax.jit
def _update(params, states, grads, hp):
    """One update as the step makes it (one compile for every optimizer and value)."""
    updates, states = optimizer_update(OPTIMIZERS_OF_THE_STEP, states, grads, params, hp)
    return jax.tree.map(lambda a, u: a + u, params, updates), states


def tiny_problem(seed: int = 0, steps: int = 3):
    rng = np.random.default_rng(seed)
    params = {n: {k: rng.normal(size=s).astype(np.float32) for k, s in layer.items()} for n, layer in SHAPES.items()}
    grads = [
        {n: {k: rng.normal(size=s).astype(np.float32) for k, s in layer.items()} for n, layer in SHAPES.items()}
        for _ in range(steps)
    ]
    return params, grads


def run_step_update(optimizer: str, lr: float, momentum: float, params, grads) -> dict:
    """θ after len(grads) updates of the step's own optimizer code (traced lr and momentum)."""
    p = {n: {k: jnp.asarray(v) for k, v in layer.items()} for n, layer in params.items()}
    states = init_opt_states(OPTIMIZERS_OF_THE_STEP, p)
    hp = {"lr": jnp.float32(lr), "momentum": jnp.float32(momentum), "opt_index": jnp.int32(OPTIMIZERS.index(optimizer))}
    for g in grads:
        p, states = _update(p, states, g, hp)
    return {n: {k: np.asarray(v) for k, v in layer.items()} for n, layer in p.items()}


def numpy_reference(optimizer: str, lr: float, momentum: float, params, grads) -> dict:
    out = {}
    for n, layer in params.items():
        out[n] = {}
        for k, theta in layer.items():
            theta = theta.astype(np.float64)
            trace = np.zeros_like(theta)
            nu = np.zeros_like(theta)
            m = np.zeros_like(theta)
            for t, gs in enumerate(grads, start=1):
                g = gs[n][k].astype(np.float64)
                if optimizer == "sgd":
                    theta = theta - lr * g
                elif optimizer == "momentum":
                    trace = g + momentum * trace
                    theta = theta - lr * trace
                elif optimizer == "rmsprop":
                    nu = 0.9 * nu + 0.1 * g * g
                    trace = -lr * g / np.sqrt(nu + 1e-8) + momentum * trace
                    theta = theta + trace
                else:  # adam, β 0.9 / 0.999, ε 1e-8, bias-corrected
                    m = 0.9 * m + 0.1 * g
                    nu = 0.999 * nu + 0.001 * g * g
                    theta = theta - lr * (m / (1 - 0.9**t)) / (np.sqrt(nu / (1 - 0.999**t)) + 1e-8)
            out[n][k] = theta
    return out


@pytest.mark.parametrize(
    ("optimizer", "momentum"),
    [("sgd", 0.9), ("momentum", 0.0), ("momentum", 0.9), ("adam", 0.9), ("rmsprop", 0.0), ("rmsprop", 0.9)],
)
def test_optimizer_update_matches_numpy(optimizer: str, momentum: float) -> None:
    params, grads = tiny_problem()
    got = run_step_update(optimizer, 0.05, momentum, params, grads)
    want = numpy_reference(optimizer, 0.05, momentum, params, grads)
    for n, layer in want.items():
        for k, w in layer.items():
            np.testing.assert_allclose(got[n][k], w, rtol=1e-5, atol=1e-6, err_msg=f"{optimizer} {n}.{k}")


def test_the_momentum_slider_changes_rmsprop_updates() -> None:
    """Issue 11.1: RMSprop ignored the momentum the controls enable for it. The first
    update is the same for any momentum (the trace starts at zero); the second is not."""
    params, grads = tiny_problem(seed=1, steps=2)
    plain = run_step_update("rmsprop", 1e-2, 0.0, params, grads)
    heavy = run_step_update("rmsprop", 1e-2, 0.9, params, grads)
    diff = max(float(np.abs(plain[n][k] - heavy[n][k]).max()) for n, layer in plain.items() for k in layer)
    assert diff > 1e-3, "momentum 0 and 0.9 gave the same RMSprop updates"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_momentum_does_not_reach_optimizers_without_it(optimizer: str) -> None:
    """The controls disable the slider for SGD and Adam: it must not change them either."""
    params, grads = tiny_problem(seed=2, steps=2)
    a = run_step_update(optimizer, 1e-2, 0.0, params, grads)
    b = run_step_update(optimizer, 1e-2, 0.9, params, grads)
    for n, layer in a.items():
        for k in layer:
            np.testing.assert_array_equal(a[n][k], b[n][k])


def test_all_finite_looks_at_every_floating_leaf_and_skips_counts():
    from convscope.train.step import all_finite

    tree = {"w": np.ones((3, 2), np.float32), "opt": (np.zeros(4, np.float32), np.array(7, np.int32))}
    assert bool(all_finite(tree))
    for where, bad in ((("w",), np.inf), (("opt", 0), np.nan)):
        broken = {"w": tree["w"].copy(), "opt": (tree["opt"][0].copy(), tree["opt"][1])}
        leaf = broken[where[0]] if len(where) == 1 else broken[where[0]][where[1]]
        leaf.flat[-1] = bad  # the last element of one leaf, as np.isfinite would find it
        assert not bool(all_finite(broken)), where
        assert not all(np.isfinite(x).all() for x in (broken["w"], broken["opt"][0]))
    assert bool(all_finite({"count": jnp.int32(2**31 - 1)}))  # integers are never checked
    assert bool(all_finite({}))
