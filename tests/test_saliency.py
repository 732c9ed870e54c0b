"""Saliency: guided backprop and Grad-CAM against a hand-worked case and a plain NumPy
network; vanilla gradient against finite differences; SmoothGrad against averaged
gradients; occlusion against a brute-force loop; Grad-CAM localises the one region a
constructed model looks at."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer
from convscope.model import init
from convscope.model.network import apply
from convscope.probes.saliency import METHODS, saliency, upsample_to_image


def _params(arch: ArchSpec, seed: int):
    return jax.device_get(init(arch, seed))


def _np_conv_same(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W, D) ∗ (3, 3, D, K) with one pixel of zero padding, by loops."""
    h, wd, _ = x.shape
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, wd, w.shape[3]))
    for i in range(h):
        for j in range(wd):
            out[i, j] = np.einsum("abd,abdk->k", p[i : i + 3, j : j + 3], w) + b
    return out


def _np_conv_same_backward(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    h, wd, _ = g.shape
    gp = np.zeros((h + 2, wd + 2, w.shape[2]))
    for i in range(h):
        for j in range(wd):
            gp[i : i + 3, j : j + 3] += np.einsum("k,abdk->abd", g[i, j], w)
    return gp[1:-1, 1:-1]


def _display(m: np.ndarray) -> np.ndarray:
    """Gradient maps are shown scaled so that their 99th percentile is 1, clipped above."""
    return np.clip(m / np.percentile(m, 99), 0, 1)


REF = ArchSpec(input_shape=(6, 6, 2), convs=(ConvLayer(3, 3, pool="max", pool_size=2),), dense=(4,), num_classes=3)


def _np_reference(params, norm, image: np.ndarray, t: int):
    """NumPy forward and backward of REF: (guided pixel gradient, vanilla pixel gradient, cam)."""
    p = {k: {n: np.asarray(a, np.float64) for n, a in v.items()} for k, v in params.items()}
    x = (image / 255.0 - norm[0]) / norm[1]
    pre = _np_conv_same(x, p["conv1"]["w"], p["conv1"]["b"])
    a = np.maximum(pre, 0)
    win = a.reshape(3, 2, 3, 2, 3).transpose(0, 2, 4, 1, 3).reshape(3, 3, 3, 4)
    pooled = win.max(-1)
    hpre = pooled.reshape(-1) @ p["dense1"]["w"] + p["dense1"]["b"]
    out = []
    for guided in (True, False):
        g_h = p["logits"]["w"][:, t].copy()
        g_h = g_h * (hpre > 0) * ((g_h > 0) if guided else 1)
        g_pool = (p["dense1"]["w"] @ g_h).reshape(3, 3, 3)
        ties = win == pooled[..., None]
        g_win = ties * (g_pool[..., None] / ties.sum(-1, keepdims=True))  # ties share, as in JAX
        g_a = g_win.reshape(3, 3, 3, 2, 2).transpose(0, 3, 1, 4, 2).reshape(6, 6, 3)
        if not guided:
            alpha = g_a.mean(axis=(0, 1))
            cam = (a * alpha).sum(-1)
        g_pre = g_a * (pre > 0) * ((g_a > 0) if guided else 1)
        out.append(_np_conv_same_backward(g_pre, p["conv1"]["w"]) / norm[1])
    return out[0], out[1], cam


def test_guided_vanilla_and_gradcam_match_a_numpy_network() -> None:
    params, state = _params(REF, 4)
    params["conv1"]["b"] = np.array([0.05, -0.05, 0.0], np.float32)
    norm = np.array([[0.4, 0.6], [0.25, 0.5]], np.float32)
    image = np.random.default_rng(2).integers(0, 256, (6, 6, 2), dtype=np.uint8)
    for t in range(3):
        guided_ref, vanilla_ref, cam_ref = _np_reference(params, norm, image, t)
        g = saliency(REF, params, state, norm, image, "guided", target_class=t)
        v = saliency(REF, params, state, norm, image, "vanilla", target_class=t)
        c = saliency(REF, params, state, norm, image, "gradcam", target_class=t)
        np.testing.assert_allclose(g.raw, guided_ref, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(v.raw, vanilla_ref, rtol=1e-4, atol=1e-6)
        assert not np.allclose(guided_ref, vanilla_ref)  # the gate mattered
        assert c.layer == "act1" and g.target_class == t
        np.testing.assert_allclose(c.raw, cam_ref, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(c.heatmap, np.maximum(cam_ref, 0) / np.maximum(cam_ref, 0).max(), atol=1e-5)
        np.testing.assert_allclose(g.heatmap, _display(np.abs(guided_ref).max(-1)), atol=1e-5)


def test_hand_worked_guided_backprop_and_gradcam() -> None:
    arch = ArchSpec(input_shape=(2, 2, 1), convs=(ConvLayer(2, 1, pool="none"),), dense=(), num_classes=2)
    params, state = _params(arch, 0)
    params["conv1"] = {"w": np.array([2.0, -1.0], np.float32).reshape(1, 1, 1, 2), "b": np.zeros(2, np.float32)}
    # flatten order (row, col, channel): channel 0 weights [[1, -1], [-0.5, 2]], channel 1 [[-1, 1], [1, 0.5]]
    w0 = np.array([1, -1, -1, 1, -0.5, 1, 2, 0.5], np.float32)
    params["logits"] = {"w": np.stack([w0, np.zeros(8, np.float32)], 1), "b": np.zeros(2, np.float32)}
    image = np.array([[255, 0], [51, 102]], np.uint8)[..., None]  # pixels [[1, 0], [0.2, 0.4]]
    # logit 0 = 1·2 − 0.5·0.4 + 2·0.8 = 3.4 > logit 1 = 0: class 0 is predicted
    v = saliency(arch, params, state, None, image, "vanilla")
    g = saliency(arch, params, state, None, image, "guided")
    assert v.target_class == 0
    np.testing.assert_allclose(v.raw[..., 0], [[2, 0], [-1, 4]], atol=1e-6)  # 2·w0 where the pixel > 0
    np.testing.assert_allclose(g.raw[..., 0], [[2, 0], [0, 4]], atol=1e-6)  # negative gradient gated off
    c = saliency(arch, params, state, None, image, "gradcam")
    # α = (0.375, 0.375); A0 = 2·pixels, A1 = 0 → cam = 0.75·pixels
    np.testing.assert_allclose(c.raw, [[0.75, 0], [0.15, 0.3]], atol=1e-6)
    np.testing.assert_allclose(c.heatmap, [[1, 0], [0.2, 0.4]], atol=1e-6)


def test_gradcam_highlights_the_only_region_the_decision_depends_on() -> None:
    arch = ArchSpec(input_shape=(16, 16, 1), convs=(ConvLayer(2, 3, pool="none"),), dense=(), num_classes=2)
    params, state = _params(arch, 0)
    k = np.array([-1.0, 2.0, -1.0])
    w = np.zeros((3, 3, 1, 2), np.float32)
    w[:, :, 0, 0] = np.tile(k, (3, 1))  # channel 0: vertical stripes
    w[:, :, 0, 1] = np.tile(k[:, None], (1, 3))  # channel 1: horizontal stripes
    params["conv1"] = {"w": w, "b": np.full(2, -0.5, np.float32)}
    region = np.zeros((16, 16), bool)
    region[2:8, 2:8] = True
    wl = np.zeros((16, 16, 2, 2), np.float32)
    wl[region, 0, 0] = 1.0  # class 0 = channel 0 summed over the region; nothing else counts
    params["logits"] = {"w": wl.reshape(-1, 2), "b": np.zeros(2, np.float32)}
    img = np.zeros((16, 16), np.uint8)
    img[::2, :] = 255  # horizontal stripes everywhere (a distractor for channel 1) ...
    img[region] = 0
    img[2:8, 2:8:2] = 255  # ... and vertical stripes in the region
    img = img[..., None]
    _, taps, _ = apply(arch, params, state, jnp.asarray(img[None] / 255.0, jnp.float32))
    a = np.asarray(taps["act1"])[0]
    assert a.sum(-1)[~region].sum() > 2 * a.sum(-1)[region].sum()  # most activation lies outside
    cam = saliency(arch, params, state, None, img, "gradcam", target_class=0).heatmap
    assert cam[region].mean() > 10 * cam[~region].mean()
    assert cam.max() == pytest.approx(1.0) and np.unravel_index(cam.argmax(), cam.shape) in {
        (r, c) for r in range(2, 8) for c in range(2, 8)}
    grad = saliency(arch, params, state, None, img, "vanilla", target_class=0).raw[..., 0]
    near = np.zeros((16, 16), bool)
    near[1:9, 1:9] = True  # the region grown by the 3×3 receptive field
    assert np.abs(grad[~near]).max() == 0.0 and np.abs(grad[near]).max() > 0


def test_vanilla_gradient_matches_finite_differences() -> None:
    arch = ArchSpec(input_shape=(5, 5, 2), convs=(ConvLayer(3, 3, pool="avg"),), dense=(6,), num_classes=3,
                    activation="tanh", batch_norm=True)
    params, state = _params(arch, 7)
    state["bn1"] = {"mean": np.array([0.1, -0.2, 0.3], np.float32), "var": np.array([0.5, 2.0, 1.5], np.float32)}
    norm = np.array([[0.3, 0.5], [0.2, 0.4]], np.float32)
    image = np.random.default_rng(1).integers(0, 256, (5, 5, 2), dtype=np.uint8)
    res = saliency(arch, params, state, norm, image, "vanilla", target_class=2)
    p = image / 255.0
    eps = 1e-2
    bumps = np.eye(50).reshape(50, 5, 5, 2) * eps
    batch = np.concatenate([p + bumps, p - bumps]).astype(np.float32)
    logits, _, _ = apply(arch, params, state, jnp.asarray((batch - norm[0]) / norm[1]))
    logits = np.asarray(logits, np.float64)[:, 2]
    fd = ((logits[:50] - logits[50:]) / (2 * eps)).reshape(5, 5, 2)
    np.testing.assert_allclose(res.raw, fd, rtol=2e-2, atol=2e-3 * np.abs(fd).max())


def test_smoothgrad_is_the_mean_gradient_over_the_same_noisy_copies() -> None:
    params, state = _params(REF, 1)
    image = np.random.default_rng(3).integers(0, 256, (6, 6, 2), dtype=np.uint8)
    p = image / 255.0
    res = saliency(REF, params, state, None, image, "smoothgrad", target_class=1, samples=6, noise=0.2, seed=9)
    noisy = p + np.random.default_rng(9).normal(0, 0.2 * (p.max() - p.min()), (6, 6, 6, 2))

    def score(x):
        return apply(REF, params, state, x[None])[0][0, 1]

    grads = np.stack([np.asarray(jax.grad(score)(jnp.asarray(n, jnp.float32))) for n in noisy])
    np.testing.assert_allclose(res.raw, grads.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.heatmap, _display(np.abs(grads).max(-1).mean(0)), atol=1e-5)
    plain = saliency(REF, params, state, None, image, "smoothgrad", target_class=1, samples=3, noise=0.0)
    vanilla = saliency(REF, params, state, None, image, "vanilla", target_class=1)
    np.testing.assert_allclose(plain.raw, vanilla.raw, rtol=1e-5, atol=1e-8)


def test_occlusion_matches_a_brute_force_loop() -> None:
    params, state = _params(REF, 2)
    norm = np.array([[0.5, 0.5], [0.3, 0.3]], np.float32)
    image = np.random.default_rng(4).integers(0, 256, (6, 6, 2), dtype=np.uint8)
    res = saliency(REF, params, state, norm, image, "occlusion", window=3, stride=2, baseline=0.25)

    def logits(x):
        return np.asarray(apply(REF, params, state, jnp.asarray(((x - norm[0]) / norm[1])[None],
                                                               jnp.float32))[0][0], np.float64)

    def probs(x):
        e = np.exp(logits(x) - logits(x).max())
        return e / e.sum()

    p = image / 255.0
    p0 = probs(p)
    t = int(np.argmax(p0))
    total, count = np.zeros((6, 6)), np.zeros((6, 6))
    for r in (0, 2, 3):  # starts 0, 2 and the one flush with the far edge
        for c in (0, 2, 3):
            x = p.copy()
            x[r : r + 3, c : c + 3] = 0.25
            total[r : r + 3, c : c + 3] += p0[t] - probs(x)[t]
            count[r : r + 3, c : c + 3] += 1
    np.testing.assert_allclose(res.raw, total / count, atol=1e-6)
    np.testing.assert_allclose(res.probabilities, p0, atol=1e-6)
    assert res.target_class == t and 0 <= res.heatmap.min() and res.heatmap.max() <= 1
    # the logit score: the same loop on logits, here for a class that is not the top one
    by_logit = saliency(REF, params, state, norm, image, "occlusion", target_class=(t + 1) % 3, window=4,
                        stride=3, score="logit")
    total, count = np.zeros((6, 6)), np.zeros((6, 6))
    for r in (0, 2):  # 0, 3 would overshoot: the last window is flush with the edge
        for c in (0, 2):
            x = p.copy()
            x[r : r + 4, c : c + 4] = 0.5
            total[r : r + 4, c : c + 4] += logits(p)[(t + 1) % 3] - logits(x)[(t + 1) % 3]
            count[r : r + 4, c : c + 4] += 1
    np.testing.assert_allclose(by_logit.raw, total / count, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu"])
def test_apply_hooks_leave_the_forward_values_alone(activation: str) -> None:
    """``perturb`` with a zero delta, ``guided`` and ``stop_after`` change no value; a
    delta shifts the layer downstream exactly as adding it to the tap by hand does."""
    arch = ArchSpec(input_shape=(9, 9, 3), convs=(ConvLayer(4, 3, pool="avg"), ConvLayer(5, 2, padding="valid")),
                    dense=(7,), num_classes=4, activation=activation, batch_norm=True)
    params, state = _params(arch, 5)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, 9, 3)).astype(np.float32))
    logits, taps, _ = apply(arch, params, state, x)
    for layer in ("conv1", "bn1", "act1", "pool1", "act2", "pool2", "dense1_act"):
        got, got_taps, _ = apply(arch, params, state, x, perturb={layer: jnp.zeros_like(taps[layer])})
        np.testing.assert_allclose(got, logits, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_taps[layer], taps[layer], rtol=1e-5, atol=1e-6)
        stopped, upto, _ = apply(arch, params, state, x, stop_after=layer)
        assert stopped is None and list(upto) == list(taps)[: list(taps).index(layer) + 1]
        np.testing.assert_allclose(upto[layer], taps[layer], rtol=1e-5, atol=1e-6)
    guided, _, _ = apply(arch, params, state, x, guided=True)
    np.testing.assert_allclose(guided, logits, rtol=1e-5, atol=1e-6)
    # A delta on the last hidden activation: the logits move by delta @ W (by hand).
    delta = jnp.asarray(np.random.default_rng(1).normal(size=(2, 7)).astype(np.float32))
    moved, _, _ = apply(arch, params, state, x, perturb={"dense1_act": delta})
    np.testing.assert_allclose(moved - logits, np.asarray(delta) @ np.asarray(params["logits"]["w"]),
                               rtol=1e-4, atol=1e-5)


def test_results_are_well_formed_and_bad_input_is_a_value_error() -> None:
    arch = ArchSpec(input_shape=(8, 8, 3), convs=(ConvLayer(4, 3),), dense=(), num_classes=5)
    params, state = _params(arch, 0)
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for method in METHODS:
        r = saliency(arch, params, state, None, image, method)
        assert r.heatmap.shape == (8, 8) and r.heatmap.dtype == np.float32, method
        assert 0 <= r.heatmap.min() and r.heatmap.max() <= 1 and r.probabilities.shape == (5,)
        assert r.target_class == int(np.argmax(r.probabilities)) and r.seconds > 0
    assert saliency(arch, params, state, None, image, "gradcam", layer="pool1").raw.shape == (4, 4)
    cases = [(dict(method="magic"), "unknown method"), (dict(method="vanilla", samples=3), "no option"),
             (dict(method="gradcam", layer="logits"), "not a spatial layer"),
             (dict(method="occlusion", window=9), "window"), (dict(method="smoothgrad", samples=0), "samples"),
             (dict(method="occlusion", score="loss"), "score"),
             (dict(method="vanilla", target_class=5), "target_class")]
    for kwargs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            saliency(arch, params, state, None, image, **kwargs)
    with pytest.raises(ValueError, match=r"uint8 image of shape \(8, 8, 3\)"):
        saliency(arch, params, state, None, image[..., :1], "vanilla")


def test_upsampling_puts_map_positions_at_receptive_field_centres() -> None:
    arch = ArchSpec(input_shape=(8, 8, 1), convs=(ConvLayer(2, 3),), dense=(), num_classes=2)
    cam = np.arange(16, dtype=np.float32).reshape(4, 4)  # row r is 4r … 4r + 3
    np.testing.assert_allclose(upsample_to_image(arch, "conv1", np.arange(64.0).reshape(8, 8)),
                               np.arange(64.0).reshape(8, 8))
    up = upsample_to_image(arch, "pool1", cam)  # position i covers pixels 2i, 2i+1: centre 2i + 0.5
    np.testing.assert_allclose(up[0], [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3], atol=1e-6)
    np.testing.assert_allclose(up[:, 0], [0, 1, 3, 5, 7, 9, 11, 12], atol=1e-6)
