"""How deep-visualization results become pictures, shared by the Deep-visualization
panel and ``convscope inspect --deepvis`` so that both show the same images.

Synthetic images are contrast-stretched about grey (activation maximization keeps them
close to it); saliency heatmaps (0 … 1) are coloured with viridis and alpha-blended over
the image. NumPy only.
"""

from __future__ import annotations

import numpy as np

from convscope.viz.colormaps import colorize, sequential_lut

OVERLAY_OPACITY = 0.6  # the heatmap's share of the blended picture, by default
HEATMAP_LUT = sequential_lut()


def stretch_contrast(images: np.ndarray) -> np.ndarray:
    """Float images (N, H, W, C) in [0, 1] with grey 0.5 as "nothing" → each image
    scaled about 0.5 so that its largest deviation reaches 0 or 1 (a flat image stays
    grey). Activation maximization keeps images close to grey; this makes them visible."""
    v = np.asarray(images, np.float32) - 0.5
    peak = np.abs(v).reshape(len(v), -1).max(axis=1) if len(v) else np.zeros(0, np.float32)
    scale = np.where(peak > 1e-6, 0.5 / np.maximum(peak, 1e-6), 1.0)
    return np.clip(0.5 + v * scale[:, None, None, None], 0.0, 1.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] → uint8 (rounded, clipped); uint8 passes through."""
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return a
    return np.clip(np.rint(a.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def synthetic_display(images: np.ndarray) -> np.ndarray:
    """Synthetic images (N, H, W, C) in [0, 1] → the uint8 pictures shown of them."""
    return to_uint8(stretch_contrast(images))


def to_rgb8(images: np.ndarray) -> np.ndarray:
    """(…, H, W, 1 | 3) uint8 or float in [0, 1] → (…, H, W, 3) uint8."""
    a = to_uint8(images)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    elif a.shape[-1] != 3:
        raise ValueError(f"expected 1 or 3 colour channels, got shape {a.shape}")
    return a


def heatmap_rgba(heatmap: np.ndarray) -> np.ndarray:
    """A saliency heatmap (H, W) in [0, 1] → (H, W, 4) uint8 viridis."""
    return colorize(heatmap, (0.0, 1.0), HEATMAP_LUT)


def blend(image: np.ndarray, heat_rgba: np.ndarray, opacity: float) -> np.ndarray:
    """Alpha blend: (H, W, 1 | 3) image and (H, W, 4) colours → (H, W, 3) uint8, the
    colours drawn with ``opacity`` in [0, 1] (0: the image alone, 1: the heatmap alone)."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    base = to_rgb8(image).astype(np.float32)
    top = np.asarray(heat_rgba, np.float32)[..., :3]
    if base.shape != top.shape:
        raise ValueError(f"image {base.shape[:2]} and heatmap {top.shape[:2]} differ in size")
    return np.clip(np.rint((1.0 - opacity) * base + opacity * top), 0, 255).astype(np.uint8)


def saliency_overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = OVERLAY_OPACITY) -> np.ndarray:
    """The heatmap in viridis blended over the uint8 image it explains: (H, W, 3) uint8."""
    return blend(image, heatmap_rgba(heatmap), opacity)
