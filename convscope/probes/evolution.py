"""Feature evolution (Zeiler & Fergus 2014, fig. 4): what each channel of a layer
responds to, at each of a run's snapshots.

For a chosen spatial layer and channels, and each snapshot (step) of a run, a cell holds
the channel's strongest validation patch at that step (the receptive-field crop of the
image that excites it most, ``probes/topk.py`` with k = 1), its synthetic preferred
input (regularised activation maximization, ``probes/deepvis.py``, the same settings and
seed at every step, so the pictures differ only by the weights), and — for the first
conv block's taps — the filter itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope.probes.deepvis import ActMaxSettings, activation_maximization, spatial_row
from convscope.probes.fields import centre_window
from convscope.probes.topk import top_k_patches

DEFAULT_CHANNELS = 16
# Fewer ascent steps than the panel's default: a grid of 30 snapshots × 16 channels in
# about a minute on a laptop CPU, and the pictures settle well before.
EVOLUTION_SETTINGS = ActMaxSettings(steps=96)
SEARCH_IMAGES = 1000  # validation images searched for each channel's strongest patch


@dataclass(frozen=True)
class Evolution:
    """The grid's numbers: snapshots across (``steps``), channels down."""

    layer: str
    steps: np.ndarray  # (S,) the snapshots' steps
    channels: np.ndarray  # (C,)
    patches: np.ndarray  # (S, C, rf, rf, Cin) uint8: each channel's strongest patch
    patch_values: np.ndarray  # (S, C) float32: the channel's maximum on it
    patch_indices: np.ndarray  # (S, C) int64: which image (of those searched)
    synthetic: np.ndarray | None  # (S, C, H, W, Cin) float32 in [0, 1], or None
    filters: np.ndarray | None  # (S, F, F, Din, C) float32 conv1 kernels, or None
    window: tuple[int, int, int, int]  # (row0, row1, col0, col1): the centre unit's receptive field
    seconds: float


def first_block_layer(layer: str) -> bool:
    """Whether ``layer`` is a tap of the first conv block (its channels are conv1's)."""
    return layer in ("conv1", "bn1", "act1", "pool1")


def evolution(snapshots: Sequence[Any], layer: str, images_uint8: np.ndarray, *,
              channels: Sequence[int] | None = None, synthetic: bool = True,
              settings: ActMaxSettings = EVOLUTION_SETTINGS,
              progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> Evolution | None:
    """The feature-evolution grid of ``layer`` over ``snapshots`` (objects with ``step``,
    ``arch``, ``params``, ``state``, ``norm``: checkpoints or Snapshot events, one
    architecture), searching ``images_uint8`` (N, H, W, C) for the patches.

    ``channels``: default the first :data:`DEFAULT_CHANNELS` of the layer.
    ``progress(done, total)`` after each snapshot; None as soon as ``should_stop()``
    (asked between the patch search's batches and the ascent's steps) turns true."""
    if not snapshots:
        raise ValueError("evolution: no snapshots")
    arch = snapshots[0].arch
    if any(s.arch != arch for s in snapshots):
        raise ValueError("evolution: the snapshots are of different architectures (the model changed in the run)")
    row = spatial_row(arch, layer, "evolution")
    k = row.shape[2]
    chans = np.arange(min(DEFAULT_CHANNELS, k)) if channels is None else np.asarray(list(channels), np.int64)
    if chans.ndim != 1 or chans.size == 0 or chans.min() < 0 or chans.max() >= k:
        raise ValueError(f"evolution: channels must be indices in [0, {k - 1}] of {layer}'s {k} channels")
    images = np.asarray(images_uint8)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(arch.input_shape) or images.dtype != np.uint8 or \
            not len(images):
        raise ValueError(f"evolution: images must be uint8 (N, {', '.join(map(str, arch.input_shape))}) "
                         f"with N > 0, got {images.dtype} {images.shape}")
    t0 = time.perf_counter()
    patches, values, indices, synth, kernels = [], [], [], [], []
    for i, snap in enumerate(snapshots):
        top = top_k_patches(arch, snap.params, snap.state, snap.norm, layer, images, k=1, should_stop=should_stop)
        if top is None:
            return None
        patches.append(top.patches[chans, 0])
        values.append(top.values[chans, 0])
        indices.append(top.indices[chans, 0])
        if synthetic:
            result = activation_maximization(arch, snap.params, snap.state, snap.norm, layer, settings, chans,
                                             should_stop=should_stop)
            if result is None:
                return None
            synth.append(result.images)
        if first_block_layer(layer):
            kernels.append(np.asarray(snap.params["conv1"]["w"], np.float32)[..., chans])
        if progress is not None:
            progress(i + 1, len(snapshots))
    return Evolution(
        layer=layer, steps=np.asarray([int(s.step) for s in snapshots], np.int64), channels=chans,
        patches=np.stack(patches), patch_values=np.stack(values).astype(np.float32),
        patch_indices=np.stack(indices).astype(np.int64),
        synthetic=np.stack(synth).astype(np.float32) if synthetic else None,
        filters=np.stack(kernels) if kernels else None, window=tuple(int(v) for v in centre_window(arch, layer)[0]),
        seconds=time.perf_counter() - t0,
    )
