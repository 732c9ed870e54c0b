"""Activation maximization: synthetic images that excite one channel of a layer.

One image per channel; all channels are optimised together as one batch (image ``i``
maximises its own channel) by a Python loop of jitted steps (shared/PERFORMANCE.md:
2.6× faster than a ``fori_loop`` on XLA:CPU). The step is jitted once per
(architecture, layer, switches) and jit caches it per batch shape; every numeric
setting is a traced argument, so tuning a slider never recompiles.

The optimiser is normalised gradient ascent on ``v = image − 0.5`` (pixels in [0, 1]),
followed by the four regularizers of Yosinski et al. (2015) as projections — L2 decay,
Gaussian blur every k steps, clipping of low-norm and of low-contribution pixels —
and the box constraint ``image ∈ [0, 1]``, so the result is a real image. Transformation
robustness as in Lucid (Olah et al. 2017): each step sees the image randomly
translated, scaled and rotated (one bilinear warp). ``fourier=True`` takes the steps of
Lucid's decorrelated Fourier parametrization: for plain gradient steps, optimising the
spectrum ``s`` of ``image = irfft2(s / f)`` moves the pixels by ``irfft2(rfft2(g) / f²)``,
which is the preconditioner applied here (1/f with f floored at one cycle per image).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from convscope.config import ArchSpec
from convscope.model.layers import pool2d
from convscope.model.network import apply
from convscope.probes.fields import SPATIAL_KINDS, centre_window, field_geometry, spatial_layers, spatial_row

HostParams = dict[str, dict[str, np.ndarray]]
OBJECTIVES = ("center", "mean")
__all__ = ["SPATIAL_KINDS", "ActMaxResult", "ActMaxSettings", "activation_maximization", "centre_window",
           "field_geometry",
           "layer_objective", "spatial_layers", "spatial_row"]
MAX_BLUR_SIGMA = 2.0
_BLUR_RADIUS = math.ceil(3 * MAX_BLUR_SIGMA)


def _check(name: str, value: object, lo: float, hi: float, integer: bool = False, hi_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and isinstance(value, int)
    if ok:
        ok = lo <= value and (value < hi if hi_open else value <= hi)  # type: ignore[operator]
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{lo}, {hi}{')' if hi_open else ']'}, got {value!r}")


@dataclass(frozen=True)
class ActMaxSettings:
    """How activation maximization runs; the defaults give readable images.

    Defaults (looked at on the default 28×28×1 model trained 400 steps on the built-in
    digits, 97 % validation accuracy, and on the untrained 32×32×3 CIFAR-tutorial net):
    128 steps of size 0.05 (normalised gradient, pixels in [0, 1]); objective at the
    centre position, as in Yosinski et al.'s toolbox: the image fills the unit's
    receptive field and stays grey outside it, so conv1-act2 units give stroke- and
    edge-like patches instead of the full-frame gratings the spatial mean gives on
    28-32 px inputs; L2 decay 0.01 towards grey; blur σ = 0.5 px every 4 steps (σ = 1
    is smoother but halves the activation reached); jitter ±1 px, scale ±5 %, rotation
    ±5°; percentile clipping off (on a receptive field of a few dozen pixels it blanks
    most of the image); Fourier preconditioning off (it spreads smooth colour blobs
    over the whole frame on inputs this small).
    """

    steps: int = 128
    learning_rate: float = 0.05
    objective: str = "center"
    l2_decay: float = 0.01
    blur_every: int = 4
    blur_sigma: float = 0.5
    norm_clip: float = 0.0
    contrib_clip: float = 0.0
    jitter: float = 1.0
    scale: float = 0.05
    rotate: float = 5.0
    fourier: bool = False
    seed: int = 0
    progress_every: int = 8

    def __post_init__(self) -> None:
        _check("steps", self.steps, 1, 10000, integer=True)
        _check("learning_rate", self.learning_rate, 1e-6, 10.0)
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}")
        _check("l2_decay", self.l2_decay, 0.0, 1.0, hi_open=True)
        _check("blur_every", self.blur_every, 0, 1000, integer=True)
        _check("blur_sigma", self.blur_sigma, 0.0, MAX_BLUR_SIGMA)
        _check("norm_clip", self.norm_clip, 0.0, 100.0, hi_open=True)
        _check("contrib_clip", self.contrib_clip, 0.0, 100.0, hi_open=True)
        _check("jitter", self.jitter, 0.0, 8.0)
        _check("scale", self.scale, 0.0, 0.5)
        _check("rotate", self.rotate, 0.0, 45.0)
        if not isinstance(self.fourier, bool):
            raise ValueError(f"fourier must be true or false, got {self.fourier!r}")
        _check("seed", self.seed, 0, 2**31 - 1, integer=True)
        _check("progress_every", self.progress_every, 1, 10000, integer=True)

    def replace(self, **changes: object) -> ActMaxSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ActMaxResult:
    """Synthetic images (C, H, W, Cin) in [0, 1] and their objective values (C,)."""

    layer: str
    channels: np.ndarray
    images: np.ndarray
    activations: np.ndarray
    steps: int
    seconds: float


def _objective_map(arch: ArchSpec, layer: str, taps: dict[str, jax.Array], surrogate: bool) -> jax.Array:
    """The map whose channel is maximised. With ``surrogate`` and a ReLU net, act and
    pool layers use the pre-activation: ReLU is monotone, so the same image maximises
    both, but the pre-activation still has a gradient where the unit starts inactive
    (otherwise a channel that is dead on the initial image never moves)."""
    row = spatial_row(arch, layer)
    if not surrogate or arch.activation != "relu" or row.kind not in ("act", "pool"):
        return taps[layer]
    i = int(layer[3:] if row.kind == "act" else layer[4:])
    pre = taps[f"bn{i}" if arch.batch_norm else f"conv{i}"]
    if row.kind == "pool":
        conv = arch.convs[i - 1]
        pre = pool2d(pre, conv.pool_size, conv.pool)
    return pre


def _select(t: jax.Array, chans: jax.Array, objective: str, at: tuple[int, int] | None = None) -> jax.Array:
    """(B, h, w, K) map → (B,): image b's own channel, at the centre (or ``at``) or averaged."""
    b = jnp.arange(t.shape[0])
    if objective == "center":
        r, c = at if at is not None else (t.shape[1] // 2, t.shape[2] // 2)
        return t[b, r, c, chans]
    return t.mean(axis=(1, 2))[b, chans]


def warp(images: jax.Array, affine: jax.Array, window: tuple[int, int, int, int] | None = None) -> jax.Array:
    """Bilinear warp of (B, H, W, C) by per-image (B, 2, 3) affines acting on (row, col)
    offsets from the image centre; sampling outside repeats the edge pixels. With
    ``window`` (row0, row1, col0, col1) only that part of the output is computed."""
    _, h, w, _ = images.shape
    r0, r1, c0, c1 = window if window is not None else (0, h, 0, w)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rr, cc = jnp.meshgrid(jnp.arange(r0, r1, dtype=jnp.float32) - cy,
                          jnp.arange(c0, c1, dtype=jnp.float32) - cx, indexing="ij")
    grid = jnp.stack([rr, cc, jnp.ones_like(rr)], axis=-1)  # (H, W, 3)
    src = jnp.einsum("bij,hwj->bhwi", affine, grid)
    sy = jnp.clip(src[..., 0] + cy, 0.0, h - 1.0)
    sx = jnp.clip(src[..., 1] + cx, 0.0, w - 1.0)
    y0 = jnp.floor(sy).astype(jnp.int32)
    x0 = jnp.floor(sx).astype(jnp.int32)
    y1, x1 = jnp.minimum(y0 + 1, h - 1), jnp.minimum(x0 + 1, w - 1)
    fy, fx = (sy - y0)[..., None], (sx - x0)[..., None]
    b = jnp.arange(images.shape[0])[:, None, None]
    top = images[b, y0, x0] * (1 - fx) + images[b, y0, x1] * fx
    bottom = images[b, y1, x0] * (1 - fx) + images[b, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def random_affines(rng: np.random.Generator, n: int, settings: ActMaxSettings) -> np.ndarray:
    """(n, 2, 3) float32: rotation × scale, then a translation of up to ``jitter`` px."""
    angle = np.deg2rad(rng.uniform(-settings.rotate, settings.rotate, n))
    s = rng.uniform(1 - settings.scale, 1 + settings.scale, n)
    shift = rng.uniform(-settings.jitter, settings.jitter, (n, 2))
    cos, sin = np.cos(angle) / s, np.sin(angle) / s  # the source is sampled: inverse map
    out = np.empty((n, 2, 3), np.float32)
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = cos, -sin, shift[:, 0]
    out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = sin, cos, shift[:, 1]
    return out


def _blur_matrix(n: int, k: jax.Array) -> jax.Array:
    """(n, n) matrix applying the 1-D kernel ``k`` (length 2R+1) with edge padding."""
    r = (k.shape[0] - 1) // 2
    rows = jnp.arange(n)[:, None]
    cols = jnp.clip(rows + jnp.arange(-r, r + 1)[None, :], 0, n - 1)
    return jnp.zeros((n, n), k.dtype).at[rows, cols].add(jnp.broadcast_to(k, (n, k.shape[0])))


def gaussian_blur(v: jax.Array, sigma: jax.Array | float) -> jax.Array:
    """Separable Gaussian blur of (B, H, W, C) with edge padding; sigma may be traced.

    Two small matrix products: on XLA:CPU a depthwise convolution was ~20× slower."""
    x = jnp.arange(-_BLUR_RADIUS, _BLUR_RADIUS + 1, dtype=jnp.float32)
    k = jnp.exp(-0.5 * (x / jnp.maximum(sigma, 1e-3)) ** 2)
    k = k / k.sum()
    v = jnp.einsum("ij,bjwc->biwc", _blur_matrix(v.shape[1], k), v)
    return jnp.einsum("ij,bhjc->bhic", _blur_matrix(v.shape[2], k), v)


def fourier_precondition(g: jax.Array) -> jax.Array:
    """Pixel gradient → the pixel step of gradient ascent on a 1/f-scaled spectrum."""
    h, w = g.shape[1], g.shape[2]
    fy = jnp.fft.fftfreq(h)[:, None]
    fx = jnp.fft.rfftfreq(w)[None, :]
    scale = 1.0 / jnp.maximum(jnp.sqrt(fy**2 + fx**2), 1.0 / max(h, w))
    spec = jnp.fft.rfft2(g, axes=(1, 2)) * (scale**2)[None, :, :, None]
    return jnp.fft.irfft2(spec, s=(h, w), axes=(1, 2))


def _lowest_share(score: jax.Array, pct: jax.Array) -> jax.Array:
    """(B, H, W) mask of the ⌊pct % · H·W⌋ pixels of each image with the lowest score,
    ties taken in row-major order. By rank rather than "below the percentile": a centre
    unit has no gradient outside its receptive field, so most contributions are exactly
    0, the percentile is 0 and no pixel would lie below it."""
    flat = score.reshape(score.shape[0], -1)
    rank = jnp.argsort(jnp.argsort(flat, axis=1, stable=True), axis=1, stable=True)
    return (rank < jnp.floor(pct / 100.0 * flat.shape[1])).reshape(score.shape)


@functools.lru_cache(maxsize=32)
def _step_fn(arch: ArchSpec, layer: str, objective: str, fourier: bool, norm_clip: bool,
             contrib_clip: bool) -> Callable:
    """One jitted ascent step + projections for (arch, layer, switches).

    The centre objective runs the model on ``centre_window`` only (the centre's
    receptive field): the same value and gradient as the whole image, for a fraction of
    the work (e.g. 5×5 instead of 32×32 pixels for the CIFAR net's second conv)."""
    window, at = centre_window(arch, layer) if objective == "center" else (None, None)

    def objective_of(v, params, state, norm, chans, affine):
        img = warp(0.5 + v, affine, window)
        taps = apply(arch, params, state, (img - norm[0]) / norm[1], stop_after=layer)[1]
        vals = _select(_objective_map(arch, layer, taps, surrogate=True), chans, objective, at)
        return vals.sum(), vals

    def step(v, params, state, norm, chans, affine, hyper, do_blur):
        lr, decay, sigma, norm_pct, contrib_pct = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
        g, vals = jax.grad(objective_of, has_aux=True)(v, params, state, norm, chans, affine)
        d = fourier_precondition(g) if fourier else g
        d = d / (jnp.sqrt(jnp.mean(d**2, axis=(1, 2, 3), keepdims=True)) + 1e-12)
        v = (v + lr * d) * (1.0 - decay)
        v = lax.cond(do_blur, lambda u: gaussian_blur(u, sigma), lambda u: u, v)
        if norm_clip:
            v = jnp.where(_lowest_share(jnp.sqrt((v**2).sum(-1)), norm_pct)[..., None], 0.0, v)
        if contrib_clip:
            v = jnp.where(_lowest_share(jnp.abs((v * g).sum(-1)), contrib_pct)[..., None], 0.0, v)
        return jnp.clip(v, -0.5, 0.5), vals

    return jax.jit(step)


@functools.lru_cache(maxsize=32)
def _eval_fn(arch: ArchSpec, layer: str, objective: str) -> Callable:
    """The layer's true value (no surrogate, no transformation) for each image's channel."""

    def evaluate(images, params, state, norm, chans):
        _, taps, _ = apply(arch, params, state, (images - norm[0]) / norm[1], train=False)
        return _select(taps[layer], chans, objective)

    return jax.jit(evaluate)


def layer_objective(arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray | None,
                    layer: str, images: np.ndarray, channels: Sequence[int], objective: str = "center") -> np.ndarray:
    """Objective value of float images (B, H, W, Cin) in [0, 1] for channel ``channels[b]``."""
    spatial_row(arch, layer)
    norm = _norm(arch, norm)
    fn = _eval_fn(arch, layer, objective)
    out = fn(jnp.asarray(images, jnp.float32), params, state, norm, jnp.asarray(channels, jnp.int32))
    return np.asarray(out, np.float32)


def _norm(arch: ArchSpec, norm: np.ndarray | None) -> np.ndarray:
    c = arch.input_shape[2]
    if norm is None:
        return np.stack([np.zeros(c, np.float32), np.ones(c, np.float32)])
    norm = np.asarray(norm, np.float32)
    if norm.shape != (2, c):
        raise ValueError(f"deepvis: norm must have shape (2, {c}), got {norm.shape}")
    return norm


def activation_maximization(
    arch: ArchSpec,
    params: HostParams,
    state: HostParams,
    norm: np.ndarray | None,
    layer: str,
    settings: ActMaxSettings = ActMaxSettings(),  # noqa: B008 (frozen, so sharing is safe)
    channels: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ActMaxResult | None:
    """Synthesise one image per channel of spatial ``layer``; None if ``should_stop()``.

    ``channels`` (default: all) are optimised together as one batch. ``progress(step,
    total)`` and ``should_stop()`` are called every ``settings.progress_every`` steps.
    """
    row = spatial_row(arch, layer)
    k = row.shape[2]
    chans = np.arange(k) if channels is None else np.asarray(list(channels), np.int64)
    if chans.ndim != 1 or chans.size == 0 or chans.min() < 0 or chans.max() >= k:
        raise ValueError(f"deepvis: channels must be a non-empty list of indices in [0, {k - 1}]")
    norm = _norm(arch, norm)
    t0 = time.perf_counter()
    s = settings
    step = _step_fn(arch, layer, s.objective, s.fourier, s.norm_clip > 0, s.contrib_clip > 0)
    rng = np.random.default_rng(s.seed)
    h, w, c = arch.input_shape
    n = chans.size
    v = jnp.asarray(rng.normal(0.0, 0.01, (n, h, w, c)).astype(np.float32))
    params, state = jax.device_put(params), jax.device_put(state)
    norm_d, chans_d = jnp.asarray(norm), jnp.asarray(chans, jnp.int32)
    hyper = jnp.asarray([s.learning_rate, s.l2_decay, s.blur_sigma, s.norm_clip, s.contrib_clip], jnp.float32)
    blur_on = s.blur_every > 0 and s.blur_sigma > 0
    for i in range(1, s.steps + 1):
        affine = jnp.asarray(random_affines(rng, n, s))
        do_blur = jnp.asarray(blur_on and i % s.blur_every == 0)
        v, _ = step(v, params, state, norm_d, chans_d, affine, hyper, do_blur)
        if i % s.progress_every == 0 or i == s.steps:
            v.block_until_ready()  # so progress reports steps done, not merely dispatched
            if should_stop is not None and should_stop():
                return None
            if progress is not None:
                progress(i, s.steps)
    images = jnp.clip(0.5 + v, 0.0, 1.0)
    acts = _eval_fn(arch, layer, s.objective)(images, params, state, norm_d, chans_d)
    images_h, acts_h = jax.device_get((images, acts))
    return ActMaxResult(
        layer=layer,
        channels=chans,
        images=np.asarray(images_h, np.float32),
        activations=np.asarray(acts_h, np.float32),
        steps=s.steps,
        seconds=time.perf_counter() - t0,
    )
