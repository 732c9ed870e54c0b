"""Every intermediate output of the model for one image (or a batch), as host arrays.

The Feature-maps, Prediction and Activation panels and ``convscope inspect`` call this
with the latest Snapshot's parameters. The forward pass is jitted once per
architecture and input batch size and cached, so a new snapshot or a moved image costs
one dispatch, not a compilation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import numpy as np

from convscope.config import ArchSpec
from convscope.model.network import apply, preprocess
from convscope.probes.chunked import CHUNK, run_chunks, softmax, taps_forward
from convscope.shapes import layer_table

HostParams = dict[str, dict[str, np.ndarray]]

BATCH_CHUNK = CHUNK  # run_batch: the probes' shared chunks and forward (probes.chunked)


@dataclass(frozen=True)
class Inspection:
    """What the model did with one image. Arrays are host NumPy (read-only views)."""

    input: np.ndarray  # float32 (H, W, C): exactly the tensor the model received
    taps: dict[str, np.ndarray]  # every intermediate output without the batch axis, forward order
    probs: np.ndarray  # (K,) softmax of the logits
    logits: np.ndarray  # (K,)


def tap_names(arch: ArchSpec) -> list[str]:
    """The model's tap names in forward order (conv1, [bn1], act1, [pool1], …, logits)."""
    return [row.name for row in layer_table(arch)[1:]]


def default_norm(channels: int) -> np.ndarray:
    """(2, C) mean 0, std 1: the input is then just pixels / 255 (no statistics known)."""
    return np.stack([np.zeros(channels, np.float32), np.ones(channels, np.float32)])


@functools.lru_cache(maxsize=16)
def _forward(arch: ArchSpec, names: tuple[str, ...]) -> Callable:
    """One jitted forward for ``arch`` returning (input, selected taps, logits, probs).

    Cached per (architecture, tap selection) so every Inspector of the same spec shares
    the compiled code; jit then caches per batch size.
    """

    def forward(params, state, norm, images):
        x = preprocess(images, norm[0], norm[1])
        logits, taps, _ = apply(arch, params, state, x, train=False)
        return x, tuple(taps[n] for n in names), logits, jax.nn.softmax(logits, axis=-1)

    return jax.jit(forward)


class Inspector:
    """Runs ``arch`` on images and returns every tap as NumPy arrays.

    Thread-safe as far as JAX is: use it from a probe worker, never the GUI thread's
    paint path (the first call for an input shape compiles).
    """

    def __init__(self, arch: ArchSpec) -> None:
        self.arch = arch
        self.names = tuple(tap_names(arch))

    def _check_images(self, images: np.ndarray, batched: bool) -> np.ndarray:
        images = np.asarray(images)
        want = tuple(self.arch.input_shape)
        got = images.shape[1:] if batched else images.shape
        if images.ndim != (4 if batched else 3) or tuple(got) != want:
            expected = f"(N, {', '.join(map(str, want))})" if batched else str(want)
            raise ValueError(f"Inspector: expected uint8 images of shape {expected}, got {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"Inspector: expected uint8 pixels, got {images.dtype}")
        return images

    def _norm(self, norm: np.ndarray | None) -> np.ndarray:
        c = self.arch.input_shape[2]
        if norm is None:
            return default_norm(c)
        norm = np.asarray(norm, np.float32)
        if norm.shape != (2, c):
            raise ValueError(f"Inspector: norm must have shape (2, {c}), got {norm.shape}")
        return norm

    def run(
        self, params: HostParams, state: HostParams, norm: np.ndarray | None, image: np.ndarray
    ) -> Inspection:
        """All taps for one uint8 (H, W, C) image; ``norm`` (2, C) as in Snapshot.norm."""
        image = self._check_images(image, batched=False)
        fn = _forward(self.arch, self.names)
        x, taps, logits, probs = jax.device_get(fn(params, state, self._norm(norm), image[None]))
        return Inspection(
            input=x[0],
            taps={name: t[0] for name, t in zip(self.names, taps, strict=True)},
            probs=probs[0],
            logits=logits[0],
        )

    def run_batch(
        self,
        params: HostParams,
        state: HostParams,
        norm: np.ndarray | None,
        images: np.ndarray,
        layers: Sequence[str] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Taps (with the batch axis) and probabilities (N, K) for uint8 (N, H, W, C) images.

        Runs the probes' shared forward (``chunked.taps_forward``) in chunks of
        ``BATCH_CHUNK`` (the last one zero-padded), so any N and any ``layers`` compile
        once. ``layers`` restricts the taps returned (and transferred), e.g. to the
        pre-activations that ``unit_stats`` needs; default: all, in forward order.
        """
        images = self._check_images(images, batched=True)
        names = self.names if layers is None else tuple(layers)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(
                f"Inspector: unknown layer(s) {', '.join(unknown)}; known: {', '.join(self.names)}"
            )
        fn = taps_forward(self.arch)
        norm = np.asarray(self._norm(norm), np.float32)
        params, state = jax.device_put(params), jax.device_put(state)
        n = images.shape[0]
        if n == 0:
            one = np.zeros((1, *images.shape[1:]), np.uint8)
            _, shapes = jax.eval_shape(fn, params, state, norm, one)
            empty = {name: np.zeros((0, *shapes[name].shape[1:]), np.float32) for name in names}
            return empty, np.zeros((0, self.arch.num_classes), np.float32)

        def call(batch: np.ndarray) -> tuple:
            logits, taps = fn(params, state, norm, batch)
            return logits, {name: taps[name] for name in names}  # only these are read back

        parts = run_chunks(call, images)
        assert parts is not None
        taps_out = {name: np.concatenate([p[1][name] for p in parts]) for name in names}
        probs_out = softmax(np.concatenate([p[0] for p in parts]))
        return taps_out, probs_out
