"""Top-k patches: for each channel of a layer, the k images that excite it most.

An image's score for a channel is the channel's maximum over the spatial positions;
the patch shown is the channel's receptive field around that position, cropped from the
image (zero outside it). ``TopKTracker`` merges batches as they come, so the GUI can
refresh as training feeds it images without a full pass per step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from convscope.config import ArchSpec
from convscope.model.network import apply, preprocess
from convscope.probes.chunked import CHUNK, TRACES, run_chunks
from convscope.probes.deepvis import _norm
from convscope.probes.fields import field_geometry, spatial_row

HostParams = dict[str, dict[str, np.ndarray]]
DEFAULT_K = 9  # patches per channel in the panel and in ``inspect --deepvis``


@dataclass(frozen=True)
class TopK:
    """Per channel, the k strongest images, best first (see API-deepvis.md)."""

    layer: str
    values: np.ndarray  # (C, k) float32; -inf marks an empty slot
    indices: np.ndarray  # (C, k) int64 into the images; -1 marks an empty slot
    positions: np.ndarray  # (C, k, 2) int64 (row, col) of the maximum in the layer's map
    patches: np.ndarray  # (C, k, rf, rf, Cin) uint8
    boxes: np.ndarray  # (C, k, 4) int64 (row0, col0, row1, col1), end exclusive, in image pixels
    rf: int


def receptive_box(arch: ArchSpec, layer: str, row: int, col: int) -> tuple[int, int, int, int]:
    """(row0, col0, row1, col1) in input pixels (end exclusive) seen by ``layer`` at (row, col)."""
    spatial_row(arch, layer, "top-k")
    start, jump, rf = field_geometry(arch)[layer]
    r0, c0 = start + row * jump, start + col * jump
    return r0, c0, r0 + rf, c0 + rf


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The ``box`` of an (H, W, C) image, zero where it lies outside the image."""
    r0, c0, r1, c1 = box
    h, w = image.shape[:2]
    out = np.zeros((r1 - r0, c1 - c0, image.shape[2]), image.dtype)
    rr0, cc0, rr1, cc1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
    if rr1 > rr0 and cc1 > cc0:
        out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = image[rr0:rr1, cc0:cc1]
    return out


@functools.lru_cache(maxsize=32)
def _maxima_fn(arch: ArchSpec, layer: str) -> Callable:
    """Jitted: uint8 images → (max over positions (N, C), flat argmax (N, C)) of ``layer``.

    Its own forward, one per layer, rather than ``chunked.taps_forward`` and a NumPy max:
    returning every tap made top-k 2.8 times slower (1,000 images, default model)."""

    def maxima(params, state, norm, images):
        TRACES["maxima", arch, layer] += 1
        _, taps, _ = apply(arch, params, state, preprocess(images, norm[0], norm[1]), train=False)
        t = taps[layer]
        flat = t.reshape(t.shape[0], -1, t.shape[-1])
        return flat.max(axis=1), jnp.argmax(flat, axis=1)  # argmax: first position on ties

    return jax.jit(maxima)


def channel_maxima(arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray | None,
                   layer: str, images: np.ndarray, batch_size: int = CHUNK,
                   should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Per image and channel: the maximum (N, C) and its (row, col) (N, C, 2); None if stopped.
    In the probes' chunks (``chunked.run_chunks``)."""
    row = spatial_row(arch, layer, "top-k")
    images = np.asarray(images)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(arch.input_shape) or images.dtype != np.uint8:
        raise ValueError(f"top-k: expected uint8 images of shape (N, {', '.join(map(str, arch.input_shape))}), "
                         f"got {images.dtype} {images.shape}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"top-k: batch_size must be a positive integer, got {batch_size!r}")
    fn = _maxima_fn(arch, layer)
    params, state = jax.device_put(params), jax.device_put(state)
    norm_d = np.asarray(_norm(arch, norm), np.float32)
    k = row.shape[2]
    if images.shape[0] == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k, 2), np.int64)
    parts = run_chunks(lambda batch: fn(params, state, norm_d, batch), images, chunk=batch_size,
                       should_stop=should_stop)  # fmt: skip
    if parts is None:
        return None
    vals = np.concatenate([p[0] for p in parts])
    arg = np.concatenate([p[1] for p in parts])
    pos = np.stack(np.divmod(arg.astype(np.int64), row.shape[1]), axis=-1)
    return vals.astype(np.float32), pos


