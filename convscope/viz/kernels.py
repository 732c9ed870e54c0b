"""Hand-chosen kernels and convolution by hand, for the Kernel playground.

``convolve2d`` is what a CNN layer computes — cross-correlation (the kernel is not
flipped), zero padding to keep the size — written as a sum of shifted images, one per
kernel entry. NumPy only.
"""

from __future__ import annotations

import numpy as np


def _k(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    a = np.asarray(rows, np.float32) * np.float32(scale)
    a.setflags(write=False)  # shared presets: copy before editing
    return a


_GAUSS_1D = np.array([1, 4, 6, 4, 1], np.float32)

# Display names → kernels, in the order a menu should list them.
KERNEL_PRESETS: dict[str, np.ndarray] = {
    "Identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "Box blur 3×3": _k([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9),
    "Gaussian blur 5×5": _k(np.outer(_GAUSS_1D, _GAUSS_1D).tolist(), 1 / 256),
    "Sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "Edge (Laplacian)": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "Sobel x": _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "Sobel y": _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "Prewitt x": _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "Emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "Outline": _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
}


def convolve2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Cross-correlate ``image`` (H, W) or (H, W, C; each channel alone) with ``kernel``
    (kh, kw), zero-padded to the same size ("same": kh − 1 rows in total, the odd one
    at the bottom, as the model pads); float32 result of the image's shape.

    out[i, j] = Σ_{a, b} kernel[a, b] · padded[i + a, j + b].
    """
    img = np.asarray(image, np.float32)
    k = np.asarray(kernel, np.float32)
    if img.ndim not in (2, 3):
        raise ValueError(f"convolve2d: image must be (H, W) or (H, W, C), got {img.shape}")
    if k.ndim != 2 or k.shape[0] < 1 or k.shape[1] < 1:
        raise ValueError(f"convolve2d: kernel must be 2-D (kh, kw), got {k.shape}")
    kh, kw = k.shape
    h, w = img.shape[:2]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    pad = [(top, kh - 1 - top), (left, kw - 1 - left)] + [(0, 0)] * (img.ndim - 2)
    padded = np.pad(img, pad)
    out = np.zeros_like(img)
    for a in range(kh):
        for b in range(kw):
            weight = k[a, b]
            if weight != 0:
                out += weight * padded[a : a + h, b : b + w]
    return out
