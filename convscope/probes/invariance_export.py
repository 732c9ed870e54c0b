"""Invariance sweeps as files: ``invariance.csv`` (one row per moved copy: the
transformation, its value, the followed class's probability, the predicted class and
every layer's distance), ``invariance.npz`` (the same arrays and the moved images) and
``invariance_<kind>.png`` (Zeiler & Fergus's two plots per transformation: the layers'
distances and the class probability). Pillow is imported only where a PNG is drawn.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convscope.probes.invariance import LABELS, Sweep

# Categorical colours that stay apart for up to ten layers (Tableau 10).
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def csv_rows(sweeps: dict[str, Sweep], classes: Sequence[str]) -> list[list[object]]:
    """The CSV's header and rows (every layer a column; layers as in the first sweep)."""
    first = next(iter(sweeps.values()))
    layers = list(first.distances)
    rows: list[list[object]] = [["transform", "value", "class", "p_class", "predicted", *layers]]
    for kind, s in sweeps.items():
        for k, value in enumerate(s.values):
            rows.append([kind, float(value), classes[s.target], float(s.target_probs[k]),
                         classes[int(s.predicted[k])], *(float(s.distances[n][k]) for n in layers)])
    return rows


def write(out: Path, sweeps: dict[str, Sweep], classes: Sequence[str], title: str) -> list[Path]:
    """Write the CSV, the .npz and one PNG per sweep into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "invariance.csv", out / "invariance.npz"]
    with open(written[0], "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(csv_rows(sweeps, classes))
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(classes)}
    for kind, s in sweeps.items():
        arrays[f"{kind}/values"] = s.values
        arrays[f"{kind}/probs"] = s.probs
        arrays[f"{kind}/images"] = np.round(s.images).astype(np.uint8)
        arrays[f"{kind}/target"] = np.asarray(s.target)
        arrays[f"{kind}/layers"] = np.asarray(list(s.distances))
        arrays[f"{kind}/distances"] = np.stack(list(s.distances.values()))
    np.savez_compressed(written[1], **arrays)
    for kind, s in sweeps.items():
        path = out / f"invariance_{kind}.png"
        sweep_png(path, s, classes[s.target], f"{title}: {LABELS[kind]}")
        written.append(path)
    return written


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(first, hi + step * 1e-9, step)]


def _label(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


def sweep_png(path: Path, s: Sweep, class_name: str, title: str) -> None:
    """Two line plots side by side: each layer's distance, and p(class), against the
    transformation's value; a legend to the right of the first, never over it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=12)
    w, h = 1100, 420
    canvas = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((16, 10), title, fill="black", font=font)
    x = s.values
    layers = list(s.distances)
    dist = np.stack([s.distances[n] for n in layers])
    top = float(np.nanmax(dist)) if np.isfinite(dist).any() else 1.0
    plots = [((70, 50, 560, 360), "normalised distance ||f(x') - f(x)|| / ||f(x)||", (0.0, max(top, 1e-6) * 1.05),
              [(n, dist[i], PALETTE[i % len(PALETTE)]) for i, n in enumerate(layers)]),
             ((770, 50, 1080, 360), f"p({class_name})", (0.0, 1.0), [(class_name, s.target_probs, (0, 0, 0))])]
    for (x0, y0, x1, y1), ylabel, (lo, hi), series in plots:
        draw.rectangle((x0, y0, x1, y1), outline=(90, 90, 90))

        def px(v: float, x0=x0, x1=x1) -> float:
            return x0 + (v - x[0]) / (x[-1] - x[0]) * (x1 - x0)

        def py(v: float, y0=y0, y1=y1, lo=lo, hi=hi) -> float:
            return y1 - (v - lo) / (hi - lo) * (y1 - y0)

        for t in _ticks(float(x[0]), float(x[-1])):
            draw.line((px(t), y1, px(t), y1 + 5), fill="black")
            draw.text((px(t), y1 + 8), _label(t), fill="black", font=small, anchor="mt")
        for t in _ticks(lo, hi):
            draw.line((x0 - 5, py(t), x0, py(t)), fill="black")
            draw.line((x0 + 1, py(t), x1 - 1, py(t)), fill=(232, 232, 232))
            draw.text((x0 - 8, py(t)), _label(t), fill="black", font=small, anchor="rm")
        ident = px(float(x[s.identity]))
        draw.line((ident, y0 + 1, ident, y1 - 1), fill=(200, 200, 200))
        draw.text(((x0 + x1) / 2, y1 + 26), LABELS[s.kind], fill="black", font=small, anchor="mt")
        draw.text((x0, y0 - 6), ylabel, fill="black", font=small, anchor="lb")
        for _name, ys, colour in series:
            pts = [(px(float(a)), py(float(b))) for a, b in zip(x, ys, strict=True) if np.isfinite(b)]
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=2)
            for p in pts:
                draw.ellipse((p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2), fill=colour)
    for i, name in enumerate(layers):  # the legend, between the two plots
        colour = PALETTE[i % len(PALETTE)]
        yy = 56 + i * min(20, 290 // max(len(layers), 1))
        draw.line((580, yy + 7, 604, yy + 7), fill=colour, width=3)
        draw.text((610, yy), name, fill="black", font=small)
    canvas.save(path, format="PNG")
