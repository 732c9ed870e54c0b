"""Saliency maps for one image: which pixels the class score depends on.

Methods (``METHODS``): "vanilla" gradient (Simonyan et al. 2014), "smoothgrad"
(Smilkov et al. 2017: gradients averaged over noisy copies), "guided" backprop
(Springenberg et al. 2015), "gradcam" (Selvaraju et al. 2017) and "occlusion" (Zeiler &
Fergus 2014: the drop of the class probability when a grey window hides a region).
Gradients are of the class *logit* with respect to the pixels scaled to [0, 1] (what the
user sees, before the standardisation). Each method is one jitted function per
architecture (and Grad-CAM layer), cached.

The model is run by ``network.apply`` itself, with the hooks guided backprop
(``guided``) and Grad-CAM (``perturb``) need.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convscope.config import ArchSpec
from convscope.model.network import apply
from convscope.probes.deepvis import _norm
from convscope.probes.fields import field_geometry, spatial_layers, spatial_row

HostParams = dict[str, dict[str, np.ndarray]]
METHODS = ("vanilla", "smoothgrad", "guided", "gradcam", "occlusion")
_OPTIONS = {
    "vanilla": set(), "guided": set(), "smoothgrad": {"samples", "noise", "seed"},
    "gradcam": {"layer"}, "occlusion": {"window", "stride", "baseline", "score"},
}
OCCLUSION_CHUNK = 64  # occluded copies per jitted call (padded, so one compiled shape)
# The options the Deep-visualization panel and ``inspect --deepvis`` use (the others are
# ``saliency``'s defaults). A trained net's softmax is often saturated (p ≈ 1 with or
# without the region): the logit still shows the drop.
METHOD_OPTIONS: dict[str, dict[str, Any]] = {"occlusion": {"score": "logit"}}


@dataclass(frozen=True)
class SaliencyResult:
    """A heatmap (H, W) in [0, 1] and, where it makes sense, the signed map behind it."""

    method: str
    heatmap: np.ndarray
    raw: np.ndarray | None
    target_class: int
    probabilities: np.ndarray
    seconds: float
    layer: str | None = None


def _logits_and_tap(arch: ArchSpec, params: Any, state: Any, x: jax.Array, layer: str,
                    delta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Logits with ``delta`` added to layer ``layer``'s output, and that output."""
    logits, taps, _ = apply(arch, params, state, x, perturb={layer: delta})
    return logits, taps[layer]


def _target(probs: jax.Array, target: jax.Array) -> jax.Array:
    return jnp.where(target < 0, jnp.argmax(probs[0]), target)


@functools.lru_cache(maxsize=32)
def _gradient_fn(arch: ArchSpec, guided: bool) -> Callable:
    """Jitted (pixels (B,H,W,C), clean (1,H,W,C), norm, target) → (grads, probs, target)."""

    def fn(params, state, norm, pixels, clean, target):
        logits0 = apply(arch, params, state, (clean - norm[0]) / norm[1])[0]
        probs = jax.nn.softmax(logits0, axis=-1)
        t = _target(probs, target)

        def score(p):
            logits = apply(arch, params, state, (p - norm[0]) / norm[1], guided=guided)[0]
            return logits[:, t].sum()  # images are independent: the sum's gradient is per image

        return jax.grad(score)(pixels), probs[0], t

    return jax.jit(fn)


@functools.lru_cache(maxsize=32)
def _gradcam_fn(arch: ArchSpec, layer: str) -> Callable:
    """Jitted (pixels (1,H,W,C), norm, target) → (Σ_k α_k A_k (h, w), probs, target)."""
    row = spatial_row(arch, layer, "gradcam")

    def fn(params, state, norm, pixels, target):
        x = (pixels - norm[0]) / norm[1]
        delta = jnp.zeros((1, *row.shape), jnp.float32)
        logits, pullback, a = jax.vjp(
            lambda dl: _logits_and_tap(arch, params, state, x, layer, dl), delta, has_aux=True)
        probs = jax.nn.softmax(logits, axis=-1)
        t = _target(probs, target)
        (d,) = pullback(jax.nn.one_hot(t, logits.shape[-1])[None].astype(logits.dtype))
        alpha = d[0].mean(axis=(0, 1))  # (K,): global-average-pooled gradients
        return (a[0] * alpha).sum(-1), probs[0], t

    return jax.jit(fn)


