"""convscope.model.network: gradients against finite differences, the forward pass
against a NumPy reference (every tap), and the initialisation schemes' statistics."""

from __future__ import annotations

import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_layers_reference import NP_ACTIVATIONS, np_batch_norm, np_conv2d, np_pool2d

from convscope.config import ArchSpec, ConvLayer
from convscope.model.network import apply, init

# jax.enable_x64 is jax 0.8's name; the oldest jax pyproject allows (0.4.30) has only the
# experimental one (deprecated in newer jax, so it is not used there).
enable_x64 = getattr(jax, "enable_x64", None)
if enable_x64 is None:
    from jax.experimental import enable_x64

# --- gradients against central finite differences ----------------------------------------

GRAD_SPECS = {
    "tanh-maxpool": ArchSpec(
        input_shape=(8, 8, 1), convs=(ConvLayer(3, 3),), dense=(5,), num_classes=3, activation="tanh"
    ),
    "tanh-batchnorm-avgpool": ArchSpec(
        input_shape=(8, 8, 1),
        convs=(ConvLayer(3, 3, pool="avg"),),
        dense=(5,),
        num_classes=3,
        activation="tanh",
        batch_norm=True,
    ),
    "gelu-batchnorm-stride2-valid": ArchSpec(
        input_shape=(9, 8, 2),
        convs=(ConvLayer(4, 2, stride=2, padding="valid", pool="none"), ConvLayer(3, 2, pool="avg")),
        dense=(4,),
        num_classes=3,
        activation="gelu",
        batch_norm=True,
    ),
}


def _cross_entropy(spec: ArchSpec, params, state, x, y) -> jax.Array:
    logits, _, _ = apply(spec, params, state, x, train=True)
    logp = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


@pytest.mark.parametrize("name", sorted(GRAD_SPECS))
def test_gradient_matches_finite_differences(name: str) -> None:
    spec = GRAD_SPECS[name]
    rng = np.random.default_rng(3)
    with enable_x64(True):
        params, state = init(spec, 1)
        params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
        state = jax.tree.map(lambda a: np.asarray(a, np.float64), state)
        if spec.batch_norm:  # move batch norm off the identity so gamma and beta matter
            for layer in params:
                if layer.startswith("bn"):
                    k = params[layer]["gamma"].shape[0]
                    params[layer]["gamma"] = rng.uniform(0.5, 1.5, k)
                    params[layer]["beta"] = rng.uniform(-0.5, 0.5, k)
        for arrays in params.values():  # non-zero biases, so a gradient ignoring them would show
            if "b" in arrays:
                arrays["b"] = rng.uniform(-0.3, 0.3, arrays["b"].shape)
        x = rng.standard_normal((4, *spec.input_shape))
        y = np.array([0, 1, 2, 1])

        # One compilation serves both: the finite differences just ignore the gradient.
        value_and_grad = jax.jit(jax.value_and_grad(lambda p: _cross_entropy(spec, p, state, x, y)))
        value, grads = jax.device_get(value_and_grad(params))
        assert value.dtype == np.float64

        def loss(p) -> float:
            return float(value_and_grad(p)[0])

        h = 1e-6
        checked = 0
        for layer, arrays in params.items():
            for pname, value in arrays.items():
                for flat in rng.choice(value.size, size=min(3, value.size), replace=False):
                    idx = np.unravel_index(flat, value.shape)
                    plus = jax.tree.map(np.copy, params)
                    minus = jax.tree.map(np.copy, params)
                    plus[layer][pname][idx] += h
                    minus[layer][pname][idx] -= h
                    fd = (loss(plus) - loss(minus)) / (2 * h)
                    g = float(grads[layer][pname][idx])
                    assert g == pytest.approx(fd, rel=1e-5, abs=1e-8), (layer, pname, idx)
                    checked += 1
        assert checked >= 3 * len(params)


# --- forward pass against NumPy, every tap --------------------------------------------------

