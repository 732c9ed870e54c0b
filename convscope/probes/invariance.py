"""How the network's response changes when the input moves: Zeiler & Fergus's invariance
curves (2014, fig. 5).

For one image, a *sweep* moves it along one transformation — horizontal or vertical
shift (± half the input), scale (0.5–1.5) or rotation (±180°) — and, for every moved
copy, measures per layer the distance between its feature vector and the original's,
normalised by the original's norm, ``‖f(x') − f(x)‖ / ‖f(x)‖``, and the probability of
one class (the true one when known, else the class predicted for the original).

A sweep is one jitted call: the moved copies are made on the device (bilinear
sampling, the inverse map of each transform about the image centre), the model runs on
all of them as one batch, the distances are taken there. Every sweep contains the
identity transform exactly, and the original's features *are* that element's, so the
distance at the identity is exactly 0. Pixels moved in from outside the image take a
constant fill: the median of the image's border pixels, per channel (black for the
digits), so a moved digit is not smeared by repeated edges.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from convscope.config import ArchSpec
from convscope.model.network import apply
from convscope.probes.invariance_kinds import KINDS, LABELS  # noqa: F401  (LABELS: this module's API)
from convscope.shapes import layer_table

HostParams = dict[str, dict[str, np.ndarray]]

SCALE_RANGE = (0.5, 1.5)
SCALE_STEPS = 21
ROTATE_STEP_DEG = 15
MAX_SHIFT_STEPS = 29  # integer shifts; a larger input steps by more than a pixel


@dataclass(frozen=True)
class Sweep:
    """One transformation's curves for one image. Arrays are host NumPy."""

    kind: str
    values: np.ndarray  # (n,) the transform's parameter: pixels, factor or degrees
    identity: int  # index of the identity transform in ``values``
    images: np.ndarray  # (n, H, W, C) float32 in [0, 255]: the moved copies the model saw
    distances: dict[str, np.ndarray]  # layer → (n,) normalised feature distance, layer order
    probs: np.ndarray  # (n, K) softmax of each moved copy
    target: int  # the class whose probability the curves follow
    target_is_label: bool  # True: the image's true class; False: predicted for the original
    seconds: float

    @property
    def target_probs(self) -> np.ndarray:
        return self.probs[:, self.target]

    @property
    def predicted(self) -> np.ndarray:
        """(n,) the class predicted for each moved copy."""
        return self.probs.argmax(axis=1)


def feature_layers(arch: ArchSpec) -> list[str]:
    """The layers whose features the curves compare: every tap but ``flatten`` (the last
    map again, reshaped), forward order."""
    return [row.name for row in layer_table(arch)[1:] if row.kind != "flatten"]


def sweep_values(kind: str, image_shape: Sequence[int]) -> tuple[np.ndarray, int]:
    """The parameter values of a sweep and the index of the identity among them.

    Shifts are whole pixels from −half to +half the input (every pixel up to 29 steps,
    then evenly spaced whole pixels); scale 0.5 to 1.5 in 21 steps; rotation −180° to
    180° every 15°. The identity (0 px, ×1, 0°) is in every sweep, exactly."""
    if kind not in KINDS:
        raise ValueError(f"invariance: unknown transformation {kind!r}; choose from {', '.join(KINDS)}")
    if kind in ("shift_x", "shift_y"):
        size = int(image_shape[1] if kind == "shift_x" else image_shape[0])
        half = size // 2
        step = max(1, math.ceil(2 * half / (MAX_SHIFT_STEPS - 1)))
        right = np.arange(0, half + 1, step, dtype=np.float64)
        values = np.concatenate([-right[:0:-1], right])
        return values, len(right) - 1
    if kind == "scale":
        lo, hi = SCALE_RANGE
        half = SCALE_STEPS // 2
        values = np.concatenate([np.linspace(lo, 1.0, half + 1)[:-1], [1.0], np.linspace(1.0, hi, half + 1)[1:]])
        return values, half
    right = np.arange(0, 180 + 1, ROTATE_STEP_DEG, dtype=np.float64)
    return np.concatenate([-right[:0:-1], right]), len(right) - 1


def inverse_affines(kind: str, values: np.ndarray) -> np.ndarray:
    """(n, 2, 3) maps from an output pixel's (row, col) offset from the image centre to
    the source offset it samples (the inverse of the transform)."""
    n = len(values)
    out = np.zeros((n, 2, 3), np.float64)
    out[:, 0, 0] = out[:, 1, 1] = 1.0
    v = np.asarray(values, np.float64)
    if kind == "shift_x":
        out[:, 1, 2] = -v
    elif kind == "shift_y":
        out[:, 0, 2] = -v
    elif kind == "scale":
        out[:, 0, 0] = out[:, 1, 1] = 1.0 / v
    elif kind == "rotate":
        # Counter-clockwise on the screen (rows grow downwards): the source of an output
        # offset (r, c) is that offset turned clockwise by the angle.
        a = np.deg2rad(v)
        cos, sin = np.cos(a), np.sin(a)
        identity = v == 0
        cos[identity], sin[identity] = 1.0, 0.0
        out[:, 0, 0], out[:, 0, 1] = cos, sin
        out[:, 1, 0], out[:, 1, 1] = -sin, cos
    else:
        raise ValueError(f"invariance: unknown transformation {kind!r}")
    return out.astype(np.float32)