@functools.lru_cache(maxsize=32)
def _probs_fn(arch: ArchSpec) -> Callable:
    def fn(params, state, norm, pixels):
        logits = apply(arch, params, state, (pixels - norm[0]) / norm[1])[0]
        return jax.nn.softmax(logits, axis=-1), logits

    return jax.jit(fn)


def upsample_to_image(arch: ArchSpec, layer: str, cam: np.ndarray) -> np.ndarray:
    """(h, w) layer map → (H, W): bilinear, with map position i placed at the centre of
    its receptive field in the image (exact alignment for valid and same padding)."""
    start, jump, rf = field_geometry(arch)[layer]
    h_img, w_img = arch.input_shape[:2]

    def weights(n_img: int, n_map: int) -> np.ndarray:
        u = np.clip((np.arange(n_img) - (start + (rf - 1) / 2)) / jump, 0, n_map - 1)
        i0 = np.floor(u).astype(int)
        i1 = np.minimum(i0 + 1, n_map - 1)
        m = np.zeros((n_img, n_map))
        np.add.at(m, (np.arange(n_img), i0), 1 - (u - i0))
        np.add.at(m, (np.arange(n_img), i1), u - i0)
        return m

    return (weights(h_img, cam.shape[0]) @ cam @ weights(w_img, cam.shape[1]).T).astype(np.float32)


GRADIENT_PERCENTILE = 99.0  # gradient maps are scaled so this percentile is 1 (clipped above)


