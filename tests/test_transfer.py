"""Transfer learning and frozen layers (issue 16): weights mapped from a checkpoint of
another data set, grey ↔ colour first layers, refusals, and frozen layers that do not move."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data.dataset import Dataset
from convscope.model.network import apply, init
from convscope.train.freeze import through, trainable_mask
from convscope.train.loop import TrainingLoop
from convscope.train.transfer import TransferError, fit_arch, map_weights, start_from

GREY = ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(filters=4, kernel=3), ConvLayer(filters=6, kernel=3)),
                dense=(8,))
GREY_BN = ArchSpec(**{**GREY.__dict__, "batch_norm": True})


def data(channels: int, classes: int, n: int = 96, seed: int = 0, size: int = 8) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    y = (x[..., : size // 2, :].mean(axis=(1, 2, 3)) * classes // 256).astype(np.int32) % classes
    k = n * 3 // 4
    names = tuple(f"c{channels}-{i}" for i in range(classes))
    return Dataset(f"set{channels}", x[:k], y[:k], x[k:], y[k:], names, "test", "", "")


def randomised(arch: ArchSpec, seed: int) -> tuple[dict, dict]:
    """Parameters with non-trivial biases and batch-norm statistics, as trained ones have."""
    params, state = init(arch, seed)
    rng = np.random.default_rng(seed + 1)
    params = {n: {k: np.asarray(v) + 0.1 * rng.standard_normal(v.shape).astype(np.float32) for k, v in layer.items()}
              for n, layer in params.items()}
    state = {n: {"mean": rng.standard_normal(layer["mean"].shape).astype(np.float32),
                 "var": rng.uniform(0.5, 2.0, layer["var"].shape).astype(np.float32)} for n, layer in state.items()}
    return params, state


def features(arch, params, state, x):
    """Every tap up to the flattened features (what a transfer copies), inference mode."""
    _, taps, _ = apply(arch, jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, state), x, train=False)
    return {k: np.asarray(v) for k, v in taps.items() if not k.startswith(("dense", "logits", "dropout"))}


@pytest.mark.parametrize("arch", [GREY, GREY_BN], ids=["plain", "batch-norm"])
def test_grey_to_colour_adapted_first_layer_responds_as_the_grey_network_on_a_replicated_image(arch):
    src_p, src_s = randomised(arch, 0)
    colour = fit_arch(arch, (8, 8, 3), 5)
    params, state, moves = map_weights(arch, src_p, src_s, colour)
    w = src_p["conv1"]["w"]
    np.testing.assert_array_equal(params["conv1"]["w"], np.concatenate([w / 3] * 3, axis=2))  # replicated, ÷3
    grey = np.random.default_rng(5).standard_normal((4, 8, 8, 1)).astype(np.float32)
    want = features(arch, src_p, src_s, grey)
    got = features(colour, params, state, np.repeat(grey, 3, axis=-1))
    assert set(got) == set(want) and "conv1" in got
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)
    actions = {m.layer: m.action for m in moves}
    assert actions["conv1"] == "adapted" and actions["conv2"] == "copied" and actions["logits"] == "rebuilt"
    assert "replicated over the 3 channels and divided by 3" in moves[0].detail


def test_colour_to_grey_sums_the_kernel_over_its_channels():
    colour = fit_arch(GREY, (8, 8, 3), 3)
    src_p, src_s = randomised(colour, 1)
    params, state, moves = map_weights(colour, src_p, src_s, GREY)
    np.testing.assert_allclose(params["conv1"]["w"][..., 0, :], src_p["conv1"]["w"].sum(axis=2), rtol=1e-6)
    grey = np.random.default_rng(6).standard_normal((3, 8, 8, 1)).astype(np.float32)
    # on a grey image the summed kernel gives what the colour layer gave on it replicated to RGB
    want = features(colour, src_p, src_s, np.repeat(grey, 3, axis=-1))
    got = features(GREY, params, state, grey)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)
    assert moves[0].action == "adapted" and "summed over its 3 channels" in moves[0].detail


def test_fitting_layers_are_copied_exactly_and_the_classifier_rebuilt_as_a_fresh_model_has_it():
    src_p, src_s = randomised(GREY_BN, 2)
    dst = fit_arch(GREY_BN, (8, 8, 1), 7)
    params, state, moves = map_weights(GREY_BN, src_p, src_s, dst, seed=3)
    for name in ("conv1", "conv2", "bn1", "bn2", "dense1"):
        for k in src_p[name]:
            np.testing.assert_array_equal(params[name][k], src_p[name][k])
    np.testing.assert_array_equal(state["bn2"]["var"], src_s["bn2"]["var"])
    fresh, _ = init(dst, 3)
    np.testing.assert_array_equal(params["logits"]["w"], np.asarray(fresh["logits"]["w"]))
    assert params["logits"]["w"].shape == (8, 7)
    assert [m.layer for m in moves] == ["conv1", "bn1", "conv2", "bn2", "dense1", "logits"]
    kept = map_weights(GREY_BN, src_p, src_s, GREY_BN, keep_classifier=True)[2]
    assert kept[-1].action == "copied"  # the same classes: a warm start keeps its classifier


def test_another_image_size_rebuilds_the_first_dense_layer_and_copies_the_rest():
    src_p, src_s = randomised(GREY, 4)
    bigger = fit_arch(GREY, (12, 12, 1), 3)
    params, _, moves = map_weights(GREY, src_p, src_s, bigger)
    actions = {m.layer: m.action for m in moves}
    assert actions == {"conv1": "copied", "conv2": "copied", "dense1": "rebuilt", "logits": "rebuilt"}
    assert params["dense1"]["w"].shape == (3 * 3 * 6, 8)
    assert "24 → 54 features" in moves[2].detail


@pytest.mark.parametrize(("dst", "expected"), [
    (ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(4, 5), ConvLayer(6, 3)), dense=(8,)),
     "conv1: the checkpoint's kernel is 3×3×1×4, this model's 5×5×1×4 (another kernel size or filter count"),
    (ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(4, 3), ConvLayer(7, 3)), dense=(8,)),
     "conv2: the checkpoint's kernel is 3×3×4×6, this model's 3×3×4×7"),
    (ArchSpec(input_shape=(8, 8, 4), num_classes=3, convs=(ConvLayer(4, 3), ConvLayer(6, 3)), dense=(8,)),
     "conv1: the checkpoint's kernel is 3×3×3×4, this model's 3×3×4×4 (3 input channels cannot become 4)"),
    (ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(4, 3),), dense=(8,)),
     "conv2: the checkpoint's model has 2 conv block(s), this one 1"),
    (ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(4, 3), ConvLayer(6, 3)), dense=(9,)),
     "dense1: the checkpoint's weights are 24×8, this model's 24×9 (another width"),
    (ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(4, 3), ConvLayer(6, 3)), dense=()),
     "dense1: the checkpoint's model has 1 hidden dense layer(s), this one 0"),
    (ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(4, 3), ConvLayer(6, 3)), dense=(8,),
              batch_norm=True), "bn1: the checkpoint's model has no batch norm, this one has"),
], ids=["kernel", "filters", "channels", "blocks", "width", "dense-count", "batch-norm"])
def test_what_does_not_fit_is_refused_naming_the_layer_and_both_shapes(dst, expected):
    src = fit_arch(GREY, (8, 8, 3), 3)
    src_p, src_s = randomised(src, 0)
    if dst.input_shape[2] == 1:  # the grey cases start from the grey model
        src, (src_p, src_s) = GREY, randomised(GREY, 0)
    with pytest.raises(TransferError) as e:
        map_weights(src, src_p, src_s, dst)
    assert str(e.value).startswith(expected), str(e.value)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- frozen layers
def loop_on(ds: Dataset, arch: ArchSpec, **cfg) -> TrainingLoop:
    config = TrainConfig(**{"batch_size": 16, "eval_every": 1000, "dropout": 0.0, "augment": False, **cfg})
    loop = TrainingLoop(arch, config, ds)
    loop.reinitialise()
    return loop


def host(tree):
    return jax.tree.map(np.asarray, jax.device_get(tree))


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_frozen_layers_stay_bitwise_equal_through_adam_momentum_and_weight_decay(optimizer):
    arch = fit_arch(GREY_BN, (8, 8, 1), 3)
    loop = loop_on(data(1, 3), arch, optimizer=optimizer, learning_rate=0.05, weight_decay=0.01, momentum=0.9)
    for _ in range(3):  # moments and momentum built up while everything trains
        loop._dispatch(2)  # noqa: SLF001
    traces = loop.fns.traces["train"]
    loop.set_hyperparams({"frozen": ("conv1", "dense1")})
    before_p, before_s = host(loop.params), host(loop.state)
    for _ in range(4):
        loop._dispatch(2)  # noqa: SLF001
    after_p, after_s = host(loop.params), host(loop.state)
    for name in ("conv1", "bn1", "dense1"):  # bn1 goes with conv1
        for k in before_p[name]:
            np.testing.assert_array_equal(after_p[name][k], before_p[name][k], err_msg=f"{name}/{k}")
    for k in ("mean", "var"):
        np.testing.assert_array_equal(after_s["bn1"][k], before_s["bn1"][k])
    for name in ("conv2", "bn2", "logits"):
        assert not np.array_equal(after_p[name][next(iter(after_p[name]))], before_p[name][next(iter(before_p[name]))])
    assert not np.array_equal(after_s["bn2"]["mean"], before_s["bn2"]["mean"])
    assert loop.fns.traces["train"] == traces  # a traced mask: freezing never recompiles
    loop.set_hyperparams({"frozen": ()})
    loop._dispatch(1)  # noqa: SLF001
    assert not np.array_equal(host(loop.params)["conv1"]["w"], after_p["conv1"]["w"])  # trains again
    assert loop.fns.traces["train"] == traces


def test_a_frozen_batch_norm_normalises_with_its_running_statistics_in_training():
    params, state = randomised(GREY_BN, 7)
    x = np.random.default_rng(8).standard_normal((5, 8, 8, 1)).astype(np.float32)
    p, s = jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, state)
    mask = {"bn1": jnp.bool_(True), "bn2": jnp.bool_(False)}
    _, taps, new_state = apply(GREY_BN, p, s, x, train=True, bn_frozen=mask)
    conv = np.asarray(taps["conv1"], np.float64)
    bn, st = params["bn1"], state["bn1"]
    want = (conv - st["mean"]) / np.sqrt(st["var"] + 1e-5) * bn["gamma"] + bn["beta"]  # running statistics
    np.testing.assert_allclose(np.asarray(taps["bn1"]), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(new_state["bn1"]["mean"]), st["mean"])
    conv2 = np.asarray(taps["conv2"], np.float64)  # bn2 is not frozen: batch statistics
    m, v = conv2.mean(axis=(0, 1, 2)), conv2.var(axis=(0, 1, 2))
    want2 = (conv2 - m) / np.sqrt(v + 1e-5) * params["bn2"]["gamma"] + params["bn2"]["beta"]
    np.testing.assert_allclose(np.asarray(taps["bn2"]), want2, rtol=1e-4, atol=1e-4)


def test_frozen_names_are_checked_against_the_model():
    with pytest.raises(ValueError, match="no layer conv3 to freeze; this model has conv1, conv2, dense1, logits"):
        TrainingLoop(GREY, TrainConfig(frozen=("conv3",)), data(1, 3))
    with pytest.raises(ValueError, match="'bn1' is not a layer that can be frozen"):
        TrainConfig(frozen=("bn1",))
    assert TrainConfig(frozen="logits, conv2,conv1").frozen == ("conv1", "conv2", "logits")
    assert TrainConfig.from_dict(TrainConfig(frozen=("conv1",)).to_dict()).frozen == ("conv1",)
    assert through(GREY, "conv2") == ("conv1", "conv2")
    assert {k: float(v) for k, v in trainable_mask(GREY_BN, TrainConfig(frozen=("conv2",))).items()} == {
        "conv1": 1.0, "conv2": 0.0, "dense1": 1.0, "logits": 1.0, "bn1": 1.0, "bn2": 0.0}


def test_a_loop_started_from_a_grey_checkpoint_trains_colour_images_with_conv1_frozen_as_adapted():
    src_p, src_s = randomised(GREY, 9)
    ds = data(3, 4)
    dst = fit_arch(GREY, ds.image_shape, ds.num_classes)
    params, state, _ = map_weights(GREY, src_p, src_s, dst)
    loop = TrainingLoop(dst, TrainConfig(batch_size=16, frozen=("conv1",), dropout=0.0, weight_decay=0.01), ds)
    start_from(loop, params, state)
    assert loop.restored and loop.step == 0
    for _ in range(3):
        loop._dispatch(2)  # noqa: SLF001
    after = host(loop.params)
    np.testing.assert_array_equal(after["conv1"]["w"], params["conv1"]["w"])
    np.testing.assert_array_equal(after["conv1"]["b"], params["conv1"]["b"])
    assert not np.array_equal(after["conv2"]["w"], params["conv2"]["w"])


def test_with_every_layer_frozen_a_training_step_computes_the_inference_loss_and_moves_nothing():
    import optax

    from convscope.model.network import preprocess

    ds = data(1, 3)
    loop = loop_on(ds, GREY_BN, frozen=("conv1", "conv2", "dense1", "logits"), weight_decay=0.1)
    params, state = randomised(GREY_BN, 3)  # running statistics far from the batch's
    loop.params, loop.state = jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, state)
    loop._perm, loop._pos = np.arange(len(ds.y_train)), 0  # noqa: SLF001
    losses, _, _, _ = loop._dispatch(1)  # noqa: SLF001
    x = preprocess(jnp.asarray(ds.x_train[:16]), loop.norm[0], loop.norm[1])
    logits, _, _ = apply(GREY_BN, jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, state), x, train=False)
    want = float(optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(ds.y_train[:16])).mean())
    assert float(losses[0]) == pytest.approx(want, rel=1e-5)
    after_p, after_s = host(loop.params), host(loop.state)
    for name in params:
        for k in params[name]:
            np.testing.assert_array_equal(after_p[name][k], params[name][k])
    np.testing.assert_array_equal(after_s["bn2"]["var"], state["bn2"]["var"])


def test_a_learning_rate_multiplier_scales_that_layers_update_and_leaves_the_others_bitwise():
    ds = data(1, 3)
    plain = loop_on(ds, GREY, optimizer="adam", learning_rate=0.01)
    scaled = loop_on(ds, GREY, optimizer="adam", learning_rate=0.01, lr_multipliers="conv2:0.25, logits:3")
    start = host(plain.params)
    for loop in (plain, scaled):
        loop._dispatch(1)  # noqa: SLF001
    a, b = host(plain.params), host(scaled.params)
    for name, factor in (("conv2", 0.25), ("logits", 3.0)):
        for k in ("w", "b"):
            np.testing.assert_allclose(b[name][k] - start[name][k], factor * (a[name][k] - start[name][k]),
                                       rtol=1e-4, atol=1e-7, err_msg=f"{name}/{k}")
    for name in ("conv1", "dense1"):  # their multiplier is 1: the very same numbers
        np.testing.assert_array_equal(b[name]["w"], a[name]["w"])
    assert TrainConfig(lr_multipliers={"logits": 2, "conv1": 0.5, "dense1": 1}).lr_multipliers == (
        ("conv1", 0.5), ("logits", 2.0))
    assert TrainConfig.from_dict(scaled.config.to_dict()).lr_multipliers == (("conv2", 0.25), ("logits", 3.0))
    with pytest.raises(ValueError, match=r"lr_multipliers\[conv1\] must be a number in \(0.0, 10.0\]"):
        TrainConfig(lr_multipliers="conv1:0")
    with pytest.raises(ValueError, match="lr_multipliers: no layer conv5; this model has conv1, conv2"):
        scaled.set_hyperparams({"lr_multipliers": (("conv5", 0.5),)})
