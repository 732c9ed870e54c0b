"""Top-k patches: equal to a brute-force ranking, the incremental tracker equals the
one-shot pass, receptive-field boxes and crops match hand-computed ones."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer
from convscope.model import init
from convscope.probes.inspect import Inspector
from convscope.probes.topk import TopKTracker, crop, field_geometry, receptive_box, top_k_patches
from convscope.shapes import layer_table

ARCH = ArchSpec(input_shape=(12, 12, 2), convs=(ConvLayer(3, 3), ConvLayer(4, 3, padding="valid", pool="avg")),
                dense=(), num_classes=3)


@pytest.fixture(scope="module")
def setup():
    params, state = jax.device_get(init(ARCH, 1))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 12, 12, 2), dtype=np.uint8)
    norm = np.array([[0.5, 0.4], [0.3, 0.2]], np.float32)
    return params, state, norm, images


def _brute(maps: np.ndarray, k: int):
    """Rank images per channel by their spatial maximum, by plain Python sorting."""
    n, h, w, c = maps.shape
    vals, idx, pos = [], [], []
    for ch in range(c):
        scored = []
        for i in range(n):
            m = maps[i, :, :, ch]
            flat = int(np.argmax(m))  # first maximum in row-major order
            scored.append((-float(m.max()), i, divmod(flat, w)))
        scored.sort(key=lambda s: (s[0], s[1]))
        vals.append([-s[0] for s in scored[:k]])
        idx.append([s[1] for s in scored[:k]])
        pos.append([s[2] for s in scored[:k]])
    return np.array(vals), np.array(idx), np.array(pos)


@pytest.mark.parametrize("layer", ["conv1", "act1", "pool1", "act2", "pool2"])
def test_top_k_equals_brute_force_ranking(setup, layer) -> None:
    params, state, norm, images = setup
    res = top_k_patches(ARCH, params, state, norm, layer, images, k=5, batch_size=16)
    taps, _ = Inspector(ARCH).run_batch(params, state, norm, images, layers=[layer])
    vals, idx, pos = _brute(taps[layer], 5)
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_array_equal(res.positions, pos)
    np.testing.assert_allclose(res.values, vals, rtol=1e-5, atol=1e-6)
    start, jump, rf = field_geometry(ARCH)[layer]
    assert res.patches.shape == (taps[layer].shape[-1], 5, rf, rf, 2) and res.patches.dtype == np.uint8
    for ch in range(res.indices.shape[0]):
        for j in range(5):
            r, c = res.positions[ch, j]
            box = receptive_box(ARCH, layer, int(r), int(c))
            np.testing.assert_array_equal(res.boxes[ch, j], box)
            np.testing.assert_array_equal(res.patches[ch, j], crop(images[res.indices[ch, j]], box))


def test_tracker_fed_in_batches_equals_one_shot(setup) -> None:
    params, state, norm, images = setup
    once = top_k_patches(ARCH, params, state, norm, "act2", images, k=4)
    tracker = TopKTracker(ARCH, "act2", k=4, batch_size=8)
    order = np.random.default_rng(5).permutation(len(images))
    for part in np.array_split(order, [3, 13, 14, 30]):
        tracker.update(params, state, norm, images[part], part)
    tracker.update(params, state, norm, images[order[:10]], order[:10])  # seen again: no duplicates
    assert tracker.count == len(images) + 10
    got = tracker.result(images)
    for name in ("values", "indices", "positions", "patches", "boxes"):
        np.testing.assert_array_equal(getattr(got, name), getattr(once, name), err_msg=name)
    tracker.reset()
    assert tracker.count == 0 and (tracker.result(images).indices == -1).all()


def test_fewer_images_than_k_leave_empty_slots(setup) -> None:
    params, state, norm, images = setup
    res = top_k_patches(ARCH, params, state, norm, "conv1", images[:2], k=3)
    assert (res.indices[:, 2] == -1).all() and np.isneginf(res.values[:, 2]).all()
    assert (res.patches[:, 2] == 0).all()
    assert top_k_patches(ARCH, params, state, norm, "conv1", images, should_stop=lambda: True) is None


def test_receptive_fields_match_the_shape_table_and_hand_computed_boxes() -> None:
    for arch in (ARCH, ArchSpec(), ArchSpec(convs=(ConvLayer(8, 5, stride=2, padding="valid"), ConvLayer(8, 4))),
                 ArchSpec(convs=(ConvLayer(25, 5, padding="valid"), ConvLayer(25, 5, padding="valid"),
                                 ConvLayer(25, 4, padding="valid", pool="none")), dense=(50,))):
        geo = field_geometry(arch)
        for row in layer_table(arch):
            if len(row.shape) == 3 and row.kind != "input":
                assert geo[row.name][2] == row.receptive_field, (arch, row.name)
    d = ArchSpec()  # conv 3×3 same, pool 2, conv 3×3 same, pool 2
    assert receptive_box(d, "conv1", 0, 0) == (-1, -1, 2, 2)
    assert receptive_box(d, "pool1", 1, 2) == (1, 3, 5, 7)  # pool window rows 2-3 → conv rows 1-4
    assert receptive_box(d, "act2", 0, 0) == (-3, -3, 5, 5)
    assert receptive_box(d, "pool2", 6, 6) == (21, 21, 31, 31)
    # a 4×4 "same" kernel pads 1 before and 2 after; stride 2 valid 5×5 first
    s = ArchSpec(convs=(ConvLayer(8, 5, stride=2, padding="valid", pool="none"), ConvLayer(8, 4, pool="none")))
    assert receptive_box(s, "conv1", 3, 1) == (6, 2, 11, 7)
    assert receptive_box(s, "conv2", 3, 1) == (4, 0, 15, 11)
    img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    patch = crop(img, (-1, 2, 2, 5))
    np.testing.assert_array_equal(patch[..., 0], [[0, 0, 0], [2, 3, 0], [6, 7, 0]])


def test_bad_layer_images_and_k(setup) -> None:
    params, state, norm, images = setup
    with pytest.raises(ValueError, match="'logits' is not a spatial layer"):
        top_k_patches(ARCH, params, state, norm, "logits", images)
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, 12, 12, 2\)"):
        top_k_patches(ARCH, params, state, norm, "conv1", images[..., :1])
    with pytest.raises(ValueError, match="k must be"):
        TopKTracker(ARCH, "conv1", k=0)