def border_fill(image: np.ndarray) -> np.ndarray:
    """(C,) float32: the median of the image's border pixels, per channel."""
    img = np.asarray(image, np.float32)
    border = np.concatenate([img[0], img[-1], img[1:-1, 0], img[1:-1, -1]], axis=0)
    return np.median(border, axis=0).astype(np.float32)


def move(image: jax.Array, affines: jax.Array, fill: jax.Array) -> jax.Array:
    """(n, H, W, C): ``image`` (H, W, C) resampled bilinearly under each inverse affine
    about the centre; samples outside the image take ``fill`` (C,)."""
    h, w, _ = image.shape
    padded = jnp.pad(image, ((1, 1), (1, 1), (0, 0)))
    padded = padded.at[0].set(fill).at[-1].set(fill).at[:, 0].set(fill).at[:, -1].set(fill)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rr, cc = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy, jnp.arange(w, dtype=jnp.float32) - cx,
                          indexing="ij")
    grid = jnp.stack([rr, cc, jnp.ones_like(rr)], axis=-1)  # (H, W, 3)
    src = jnp.einsum("bij,hwj->bhwi", affines, grid)
    # In the padded image, row -1 of the original is row 0: every sample beyond the
    # image lands on (or between the image's edge and) the fill.
    sy = jnp.clip(src[..., 0] + cy + 1.0, 0.0, h + 1.0)
    sx = jnp.clip(src[..., 1] + cx + 1.0, 0.0, w + 1.0)
    y0 = jnp.floor(sy).astype(jnp.int32)
    x0 = jnp.floor(sx).astype(jnp.int32)
    y1, x1 = jnp.minimum(y0 + 1, h + 1), jnp.minimum(x0 + 1, w + 1)
    fy, fx = (sy - y0)[..., None], (sx - x0)[..., None]
    top = padded[y0, x0] * (1 - fx) + padded[y0, x1] * fx
    bottom = padded[y1, x0] * (1 - fx) + padded[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@functools.lru_cache(maxsize=16)
def _sweep_fn(arch: ArchSpec, layers: tuple[str, ...]) -> Callable:
    """Jitted (params, state, norm, image, affines, fill, identity) → (moved, distances, probs)."""

    def fn(params, state, norm, image, affines, fill, identity):
        moved = move(image, affines, fill)
        x = (moved / 255.0 - norm[0]) / norm[1]
        logits, taps, _ = apply(arch, params, state, x, train=False)
        dists = []
        for name in layers:
            f = taps[name].reshape(taps[name].shape[0], -1)
            ref = f[identity]
            ref_norm = jnp.sqrt(jnp.sum(ref * ref))
            d = jnp.sqrt(jnp.sum((f - ref[None]) ** 2, axis=1))
            dists.append(jnp.where(ref_norm > 0, d / jnp.where(ref_norm > 0, ref_norm, 1.0), jnp.nan))
        return moved, tuple(dists), jax.nn.softmax(logits, axis=-1)

    return jax.jit(fn)


def _check(arch: ArchSpec, image: np.ndarray, norm: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    if image.ndim != 3 or tuple(image.shape) != tuple(arch.input_shape):
        raise ValueError(f"invariance: the image must have the model's input shape {tuple(arch.input_shape)}, "
                         f"got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"invariance: expected uint8 pixels, got {image.dtype}")
    c = arch.input_shape[2]
    if norm is None:
        norm = np.stack([np.zeros(c, np.float32), np.ones(c, np.float32)])
    norm = np.asarray(norm, np.float32)
    if norm.shape != (2, c):
        raise ValueError(f"invariance: norm must have shape (2, {c}), got {norm.shape}")
    return image, norm


def sweep(arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray | None, image: np.ndarray,
          kind: str, *, label: int | None = None, layers: Sequence[str] | None = None) -> Sweep:
    """The invariance curves of ``image`` (uint8, the model's input shape) under ``kind``.

    ``label``: the image's true class (its probability is followed); None: the class
    predicted for the original. ``layers``: the layers to measure (default: all of
    :func:`feature_layers`)."""
    image, norm = _check(arch, image, norm)
    known = feature_layers(arch)
    names = tuple(known if layers is None else layers)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"invariance: no layer {unknown[0]!r} in this model; it has {', '.join(known)}")
    if label is not None and not 0 <= int(label) < arch.num_classes:
        raise ValueError(f"invariance: class {label} is not one of the model's {arch.num_classes} classes")
    values, identity = sweep_values(kind, arch.input_shape)
    t0 = time.perf_counter()
    fn = _sweep_fn(arch, names)
    moved, dists, probs = jax.device_get(fn(params, state, norm, image.astype(np.float32),
                                            inverse_affines(kind, values), border_fill(image), identity))
    seconds = time.perf_counter() - t0
    target = int(label) if label is not None else int(np.argmax(probs[identity]))
    return Sweep(kind=kind, values=values, identity=identity, images=np.asarray(moved, np.float32),
                 distances={n: np.asarray(d, np.float64) for n, d in zip(names, dists, strict=True)},
                 probs=np.asarray(probs, np.float64), target=target, target_is_label=label is not None,
                 seconds=seconds)


def sweeps(arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray | None, image: np.ndarray,
           *, label: int | None = None, kinds: Sequence[str] = KINDS,
           layers: Sequence[str] | None = None) -> dict[str, Sweep]:
    """:func:`sweep` for each of ``kinds`` (all four by default), following one class:
    ``label``, or the class predicted for the original."""
    return {kind: sweep(arch, params, state, norm, image, kind, label=label, layers=layers) for kind in kinds}
