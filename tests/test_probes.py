"""convscope.probes: the taps the panels draw equal a NumPy reference forward pass; the
activation curves, dead/saturated unit counts and histograms are checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_layers_reference import NP_ACTIVATIONS
from test_network import _randomised, np_forward

from convscope.config import ArchSpec, ConvLayer
from convscope.probes.activations import (
    SATURATION_RATIO,
    UnitStats,
    activation_curve,
    activation_layers,
    histogram,
    preactivation_name,
    saturation_threshold,
    unit_stats,
)
from convscope.probes.inspect import BATCH_CHUNK, Inspection, Inspector, tap_names
from convscope.shapes import layer_table

NORM = np.array([[0.13], [0.31]], np.float32)


def _image(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --- Inspector against NumPy -----------------------------------------------------------------


def test_inspection_equals_numpy_reference_for_the_default_model() -> None:
    arch = ArchSpec()
    params, state = _randomised(arch, 11)
    image = _image(arch.input_shape, 12)
    result = Inspector(arch).run(params, state, NORM, image)
    assert isinstance(result, Inspection)

    want_input = (image.astype(np.float64) / 255.0 - NORM[0]) / NORM[1]
    assert result.input.dtype == np.float32 and result.input.shape == (28, 28, 1)
    np.testing.assert_allclose(result.input, want_input, rtol=1e-6, atol=1e-6)

    want_logits, want_taps, _ = np_forward(arch, params, state, want_input[None], train=False)
    names = ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "dense1", "dense1_act", "logits"]
    assert list(result.taps) == names  # forward order
    rows = {row.name: row.shape for row in layer_table(arch)}
    for name in names:
        assert result.taps[name].shape == rows[name], name  # no batch axis
        np.testing.assert_allclose(result.taps[name], want_taps[name][0], rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(result.logits, want_logits[0], rtol=1e-4, atol=1e-4)
    z = want_logits[0] - want_logits[0].max()
    np.testing.assert_allclose(result.probs, np.exp(z) / np.exp(z).sum(), rtol=1e-5, atol=1e-6)
    assert result.probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_inspection_with_batch_norm_and_rgb_matches_numpy() -> None:
    arch = ArchSpec(
        input_shape=(12, 10, 3),
        convs=(ConvLayer(4, 3, pool="avg"), ConvLayer(5, 2, stride=2, padding="valid", pool="none")),
        dense=(6,),
        num_classes=3,
        activation="tanh",
        batch_norm=True,
    )
    params, state = _randomised(arch, 3)
    norm = np.array([[0.4, 0.5, 0.6], [0.2, 0.25, 0.3]], np.float32)
    image = _image(arch.input_shape, 4)
    result = Inspector(arch).run(params, state, norm, image)
    x = (image / 255.0 - norm[0]) / norm[1]
    np.testing.assert_allclose(result.input, x, rtol=1e-5, atol=1e-5)
    _, want, _ = np_forward(arch, params, state, x[None], train=False)
    assert list(result.taps) == tap_names(arch) == list(want)
    for name, value in want.items():
        np.testing.assert_allclose(result.taps[name], value[0], rtol=1e-4, atol=1e-4, err_msg=name)


def test_run_batch_matches_single_runs_across_chunks() -> None:
    arch = ArchSpec(input_shape=(8, 8, 1), convs=(ConvLayer(3, 3),), dense=(4,), num_classes=3)
    params, state = _randomised(arch, 5)
    n = BATCH_CHUNK + 6  # two chunks, the second padded
    images = _image((n, 8, 8, 1), 6)
    inspector = Inspector(arch)
    taps, probs = inspector.run_batch(params, state, NORM, images)
    assert list(taps) == tap_names(arch)
    assert probs.shape == (n, 3) and taps["conv1"].shape == (n, 8, 8, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    for i in (0, BATCH_CHUNK - 1, BATCH_CHUNK, n - 1):
        one = inspector.run(params, state, NORM, images[i])
        np.testing.assert_allclose(taps["act1"][i], one.taps["act1"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(probs[i], one.probs, rtol=1e-5, atol=1e-6)
    only, probs2 = inspector.run_batch(params, state, NORM, images[:3], layers=["conv1", "dense1"])
    assert list(only) == ["conv1", "dense1"] and only["conv1"].shape == (3, 8, 8, 3)
    np.testing.assert_allclose(probs2, probs[:3], rtol=1e-6)


def test_inspector_names_the_expected_shape() -> None:
    arch = ArchSpec(input_shape=(8, 8, 1), convs=(ConvLayer(3, 3),), dense=(4,), num_classes=3)
    params, state = _randomised(arch, 5)
    ins = Inspector(arch)
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*\(8, 9, 1\)"):
        ins.run(params, state, NORM, np.zeros((8, 9, 1), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        ins.run(params, state, NORM, np.zeros((8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="norm"):
        ins.run(params, state, np.zeros((2, 3), np.float32), np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="unknown layer"):
        ins.run_batch(params, state, NORM, np.zeros((2, 8, 8, 1), np.uint8), layers=["conv9"])
    # norm None: the input is plain pixels / 255
    res = ins.run(params, state, None, np.full((8, 8, 1), 51, np.uint8))
    np.testing.assert_allclose(res.input, 0.2, rtol=1e-6)


# --- activation curves -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NP_ACTIVATIONS))
def test_activation_derivative_equals_finite_differences(name: str) -> None:
    x = np.linspace(-4, 4, 161, dtype=np.float32)
    x = x[np.abs(x) > 0.02]  # away from ReLU's kink
    y, dy = activation_curve(name, x)
    assert y.shape == dy.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, NP_ACTIVATIONS[name](x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    h = 1e-3
    f = NP_ACTIVATIONS[name]
    fd = (f(x.astype(np.float64) + h) - f(x.astype(np.float64) - h)) / (2 * h)
    np.testing.assert_allclose(dy, fd, rtol=1e-3, atol=1e-4)


def test_activation_curve_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="swish"):
        activation_curve("swish", np.zeros(3))


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_saturation_threshold_is_five_percent_of_the_peak_slope(name: str) -> None:
    t = saturation_threshold(name)
    peak = activation_curve(name, np.zeros(1))[1][0]
    slope = activation_curve(name, np.array([t, -t]))[1]
    np.testing.assert_allclose(slope, SATURATION_RATIO * peak, rtol=1e-4)
    assert t == pytest.approx({"tanh": 2.178, "sigmoid": 4.357}[name], abs=1e-3)


# --- layer bookkeeping --------------------------------------------------------------------------


def test_activation_layers_and_preactivation_names() -> None:
    plain = ArchSpec()
    assert activation_layers(plain) == [("conv1", "act1"), ("conv2", "act2"), ("dense1", "dense1_act")]
    bn = ArchSpec(batch_norm=True, dense=(8, 4))
    assert activation_layers(bn) == [
        ("bn1", "act1"),
        ("bn2", "act2"),
        ("dense1", "dense1_act"),
        ("dense2", "dense2_act"),
    ]
    assert [preactivation_name(bn, b) for b in (1, 2, 3, 4)] == ["bn1", "bn2", "dense1", "dense2"]
    assert preactivation_name(plain, 1) == "conv1"
    with pytest.raises(ValueError, match="block"):
        preactivation_name(plain, 4)
    # every name is a real tap
    for pre, act in activation_layers(bn):
        assert pre in tap_names(bn) and act in tap_names(bn)


# --- dead and saturated units -------------------------------------------------------------------


def _relu_arch(activation: str = "relu") -> ArchSpec:
    return ArchSpec(
        input_shape=(4, 4, 1),
        convs=(ConvLayer(4, 3, pool="none"),),
        dense=(2,),
        num_classes=2,
        activation=activation,
    )


def test_dead_units_are_never_positive() -> None:
    rng = np.random.default_rng(0)
    conv = -rng.uniform(0.1, 2.0, (5, 4, 4, 4)).astype(np.float32)  # all four channels ≤ 0 …
    conv[..., 2] = 0.0  # zero is not positive: still dead
    conv[3, 1, 2, 1] = 0.01  # … but one positive value anywhere makes channel 1 alive
    conv[..., 3] = rng.standard_normal((5, 4, 4))  # a normal, live channel
    dense = np.array([[-1.0, 0.5], [-0.2, -0.3], [-3.0, -1.0]], np.float32)  # unit 0 dead
    stats = unit_stats(_relu_arch(), {"conv1": conv, "dense1": dense})
    assert stats == {
        "act1": UnitStats(dead_fraction=0.5, saturated_fraction=0.0),
        "dense1_act": UnitStats(dead_fraction=0.5, saturated_fraction=0.0),
    }
    # leaky ReLU uses the same definition; a missing pre-activation skips the layer
    assert unit_stats(_relu_arch("leaky_relu"), {"dense1": dense}) == {"dense1_act": UnitStats(0.5, 0.0)}


def test_tanh_saturation() -> None:
    arch = _relu_arch("tanh")
    n = 1000
    pre = np.zeros((n, 4), np.float32)
    pre[:, 0] = 3.0  # always beyond 2.18: saturated
    pre[:, 1] = -5.0
    pre[:, 1][:5] = 0.0  # 0.5% inside: still saturated (> 99% beyond)
    pre[:, 2] = 3.0
    pre[:, 2][:20] = 0.1  # 2% inside: not saturated
    pre[:, 3] = np.linspace(-1, 1, n)  # the linear region
    stats = unit_stats(arch, {"dense1": pre[:, :2], "conv1": pre.reshape(n, 1, 1, 4)})
    assert stats["act1"] == UnitStats(dead_fraction=0.0, saturated_fraction=0.5)
    assert stats["dense1_act"] == UnitStats(0.0, 1.0)
    # all-negative tanh units are not "dead"
    assert unit_stats(arch, {"dense1": -np.ones((3, 2), np.float32)})["dense1_act"].dead_fraction == 0.0


# --- histogram --------------------------------------------------------------------------------


def test_histogram() -> None:
    v = np.array([0.0, 0.1, 0.2, 0.9, 1.0, np.nan, np.inf], np.float32)
    counts, edges = histogram(v, bins=2)
    assert counts.tolist() == [3, 2] and edges.tolist() == pytest.approx([0.0, 0.5, 1.0])
    counts, edges = histogram(v, bins=4, range_=(-1.0, 1.0))
    assert counts.sum() == 5 and edges[0] == -1.0 and edges[-1] == 1.0
    counts, edges = histogram(np.full(4, 2.0), bins=3)
    assert counts.sum() == 4 and edges[0] == 1.5 and edges[-1] == 2.5
    counts, edges = histogram(np.array([]), bins=3)
    assert counts.sum() == 0 and len(edges) == 4
    assert math.isclose(edges[-1] - edges[0], 1.0)