def _unit(m: np.ndarray, percentile: float | None = None) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum, or by a percentile and clip:
    a few extreme gradient pixels would otherwise leave the rest of the map black
    (Smilkov et al. cap at the 99th percentile for the same reason). All zeros stays zeros."""
    top = float(m.max()) if m.size else 0.0
    if percentile is not None and top > 0:
        top = float(np.percentile(m, percentile)) or top
    return (np.clip(m / top, 0.0, 1.0) if top > 0 else np.zeros_like(m)).astype(np.float32)


def occlusion_windows(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one side: every ``stride``, plus one flush with the far edge."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] + window < size:
        starts.append(size - window)
    return starts


def _int_option(opts: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    v = opts.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"saliency: {name} must be an integer in [{lo}, {hi}], got {v!r}")
    return int(v)


def _float_option(opts: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    v = opts.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ValueError(f"saliency: {name} must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def saliency(arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray | None,
             image: np.ndarray, method: str, target_class: int | None = None, **options: Any) -> SaliencyResult:
    """Saliency of ``target_class`` (default: the predicted class) for a uint8 (H, W, C) image.

    Options: smoothgrad ``samples=50``, ``noise=0.15`` (std as a fraction of the image's
    value range), ``seed=0``; gradcam ``layer`` (default: the last conv block's
    activation, before its pooling, as the Grad-CAM paper uses VGG's last conv layer);
    occlusion ``window`` (default max(2, H // 7)), ``stride`` (default window // 2, at
    least 1), ``baseline=0.5`` (the grey the window is filled with, pixels in [0, 1]),
    ``score="probability"`` (Zeiler & Fergus) or ``"logit"`` (informative where the
    softmax is saturated: a confident model's probability hardly moves).
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"saliency: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        raise ValueError(f"saliency: {method} has no option(s) {', '.join(sorted(unknown))}")
    image = np.asarray(image)
    if image.shape != tuple(arch.input_shape) or image.dtype != np.uint8:
        raise ValueError(f"saliency: expected a uint8 image of shape {tuple(arch.input_shape)}, "
                         f"got {image.dtype} {image.shape}")
    if target_class is not None and not (isinstance(target_class, (int, np.integer))
                                         and 0 <= target_class < arch.num_classes):
        raise ValueError(f"saliency: target_class must be in [0, {arch.num_classes - 1}], got {target_class!r}")
    target = np.int32(-1 if target_class is None else target_class)
    norm_d = jnp.asarray(_norm(arch, norm))
    params, state = jax.device_put(params), jax.device_put(state)
    pixels = (image.astype(np.float32) / 255.0)[None]
    layer = None
    raw: np.ndarray | None
    if method in ("vanilla", "guided", "smoothgrad"):
        batch = pixels
        if method == "smoothgrad":
            samples = _int_option(options, "samples", 50, 1, 1000)
            noise = _float_option(options, "noise", 0.15, 0.0, 10.0)
            seed = _int_option(options, "seed", 0, 0, 2**31 - 1)
            spread = float(pixels.max() - pixels.min()) or 1.0
            rng = np.random.default_rng(seed)
            batch = pixels + rng.normal(0, noise * spread, (samples, *pixels.shape[1:])).astype(np.float32)
        grads, probs, t = jax.device_get(
            _gradient_fn(arch, method == "guided")(params, state, norm_d, batch, pixels, target))
        raw = grads.mean(axis=0)
        heatmap = _unit(np.abs(grads).max(axis=-1).mean(axis=0), GRADIENT_PERCENTILE)
    elif method == "gradcam":
        layer = options.get("layer") or [n for n in spatial_layers(arch) if n.startswith("act")][-1]
        cam, probs, t = jax.device_get(_gradcam_fn(arch, layer)(params, state, norm_d, pixels, target))
        raw = np.asarray(cam, np.float32)
        heatmap = _unit(upsample_to_image(arch, layer, np.maximum(raw, 0.0)))
    else:
        raw, probs, t = _occlusion(arch, params, state, norm_d, pixels[0], target, options)
        heatmap = _unit(np.maximum(raw, 0.0))
    return SaliencyResult(method, heatmap.astype(np.float32), raw, int(t), np.asarray(probs, np.float32),
                          time.perf_counter() - t0, layer)


def _occlusion(arch: ArchSpec, params: Any, state: Any, norm: jax.Array, pixels: np.ndarray,
               target: np.int32, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean drop of the target's probability (or logit) over the windows covering each pixel."""
    h, w, _ = pixels.shape
    window = _int_option(options, "window", max(2, h // 7), 1, min(h, w))
    stride = _int_option(options, "stride", max(1, window // 2), 1, max(h, w))
    baseline = _float_option(options, "baseline", 0.5, 0.0, 1.0)
    score = options.get("score", "probability")
    if score not in ("probability", "logit"):
        raise ValueError(f"saliency: score must be 'probability' or 'logit', got {score!r}")
    which = 0 if score == "probability" else 1
    boxes = [(r, c) for r in occlusion_windows(h, window, stride) for c in occlusion_windows(w, window, stride)]
    fn = _probs_fn(arch)
    probs, logits = (np.asarray(a)[0] for a in fn(params, state, norm, pixels[None]))
    t = int(np.argmax(probs)) if target < 0 else int(target)
    reference = (probs, logits)[which][t]
    drops = []
    for s in range(0, len(boxes), OCCLUSION_CHUNK):
        part = boxes[s : s + OCCLUSION_CHUNK]
        batch = np.repeat(pixels[None], OCCLUSION_CHUNK, axis=0)
        for j, (r, c) in enumerate(part):
            batch[j, r : r + window, c : c + window] = baseline
        drops.append(fn(params, state, norm, batch)[which][: len(part), t])  # dispatched; fetched below
    occluded = np.concatenate(jax.device_get(drops))
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for (r, c), p in zip(boxes, occluded, strict=True):
        total[r : r + window, c : c + window] += reference - p
        count[r : r + window, c : c + window] += 1
    return (total / np.maximum(count, 1)).astype(np.float32), probs, t