FORWARD_SPEC = dict(
    # Non-square input: a height/width swap would change the shapes.
    input_shape=(20, 17, 2),
    convs=(
        ConvLayer(3, 3, stride=2, padding="same", pool="max", pool_size=2),
        ConvLayer(4, 2, stride=1, padding="valid", pool="avg", pool_size=2),
    ),
    dense=(6,),
    num_classes=3,
    activation="elu",
)


def np_forward(spec: ArchSpec, params, state, x: np.ndarray, train: bool):
    """The network written out in NumPy from the spec, returning (logits, taps, new_state)."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    act = NP_ACTIVATIONS[spec.activation]
    taps, new_state = {}, {}
    h = np.asarray(x, np.float64)
    for i, conv in enumerate(spec.convs, start=1):
        h = np_conv2d(h, p[f"conv{i}"]["w"], p[f"conv{i}"]["b"], conv.stride, conv.padding)
        taps[f"conv{i}"] = h
        if spec.batch_norm:
            st = state[f"bn{i}"]
            h, m, v = np_batch_norm(
                h,
                p[f"bn{i}"]["gamma"],
                p[f"bn{i}"]["beta"],
                np.asarray(st["mean"]),
                np.asarray(st["var"]),
                train,
            )
            taps[f"bn{i}"] = h
            new_state[f"bn{i}"] = {"mean": m, "var": v}
        h = act(h)
        taps[f"act{i}"] = h
        if conv.pool != "none":
            h = np_pool2d(h, conv.pool_size, conv.pool)
            taps[f"pool{i}"] = h
    h = h.reshape(h.shape[0], -1)  # row-major (H, W, C) flattening
    taps["flatten"] = h
    for j in range(1, len(spec.dense) + 1):
        h = h @ p[f"dense{j}"]["w"] + p[f"dense{j}"]["b"]
        taps[f"dense{j}"] = h
        h = act(h)
        taps[f"dense{j}_act"] = h
    logits = h @ p["logits"]["w"] + p["logits"]["b"]
    taps["logits"] = logits
    return logits, taps, new_state


def _randomised(spec: ArchSpec, seed: int):
    """Parameters with non-zero biases and non-identity batch norm and running stats."""
    rng = np.random.default_rng(seed)
    params, state = init(spec, seed)
    params = jax.tree.map(np.asarray, params)
    for layer in params.values():
        for name, value in layer.items():
            if name == "gamma":
                layer[name] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
            elif name != "w":
                layer[name] = rng.uniform(-0.5, 0.5, value.shape).astype(np.float32)
    state = {
        name: {
            "mean": rng.uniform(-0.5, 0.5, st["mean"].shape).astype(np.float32),
            "var": rng.uniform(0.5, 2.0, st["var"].shape).astype(np.float32),
        }
        for name, st in state.items()
    }
    return params, state


@pytest.mark.parametrize(("batch_norm", "train"), [(False, False), (True, True), (True, False)])
def test_forward_pass_matches_numpy_every_tap(batch_norm: bool, train: bool) -> None:
    spec = ArchSpec(**FORWARD_SPEC, batch_norm=batch_norm)
    params, state = _randomised(spec, 5)
    x = np.random.default_rng(6).standard_normal((3, 20, 17, 2)).astype(np.float32)

    order: list[str] = []

    @jax.jit
    def forward(p, s, x):
        out = apply(spec, p, s, x, train=train)
        order.extend(out[1])  # the taps' order while tracing (a jit output's dict is sorted)
        return out

    logits, taps, new_state = forward(params, state, jnp.asarray(x))
    want_logits, want_taps, want_state = np_forward(spec, params, state, x, train)

    names = ["conv1", "bn1", "act1", "pool1", "conv2", "bn2", "act2", "pool2"]
    names = [n for n in names if batch_norm or not n.startswith("bn")]
    names += ["flatten", "dense1", "dense1_act", "logits"]
    assert order == names  # forward order
    assert set(taps) == set(names)
    # Shapes worked out by hand: 20×17 → same/2 → 10×9 → pool 2 → 5×4 → valid 2×2 → 4×3 → pool 2 → 2×1.
    shapes = {
        "conv1": (10, 9, 3),
        "pool1": (5, 4, 3),
        "conv2": (4, 3, 4),
        "pool2": (2, 1, 4),
        "flatten": (8,),
    }
    for name, shape in shapes.items():
        assert taps[name].shape == (3, *shape)
    for name in names:
        assert taps[name].shape == want_taps[name].shape, name
        np.testing.assert_allclose(
            np.asarray(taps[name]), want_taps[name], rtol=1e-4, atol=1e-4, err_msg=name
        )
    np.testing.assert_allclose(np.asarray(logits), want_logits, rtol=1e-4, atol=1e-4)
    assert set(new_state) == set(want_state)
    for name, st in want_state.items():
        for k in ("mean", "var"):
            np.testing.assert_allclose(np.asarray(new_state[name][k]), st[k], rtol=1e-4, atol=1e-5)


def test_dropout_only_in_training_with_a_key() -> None:
    spec = ArchSpec(input_shape=(6, 6, 1), convs=(ConvLayer(2, 3),), dense=(64,), num_classes=3)
    params, state = init(spec, 0)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 6, 6, 1)).astype(np.float32))
    plain = np.asarray(jax.jit(lambda p: apply(spec, p, state, x)[0])(params))
    key = jax.random.key(1)

    @jax.jit
    def logits(p, train_rate, eval_rate):
        trained = apply(spec, p, state, x, train=True, dropout_rate=train_rate, key=key)[0]
        evaluated = apply(spec, p, state, x, train=False, dropout_rate=eval_rate, key=key)[0]
        return trained, evaluated

    rate0, eval_with_key = map(np.asarray, logits(params, 0.0, 0.5))
    np.testing.assert_array_equal(eval_with_key, plain)
    np.testing.assert_allclose(rate0, plain, rtol=1e-6, atol=1e-6)
    dropped = np.asarray(logits(params, 0.5, 0.5)[0])
    assert np.abs(dropped - plain).max() > 1e-3


# --- initialisation ---------------------------------------------------------------------------

INIT_SPEC = dict(
    input_shape=(16, 16, 3),
    convs=(ConvLayer(32, 5), ConvLayer(32, 3)),  # same padding, 2×2 max pools: 16 → 8 → 4
    dense=(64,),
    num_classes=64,  # as wide as dense1, so He's and Xavier's std differ by √2 for the classifier
)
# (layer, weight shape, fan_in, fan_out); conv fans count the F·F window (Glorot's convention).
INIT_WEIGHTS = [
    ("conv1", (5, 5, 3, 32), 5 * 5 * 3, 5 * 5 * 32),
    ("conv2", (3, 3, 32, 32), 3 * 3 * 32, 3 * 3 * 32),
    ("dense1", (4 * 4 * 32, 64), 4 * 4 * 32, 64),
    ("logits", (64, 64), 64, 64),
]


def _expected_std(scheme: str, layer: str, fan_in: int, fan_out: int) -> float:
    if scheme == "he" and layer == "logits":
        scheme = "xavier"  # documented: the classifier, not followed by a ReLU, uses Xavier
    return {
        "he": math.sqrt(2.0 / fan_in),
        "xavier": math.sqrt(2.0 / (fan_in + fan_out)),
        "gaussian": 0.01,
        "zeros": 0.0,
    }[scheme]


@pytest.mark.parametrize("scheme", ["he", "xavier", "gaussian", "zeros"])
def test_init_weight_statistics(scheme: str) -> None:
    params, state = init(ArchSpec(**INIT_SPEC, init=scheme), 0)
    assert state == {}
    assert set(params) == {name for name, *_ in INIT_WEIGHTS}
    for layer, shape, fan_in, fan_out in INIT_WEIGHTS:
        w = np.asarray(params[layer]["w"], np.float64)
        assert w.shape == shape
        assert params[layer]["w"].dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(params[layer]["b"]), np.zeros(shape[-1]))
        want = _expected_std(scheme, layer, fan_in, fan_out)
        if want == 0.0:
            np.testing.assert_array_equal(w, 0.0)
            continue
        # The sample std of n normal draws has relative sd ~1/sqrt(2n): under 3% here.
        assert w.std() == pytest.approx(want, rel=0.1), layer
        assert abs(w.mean()) < 4 * want / math.sqrt(w.size), layer


def test_init_parameter_shapes_follow_the_spec() -> None:
    spec = ArchSpec(**FORWARD_SPEC, batch_norm=True)
    params, state = init(spec, 0)
    shapes = jax.tree.map(lambda a: tuple(a.shape), params)
    assert shapes == {
        "conv1": {"w": (3, 3, 2, 3), "b": (3,)},
        "bn1": {"gamma": (3,), "beta": (3,)},
        "conv2": {"w": (2, 2, 3, 4), "b": (4,)},
        "bn2": {"gamma": (4,), "beta": (4,)},
        "dense1": {"w": (8, 6), "b": (6,)},
        "logits": {"w": (6, 3), "b": (3,)},
    }
    for name in ("bn1", "bn2"):
        np.testing.assert_array_equal(np.asarray(params[name]["gamma"]), 1.0)
        np.testing.assert_array_equal(np.asarray(params[name]["beta"]), 0.0)
        np.testing.assert_array_equal(np.asarray(state[name]["mean"]), 0.0)
        np.testing.assert_array_equal(np.asarray(state[name]["var"]), 1.0)
    assert jax.tree.map(lambda a: tuple(a.shape), state) == {
        "bn1": {"mean": (3,), "var": (3,)},
        "bn2": {"mean": (4,), "var": (4,)},
    }


def test_init_is_reproducible_by_seed() -> None:
    spec = ArchSpec(**FORWARD_SPEC)
    a, _ = init(spec, 11)
    b, _ = init(spec, 11)
    c, _ = init(spec, 12)
    d, _ = init(spec, np.random.default_rng(11))
    for layer in a:
        np.testing.assert_array_equal(np.asarray(a[layer]["w"]), np.asarray(b[layer]["w"]))
        np.testing.assert_array_equal(np.asarray(a[layer]["w"]), np.asarray(d[layer]["w"]))
        assert not np.array_equal(np.asarray(a[layer]["w"]), np.asarray(c[layer]["w"])), layer


def test_initialising_a_model_and_staging_host_arrays_compile_nothing(caplog):
    """Issue 14: jnp.asarray(numpy) compiles a jitted identity per shape (lax.stage in
    jax 0.10), some fifteen before the first training step; init and to_device must not.
    Shapes no other test uses, so nothing comes from an earlier test's compile."""
    from convscope.model.arrays import to_device

    spec = ArchSpec(convs=(ConvLayer(filters=7, kernel=5),), dense=(13,), batch_norm=True)
    host = np.arange(3 * 5 * 11, dtype=np.float32).reshape(3, 5, 11)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.DEBUG, logger="jax"):
            params, state = init(spec, 0)
            staged = to_device(host)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r.getMessage()[:80] for r in caplog.records if "Compiling" in r.getMessage()]
    assert not compiled, compiled
    assert params["conv1"]["w"].shape == (5, 5, 1, 7) and state["bn1"]["var"].shape == (7,)
    np.testing.assert_array_equal(np.asarray(state["bn1"]["var"]), np.ones(7, np.float32))
    host[0, 0, 0] = -1.0  # a copy: the device array does not see later writes to the host's
    assert float(staged[0, 0, 0]) == 0.0
