"""convscope.shapes.layer_table against the textbook formulas, the real forward pass and
hand-worked cases; ArchSpec / TrainConfig validation and their dict round trips."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model.network import apply, init
from convscope.shapes import layer_table, total_params

# --- the textbook, written out independently ---------------------------------------------


def textbook_rows(spec_kwargs: dict) -> list[tuple[str, tuple[int, ...], int, int]] | int:
    """(name, shape, params, receptive field) per layer, or the 1-based number of the block
    whose map becomes too small for its kernel or pooling window."""
    h, w, c = spec_kwargs["input_shape"]
    bn = spec_kwargs.get("batch_norm", False)
    rows = [("input", (h, w, c), 0, 1)]
    rf, jump = 1, 1
    for i, conv in enumerate(spec_kwargs["convs"], start=1):
        f, s, k = conv["kernel"], conv["stride"], conv["filters"]
        if conv["padding"] == "valid":
            if min(h, w) < f:
                return i
            h, w = (h - f) // s + 1, (w - f) // s + 1  # O = floor((N - F) / S) + 1
        else:
            h, w = math.ceil(h / s), math.ceil(w / s)  # O = ceil(N / S)
        rf, jump = rf + (f - 1) * jump, jump * s
        rows.append((f"conv{i}", (h, w, k), f * f * c * k + k, rf))
        c = k
        if bn:
            rows.append((f"bn{i}", (h, w, c), 2 * c, rf))
        rows.append((f"act{i}", (h, w, c), 0, rf))
        if conv["pool"] != "none":
            p = conv["pool_size"]
            if min(h, w) < p:
                return i
            h, w = h // p, w // p  # floor(N / P)
            rf, jump = rf + (p - 1) * jump, jump * p
            rows.append((f"pool{i}", (h, w, c), 0, rf))
    units = h * w * c
    rows.append(("flatten", (units,), 0, 0))
    for j, width in enumerate(spec_kwargs["dense"], start=1):
        rows.append((f"dense{j}", (width,), units * width + width, 0))
        rows.append((f"dense{j}_act", (width,), 0, 0))
        units = width
    k = spec_kwargs["num_classes"]
    rows.append(("logits", (k,), units * k + k, 0))
    return rows


def _cases(n: int = 60, seed: int = 2024) -> list[dict]:
    """A fixed sample of specs over kernel 1–7, stride 1–3, valid/same, pool none/max/avg
    of size 2–3, 1–4 blocks, 28×28×1 and 32×32×3 inputs, batch norm on and off."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        blocks = 1 + i % 4
        convs = [
            {
                "filters": int(rng.integers(1, 5)),
                "kernel": int(rng.integers(1, 8)),
                "stride": int(rng.choice([1, 1, 2, 3])),
                "padding": str(rng.choice(["valid", "same"])),
                "pool": str(rng.choice(["none", "max", "avg"])),
                "pool_size": int(rng.integers(2, 4)),
            }
            for _ in range(blocks)
        ]
        cases.append(
            {
                "input_shape": [(28, 28, 1), (32, 32, 3)][i % 2],
                "convs": convs,
                "dense": [(), (7,), (6, 5)][i % 3],
                "num_classes": 2 + i % 5,
                "batch_norm": bool((i // 2) % 2),
                "activation": "relu",
            }
        )
    return cases


CASES = _cases()


def test_cases_cover_the_ranges() -> None:
    valid = [c for c in CASES if not isinstance(textbook_rows(c), int)]
    convs = [conv for c in valid for conv in c["convs"]]
    assert len(valid) >= 30 and len(valid) < len(CASES)  # both outcomes are exercised
    assert {conv["kernel"] for conv in convs} == set(range(1, 8))
    assert {conv["stride"] for conv in convs} == {1, 2, 3}
    assert {(conv["pool"], conv["pool_size"]) for conv in convs} >= {
        ("max", 2),
        ("max", 3),
        ("avg", 2),
        ("avg", 3),
    }
    assert {conv["padding"] for conv in convs} == {"valid", "same"}
    assert {len(c["convs"]) for c in valid} == {1, 2, 3, 4}
    assert {(tuple(c["input_shape"]), c["batch_norm"]) for c in valid} == {
        ((28, 28, 1), False),
        ((28, 28, 1), True),
        ((32, 32, 3), False),
        ((32, 32, 3), True),
    }


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_layer_table_matches_textbook_and_forward_pass(case: dict) -> None:
    want = textbook_rows(case)
    if isinstance(want, int):
        with pytest.raises(ValueError, match=rf"block {want}\b"):
            ArchSpec(**case)
        return
    spec = ArchSpec(**case)
    rows = layer_table(spec)
    assert [(r.name, r.shape, r.params, r.receptive_field) for r in rows] == want

    params, state = init(spec, 0)
    n_arrays = sum(int(np.prod(a.shape)) for layer in params.values() for a in layer.values())
    assert sum(r.params for r in rows) == n_arrays == total_params(spec)

    # The real forward pass (abstractly evaluated: the same code, no compilation).
    x = jax.ShapeDtypeStruct((2, *spec.input_shape), jnp.float32)
    logits, taps, _ = jax.eval_shape(lambda p, s, x: apply(spec, p, s, x), params, state, x)
    assert set(taps) == {r.name for r in rows[1:]}  # (a pytree round trip sorts dict keys)
    for r in rows[1:]:
        assert taps[r.name].shape == (2, *r.shape), r.name
    assert logits.shape == (2, spec.num_classes)


# One valid case of each input shape with and without batch norm, run for real.
_FIRST_VALID = {}
for _i, _c in enumerate(CASES):
    if not isinstance(textbook_rows(_c), int):
        _FIRST_VALID.setdefault((_c["input_shape"], _c["batch_norm"]), _i)


@pytest.mark.parametrize("case_index", sorted(_FIRST_VALID.values()))
def test_layer_table_matches_a_concrete_forward_pass(case_index: int) -> None:
    case = CASES[case_index]
    spec = ArchSpec(**case)
    params, state = init(spec, 0)
    order: list[str] = []

    @jax.jit
    def forward(p, s, x):
        out = apply(spec, p, s, x)
        order.extend(out[1])  # the taps' order while tracing (a jit output's dict is sorted)
        return out

    logits, taps, _ = forward(params, state, jnp.zeros((2, *spec.input_shape)))
    rows = layer_table(spec)
    assert order == [r.name for r in rows[1:]]
    assert {name: tuple(a.shape[1:]) for name, a in taps.items()} == {r.name: r.shape for r in rows[1:]}
    assert logits.shape == (2, spec.num_classes)


# --- pinned, hand-checked examples ---------------------------------------------------------


def _single(input_shape, conv: ConvLayer) -> list:
    return layer_table(ArchSpec(input_shape=input_shape, convs=(conv,), dense=(), num_classes=10))


def test_cs231n_same_padding_example() -> None:
    # 32×32×3, ten 5×5 filters, stride 1, pad 2 → 32×32×10 with 5·5·3·10 + 10 = 760 parameters.
    rows = {r.name: r for r in _single((32, 32, 3), ConvLayer(10, 5, 1, "same", "none"))}
    assert rows["conv1"].shape == (32, 32, 10)
    assert rows["conv1"].params == 760
    assert "P=2" in rows["conv1"].detail
    assert rows["flatten"].shape == (10240,)
    assert rows["logits"].params == 10240 * 10 + 10


def test_alexnet_conv1_example() -> None:
    # 227×227×3, 96 filters 11×11, stride 4, no padding → 55×55×96, 11·11·3·96 + 96 = 34,944.
    rows = {r.name: r for r in _single((227, 227, 3), ConvLayer(96, 11, 4, "valid", "none"))}
    assert rows["conv1"].shape == (55, 55, 96)
    assert rows["conv1"].params == 34_944
    assert rows["conv1"].receptive_field == 11


def test_even_kernel_same_padding_detail() -> None:
    rows = {r.name: r for r in _single((8, 8, 1), ConvLayer(2, 4, 1, "same", "none"))}
    assert rows["conv1"].shape == (8, 8, 2)
    assert "P=1+2" in rows["conv1"].detail


def test_batch_norm_rows_count_two_per_channel() -> None:
    spec = ArchSpec(
        input_shape=(8, 8, 1), convs=(ConvLayer(6, 3), ConvLayer(5, 3)), dense=(), batch_norm=True
    )
    rows = {r.name: r for r in layer_table(spec)}
    assert rows["bn1"].params == 12 and rows["bn2"].params == 10
    assert rows["conv2"].params == 3 * 3 * 6 * 5 + 5


# --- receptive fields --------------------------------------------------------------------


def _rf_spec(*convs: ConvLayer) -> ArchSpec:
    return ArchSpec(input_shape=(16, 16, 1), convs=convs, dense=(), num_classes=2, activation="tanh")


RF_CASES = {
    "two 3x3 convs": (
        _rf_spec(ConvLayer(1, 3, 1, "valid", "none"), ConvLayer(1, 3, 1, "valid", "none")),
        "conv2",
        5,
    ),
    "3x3 conv, 2x2 pool, 3x3 conv": (
        _rf_spec(ConvLayer(1, 3, 1, "valid", "avg", 2), ConvLayer(1, 3, 1, "valid", "none")),
        "conv2",
        8,
    ),
    "3x3 stride 2, 3x3": (
        _rf_spec(ConvLayer(1, 3, 2, "valid", "none"), ConvLayer(1, 3, 1, "valid", "none")),
        "conv2",
        7,
    ),
    "5x5 conv, 3x3 pool": (_rf_spec(ConvLayer(1, 5, 1, "valid", "avg", 3)), "pool1", 7),
}


@pytest.mark.parametrize("name", sorted(RF_CASES))
def test_receptive_field_hand_cases(name: str) -> None:
    spec, layer, rf = RF_CASES[name]
    rows = {r.name: r for r in layer_table(spec)}
    assert rows[layer].receptive_field == rf


@pytest.mark.parametrize("name", sorted(RF_CASES))
def test_receptive_field_is_the_gradient_support(name: str) -> None:
    # With positive weights and a strictly monotone activation nothing cancels, so the
    # input pixels with a non-zero gradient are exactly the unit's receptive field.
    spec, layer, rf = RF_CASES[name]
    params, state = init(spec, 0)
    params = jax.tree.map(lambda a: jnp.full(a.shape, 0.1, a.dtype), params)
    x = jnp.asarray(np.random.default_rng(0).uniform(0.0, 1.0, (1, 16, 16, 1)).astype(np.float32))

    def unit(x: jax.Array) -> jax.Array:
        return apply(spec, params, state, x)[1][layer][0, 1, 1, 0]

    support = np.abs(np.asarray(jax.jit(jax.grad(unit))(x))[0, :, :, 0]) > 0
    rows_hit = np.flatnonzero(support.any(axis=1))
    cols_hit = np.flatnonzero(support.any(axis=0))
    assert rows_hit[-1] - rows_hit[0] + 1 == rf
    assert cols_hit[-1] - cols_hit[0] + 1 == rf
    assert support.sum() == rf * rf


# --- validation --------------------------------------------------------------------------------


def test_too_many_pooling_blocks_names_the_block() -> None:
    # 28 → 14 → 7 → 3 → 1: block 5 cannot pool a 1×1 map.
    ArchSpec.uniform(blocks=4, filters=4)
    with pytest.raises(ValueError, match=r"block 5\b.*pool"):
        ArchSpec.uniform(blocks=5, filters=4)


def test_valid_kernel_larger_than_map_names_the_block() -> None:
    # 10 → 6 (valid 5×5) → 2 (valid 5×5)… block 3's 5×5 kernel does not fit 2×2.
    conv = ConvLayer(2, 5, 1, "valid", "none")
    ArchSpec(input_shape=(10, 10, 1), convs=(conv, conv), dense=())
    with pytest.raises(ValueError, match=r"block 3\b.*5×5"):
        ArchSpec(input_shape=(10, 10, 1), convs=(conv, conv, conv), dense=())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kernel": 0}, "kernel"),
        ({"kernel": 16}, "kernel"),
        ({"filters": -4}, "filters"),
        ({"filters": 0}, "filters"),
        ({"filters": True}, "filters"),
        ({"kernel": 3.0}, "kernel"),
        ({"stride": 0}, "stride"),
        ({"padding": "full"}, "padding"),
        ({"pool": "median"}, "pool"),
        ({"pool_size": False}, "pool_size"),
    ],
)
def test_conv_layer_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        ConvLayer(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"activation": "swish"}, "activation"),
        ({"init": "orthogonal"}, "init"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"dense": (128, 0)}, r"dense\[1\]"),
        ({"dense": (True,)}, r"dense\[0\]"),
        ({"batch_norm": 1}, "batch_norm"),
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (28, 28, 0)}, "input channels"),
        ({"input_shape": (28, 28, True)}, "input channels"),
        ({"input_shape": (28.5, 28, 1)}, "input height"),
        ({"convs": ({"filters": 8, "padding": "full"},)}, "padding"),
    ],
)
def test_arch_spec_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ArchSpec(**kwargs)


