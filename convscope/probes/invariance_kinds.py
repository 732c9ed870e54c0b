"""The invariance sweep's transformations and their axis labels: no JAX here, so the
command line can name them in ``convscope --help`` without importing it (0.35 s)."""

from __future__ import annotations

KINDS = ("shift_x", "shift_y", "scale", "rotate")
LABELS = {
    "shift_x": "horizontal shift (pixels)",
    "shift_y": "vertical shift (pixels)",
    "scale": "scale (×)",
    "rotate": "rotation (degrees, counter-clockwise)",
}
