"""The probes' one chunked loop (probes/chunked.py): every caller — evaluation, top-k,
the batch statistics' taps — runs in chunks of one size, so each of its forwards is
compiled once per architecture (top-k's once per layer) whatever the set size, and
gives what the network computes on the whole set at once (``model.apply`` unchunked,
the softmax and the maxima in NumPy)."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer

ARCH = ArchSpec(convs=(ConvLayer(filters=3, kernel=3), ConvLayer(filters=4, kernel=3)), dense=(8,))
NORM = np.array([[0.4], [0.25]], np.float32)


@pytest.fixture(scope="module")
def model():
    import jax

    from convscope.model.network import init

    return jax.device_get(init(ARCH, 5))


def reference(params, state, images):
    """Logits and taps of the whole set in one unchunked call, probabilities in float64."""
    from convscope.model.network import apply, preprocess

    logits, taps, _ = apply(ARCH, params, state, preprocess(images, NORM[0], NORM[1]), train=False)
    z = np.asarray(logits, np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True), {k: np.asarray(v) for k, v in taps.items()}


def test_every_caller_shares_one_compiled_forward_and_matches_the_unchunked_network(model) -> None:
    from convscope.probes import chunked
    from convscope.probes.evaluate import predict_probs
    from convscope.probes.inspect import Inspector
    from convscope.probes.topk import channel_maxima

    params, state = model
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (chunked.CHUNK + 37, 28, 28, 1), dtype=np.uint8)
    want_probs, want_taps = reference(params, state, images)
    before = dict(chunked.TRACES)
    inspector = Inspector(ARCH)
    for n in (len(images), 5):  # several chunks, the last padded; a set smaller than one chunk
        x = images[:n]
        np.testing.assert_allclose(predict_probs(ARCH, params, state, NORM, x), want_probs[:n], rtol=1e-5,
                                   atol=1e-7)  # fmt: skip
        for layer in ("conv1", "act2", "pool2"):  # any layer: the same compiled forward
            vals, pos = channel_maxima(ARCH, params, state, NORM, layer, x)
            t = want_taps[layer][:n]
            flat = t.reshape(n, -1, t.shape[-1])
            np.testing.assert_allclose(vals, flat.max(axis=1), rtol=1e-5, atol=1e-6)
            r, c = pos[..., 0], pos[..., 1]
            picked = t[np.arange(n)[:, None], r, c, np.arange(t.shape[-1])[None, :]]
            np.testing.assert_allclose(picked, vals, rtol=1e-5, atol=1e-6)  # the position holds the maximum
        taps, probs = inspector.run_batch(params, state, NORM, x, layers=["conv1", "conv2"])
        assert set(taps) == {"conv1", "conv2"}
        np.testing.assert_allclose(taps["conv2"], want_taps["conv2"][:n], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(probs, want_probs[:n], rtol=1e-5, atol=1e-7)
        all_taps, _ = inspector.run_batch(params, state, NORM, x)
        assert tuple(all_taps) == tuple(inspector.names)
    traced = {k: v - before.get(k, 0) for k, v in chunked.TRACES.items() if k[1] == ARCH}
    # Once per architecture (top-k: once per layer), whatever the set size: one chunk shape.
    want = {("logits", ARCH): 1, ("taps", ARCH): 1}
    want.update({("maxima", ARCH, layer): 1 for layer in ("conv1", "act2", "pool2")})
    assert traced == want, traced


def test_a_run_stops_when_asked_and_reports_progress_per_chunk() -> None:
    from convscope.probes.chunked import CHUNK, Cancelled, run_chunks

    x = np.arange(2 * CHUNK + 3, dtype=np.float32)
    seen = []
    parts = run_chunks(lambda b: b * 2, x, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(np.concatenate(parts), x * 2)
    assert seen == [(CHUNK, len(x)), (2 * CHUNK, len(x)), (len(x), len(x))]
    assert run_chunks(lambda b: b, x, should_stop=lambda: True) is None
    with pytest.raises(Cancelled):
        run_chunks(lambda b: b, x, progress=lambda done, total: False)