def test_arch_spec_round_trips_through_json() -> None:
    spec = ArchSpec(
        input_shape=(32, 32, 3),
        num_classes=7,
        convs=(ConvLayer(8, 5, 2, "valid", "avg", 3), ConvLayer(16, 2, 1, "same", "none")),
        dense=(32, 16),
        activation="gelu",
        batch_norm=True,
        init="xavier",
    )
    d = json.loads(json.dumps(spec.to_dict()))
    assert d["convs"][0] == {
        "filters": 8,
        "kernel": 5,
        "stride": 2,
        "padding": "valid",
        "pool": "avg",
        "pool_size": 3,
    }
    back = ArchSpec.from_dict(d)
    assert back == spec
    assert isinstance(back.convs[0], ConvLayer) and back.input_shape == (32, 32, 3) and back.dense == (32, 16)
    assert ArchSpec.from_dict(ArchSpec().to_dict()) == ArchSpec()


def test_arch_spec_from_dict_rejects_unknown_fields() -> None:
    d = ArchSpec().to_dict()
    with pytest.raises(ValueError, match="dropout"):
        ArchSpec.from_dict({**d, "dropout": 0.5})
    d["convs"][0]["dilation"] = 2
    with pytest.raises(ValueError, match="dilation"):
        ArchSpec.from_dict(d)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": 1.5}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"batch_size": 0}, "batch_size"),
        ({"momentum": 1.0}, "momentum"),
        ({"augment": "yes"}, "augment"),
    ],
)
def test_train_config_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        TrainConfig(**kwargs)


def test_train_config_round_trip_and_unknown_fields() -> None:
    config = TrainConfig(optimizer="rmsprop", learning_rate=0.01, dropout=0.0, batch_size=32, augment=False)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="lr"):
        TrainConfig.from_dict({**config.to_dict(), "lr": 0.1})
    # Boundaries that are allowed.
    TrainConfig(learning_rate=10.0, dropout=0.95, momentum=0.999)
