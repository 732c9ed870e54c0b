"""The one padded, chunked loop of the probes over many images, and their forwards.

Every probe that runs the network over a set of images (evaluation, top-k patches,
the Activations panel's batch statistics, the loss landscape's batches) cuts it into
chunks of ``CHUNK`` images, the last one zero-padded, so that one compiled shape
serves every set size (:func:`run_chunks`, :func:`padded`); the loop keeps one chunk in
flight while it reads the previous one back. The jitted forwards, each traced once per
architecture whatever the set size:

* :func:`logits_forward`: the logits alone (evaluation);
* :func:`taps_forward`: the logits and every tap, callers reading back only the taps
  they need (the batch statistics' pre-activations, ``Inspector.run_batch``);
* top-k's maxima of one layer (``topk``, once per layer) and the landscape's loss at a
  perturbed point (``landscape_eval``) keep functions of their own.

Why not one function for all: returning every tap (so that any caller could take what
it needs) made a forward of 256 images 2–3 times slower on XLA:CPU (default model) and
top-k 2.8 times slower, as outputs can no longer be fused away; measured on a shared
2-core machine. ``TRACES`` counts the traces (tests/test_chunked.py).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from convscope.config import ArchSpec
from convscope.model.network import apply, preprocess
from convscope.probes.jobs import Cancelled  # a chunked run stopped: its progress callback said False

CHUNK = 256  # images per jitted call; the last chunk of a set is zero-padded to this
TRACES: Counter = Counter()  # (forward name, arch) → times traced


def padded(batch: np.ndarray, size: int) -> np.ndarray:
    """``batch`` with zero rows appended up to ``size`` rows."""
    m = len(batch)
    if m >= size:
        return batch
    return np.concatenate([batch, np.zeros((size - m, *batch.shape[1:]), batch.dtype)])


@functools.lru_cache(maxsize=8)
def logits_forward(arch: ArchSpec) -> Callable:
    """Jitted (params, state, norm (2, C), uint8 images) → logits (N, K), eval mode."""

    def forward(params, state, norm, images):
        TRACES["logits", arch] += 1
        return apply(arch, params, state, preprocess(images, norm[0], norm[1]), train=False)[0]

    return jax.jit(forward)


@functools.lru_cache(maxsize=8)
def taps_forward(arch: ArchSpec) -> Callable:
    """Jitted (params, state, norm, uint8 images) → (logits (N, K), {tap: (N, …)}), eval mode."""

    def forward(params, state, norm, images):
        TRACES["taps", arch] += 1
        logits, taps, _ = apply(arch, params, state, preprocess(images, norm[0], norm[1]), train=False)
        return logits, taps

    return jax.jit(forward)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32 (on the host: the forwards return logits)."""
    z = np.asarray(logits, np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run_chunks(call: Callable[[np.ndarray], Any], images: np.ndarray, *, chunk: int = CHUNK,
               should_stop: Callable[[], bool] | None = None,
               progress: Callable[[int, int], bool | None] | None = None) -> list[Any] | None:
    """``call(chunk of images)`` (device arrays, leading axis the images) on every chunk,
    padded to ``chunk``; each result read back to the host and cut to its real images.
    One chunk is in flight while the previous one is read. Returns the host results in
    order; None when ``should_stop()`` says so before a chunk; :class:`Cancelled` when
    ``progress(done, total)`` (after each chunk) returns False."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    n = len(images)
    out: list[Any] = []
    pending: tuple[int, int, Any] | None = None
    for start in [*range(0, n, chunk), None]:
        launched = None
        if start is not None:
            if should_stop is not None and should_stop():
                return None
            batch = images[start : start + chunk]
            launched = (start, len(batch), call(padded(batch, chunk)))
        if pending is not None:
            s, m, result = pending
            out.append(jax.tree.map(lambda a, m=m: np.asarray(a)[:m], jax.device_get(result)))
            if progress is not None and progress(s + m, n) is False:
                raise Cancelled
        pending = launched
    return out