def _rank(values: np.ndarray, indices: np.ndarray, k: int) -> np.ndarray:
    """Per row, the order putting values descending, ties by lower index, empties last."""
    key_idx = np.where(indices < 0, np.iinfo(np.int64).max, indices)
    return np.lexsort((key_idx, -values), axis=-1)[:, :k]


class TopKTracker:
    """Running top-k over batches of images with global indices (``offsets``)."""

    def __init__(self, arch: ArchSpec, layer: str, k: int = 9, batch_size: int = CHUNK) -> None:
        self.row = spatial_row(arch, layer, "top-k")
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise ValueError(f"top-k: k must be an integer in [1, 1000], got {k!r}")
        self.arch, self.layer, self.k, self.batch_size = arch, layer, k, batch_size
        self.reset()

    def reset(self) -> None:
        """Forget everything (call when the parameters change)."""
        c = self.row.shape[2]
        self.values = np.full((c, self.k), -np.inf, np.float32)
        self.indices = np.full((c, self.k), -1, np.int64)
        self.positions = np.zeros((c, self.k, 2), np.int64)
        self.count = 0

    def update(self, params: HostParams, state: HostParams, norm: np.ndarray | None,
               images: np.ndarray, offsets: np.ndarray) -> None:
        """Run the model on ``images`` (N, H, W, C) uint8 whose global indices are ``offsets``."""
        offsets = np.asarray(offsets, np.int64)
        if offsets.shape != (len(images),) or (offsets < 0).any():
            raise ValueError(f"top-k: offsets must be {len(images)} non-negative indices, got shape {offsets.shape}")
        out = channel_maxima(self.arch, params, state, norm, self.layer, images, self.batch_size)
        assert out is not None
        self.merge(out[0], out[1], offsets)

    def merge(self, maxima: np.ndarray, positions: np.ndarray, offsets: np.ndarray) -> None:
        """Merge per-image maxima (N, C) at (N, C, 2) of images ``offsets`` (N,)."""
        offsets = np.asarray(offsets, np.int64)
        # An image seen again replaces its old entry rather than appearing twice.
        stale = np.isin(self.indices, offsets)
        cur_v = np.where(stale, -np.inf, self.values)
        cur_i = np.where(stale, -1, self.indices)
        c = self.values.shape[0]
        vals = np.concatenate([cur_v, maxima.T.astype(np.float32)], axis=1)
        idx = np.concatenate([cur_i, np.broadcast_to(offsets, (c, offsets.size))], axis=1)
        pos = np.concatenate([self.positions, positions.transpose(1, 0, 2)], axis=1)
        order = _rank(vals, idx, self.k)
        self.values = np.take_along_axis(vals, order, 1)
        self.indices = np.take_along_axis(idx, order, 1)
        self.positions = np.take_along_axis(pos, order[..., None], 1)
        self.count += int(offsets.size)

    def result(self, images: np.ndarray) -> TopK:
        """The current top-k, with patches cropped from ``images`` (indexed by the offsets)."""
        start, jump, rf = field_geometry(self.arch)[self.layer]
        c, k = self.indices.shape
        cin = self.arch.input_shape[2]
        patches = np.zeros((c, k, rf, rf, cin), np.uint8)
        boxes = np.zeros((c, k, 4), np.int64)
        for ch in range(c):
            for j in range(k):
                i = int(self.indices[ch, j])
                if i < 0:
                    continue
                r, col = self.positions[ch, j]
                box = (start + r * jump, start + col * jump, start + r * jump + rf, start + col * jump + rf)
                boxes[ch, j] = box
                patches[ch, j] = crop(images[i], box)
        return TopK(self.layer, self.values.copy(), self.indices.copy(), self.positions.copy(),
                    patches, boxes, rf)


def top_k_patches(arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray | None,
                  layer: str, images_uint8: np.ndarray, k: int = 9, batch_size: int = CHUNK,
                  should_stop: Callable[[], bool] | None = None) -> TopK | None:
    """The k images (and patches) that excite each channel of ``layer`` most; None if stopped."""
    tracker = TopKTracker(arch, layer, k, batch_size)
    out = channel_maxima(arch, params, state, norm, layer, images_uint8, batch_size, should_stop)
    if out is None:
        return None
    tracker.merge(out[0], out[1], np.arange(len(images_uint8)))
    return tracker.result(images_uint8)
