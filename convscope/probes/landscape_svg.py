"""A loss landscape as an SVG figure: the filled colour map as an embedded PNG under
vector contour lines, axes with ticks, the centre (+), the trajectory and a colour bar
(a vector gradient). NumPy and the standard library only (PIL to encode the map).

Values, colour range and contours are the panel's (``viz.landscape_display``: one
transform for the screen and the files): marching squares on the grid itself at
``CONTOURS`` values evenly spaced inside the colour range (log₁₀ loss or loss).
"""

from __future__ import annotations

import base64
import io
import math
import os
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from convscope.atomic import atomic_write_bytes
from convscope.probes.landscape import LandscapeGrid
from convscope.probes.landscape_io import LandscapeIOError, heatmap_rgba
from convscope.viz.colormaps import sequential_lut
from convscope.viz.landscape_display import (  # noqa: F401 - CONTOURS, contour_segments: this module's too
    CONTOURS,
    contour_levels,
    contour_segments,
    display_loss,
)

PLOT = 440  # side of the map, in px
LEFT, TOP, BOTTOM, RIGHT = 70, 46, 56, 110


def nice_ticks(lo: float, hi: float, target: int = 5) -> np.ndarray:
    """Round tick values (1, 2 or 5 × 10ᵏ apart) inside [lo, hi]."""
    if not hi > lo:
        return np.array([lo])
    raw = (hi - lo) / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    return np.round(ticks / step) * step


def _fmt(x: float) -> str:
    return f"{x:.4g}".replace("-", "−")


def _png_data_uri(rgba: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def landscape_svg(grid: LandscapeGrid, *, log: bool = True, title: str = "") -> str:
    """The SVG document of ``grid`` (see the module docstring)."""
    a, b = grid.alphas, grid.betas
    a0, a1 = float(a[0]), float(a[-1])
    b0, b1 = float(b[0]), float(b[-1])

    def sx(alpha: float) -> float:
        return LEFT + (alpha - a0) / (a1 - a0) * PLOT if a1 != a0 else LEFT + PLOT / 2

    def sy(beta: float) -> float:
        return TOP + (b1 - beta) / (b1 - b0) * PLOT if b1 != b0 else TOP + PLOT / 2

    rgba, (lo, hi) = heatmap_rgba(grid, size=PLOT, log=log)
    values = display_loss(grid.loss, log)
    width, height = LEFT + PLOT + RIGHT, TOP + PLOT + BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<image x="{LEFT}" y="{TOP}" width="{PLOT}" height="{PLOT}" preserveAspectRatio="none" '
        f'href="{_png_data_uri(rgba)}"/>',
    ]
    if hi > lo:
        d = []
        for level in contour_levels(lo, hi):
            for (p0, q0), (p1, q1) in contour_segments(values, a, b, float(level)):
                d.append(f"M{sx(p0):.2f} {sy(q0):.2f}L{sx(p1):.2f} {sy(q1):.2f}")
        if d:
            out.append(f'<path class="contours" d="{"".join(d)}" fill="none" stroke="white" '
                       'stroke-opacity="0.6" stroke-width="1"/>')  # fmt: skip
    if grid.trajectory is not None and len(grid.trajectory):
        pts = " ".join(f"{sx(x):.2f},{sy(y):.2f}" for x, y in grid.trajectory)
        out.append(
            f'<polyline class="trajectory" points="{pts}" fill="none" stroke="#ff7f0e" stroke-width="2.5"/>'
        )
    cx, cy = sx(0.0), sy(0.0)
    for colour, width_px, arm in (("black", 4, 10), ("white", 1.5, 8)):
        out.append(f'<path class="centre" d="M{cx - arm:.2f} {cy:.2f}H{cx + arm:.2f}M{cx:.2f} {cy - arm:.2f}'
                   f'V{cy + arm:.2f}" stroke="{colour}" stroke-width="{width_px}"/>')  # fmt: skip
    # Axes: a frame, ticks and labels.
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{PLOT}" height="{PLOT}" fill="none" stroke="black"/>')
    for t in nice_ticks(a0, a1):
        x = sx(float(t))
        out.append(
            f'<line x1="{x:.2f}" y1="{TOP + PLOT}" x2="{x:.2f}" y2="{TOP + PLOT + 5}" stroke="black"/>'
        )
        out.append(
            f'<text class="tick" x="{x:.2f}" y="{TOP + PLOT + 18}" text-anchor="middle">{_fmt(t)}</text>'
        )
    for t in nice_ticks(b0, b1):
        y = sy(float(t))
        out.append(f'<line x1="{LEFT - 5}" y1="{y:.2f}" x2="{LEFT}" y2="{y:.2f}" stroke="black"/>')
        out.append(f'<text class="tick" x="{LEFT - 8}" y="{y + 4:.2f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{LEFT + PLOT / 2}" y="{TOP + PLOT + 42}" text-anchor="middle" font-size="13">'
               "α (direction 1)</text>")  # fmt: skip
    out.append(f'<text x="18" y="{TOP + PLOT / 2}" text-anchor="middle" font-size="13" '
               f'transform="rotate(-90 18 {TOP + PLOT / 2})">β (direction 2)</text>')  # fmt: skip
    if title:
        out.append(f'<text x="{LEFT}" y="26" font-size="13">{escape(title)}</text>')
    # The colour bar: a vertical gradient, low at the bottom.
    lut = sequential_lut()
    bx = LEFT + PLOT + 24
    stops = "".join(
        f'<stop offset="{k / 16:.4f}" stop-color="rgb({",".join(str(int(c)) for c in lut[round((1 - k / 16) * (len(lut) - 1))][:3])})"/>'
        for k in range(17)
    )
    out.append(f'<defs><linearGradient id="bar" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient></defs>')
    out.append(
        f'<rect class="colourbar" x="{bx}" y="{TOP}" width="16" height="{PLOT}" fill="url(#bar)" stroke="black"/>'
    )
    if hi > lo:
        for t in nice_ticks(lo, hi):
            y = TOP + (hi - t) / (hi - lo) * PLOT
            out.append(f'<line x1="{bx + 16}" y1="{y:.2f}" x2="{bx + 21}" y2="{y:.2f}" stroke="black"/>')
            out.append(f'<text class="bartick" x="{bx + 24}" y="{y + 4:.2f}">{_fmt(t)}</text>')
    label = "log₁₀ loss" if log else "loss"
    out.append(f'<text x="{bx + 8}" y="{TOP - 8}" text-anchor="middle">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_landscape_svg(
    path: str | os.PathLike, grid: LandscapeGrid, *, log: bool = True, title: str = ""
) -> Path:
    """:func:`landscape_svg` written to ``path``."""
    path = Path(path)
    try:
        atomic_write_bytes(path, landscape_svg(grid, log=log, title=title).encode("utf-8"))
    except OSError as e:
        raise LandscapeIOError(f"{path}: cannot write ({e.strerror or e})") from e
    return path
