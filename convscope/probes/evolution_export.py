"""A feature-evolution grid as files: ``evolution.png`` (channels down, snapshots across;
each cell the strongest patch, the synthetic preferred input and, for the first conv
block, the filter), ``evolution.svg`` (the same picture with its labels as text),
``evolution.npz`` (the numbers behind it) and ``evolution.json``. Pillow is imported only
where a PNG is drawn."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np

from convscope.probes.evolution import Evolution
from convscope.viz.display import synthetic_display, to_rgb8
from convscope.viz.pictures import filter_picture

CELL = 56  # pixels per picture in a cell
GAP = 4
LEFT, TOP = 70, 40


def cell_pictures(ev: Evolution, s: int, c: int) -> list[np.ndarray]:
    """The RGB pictures of cell (snapshot ``s``, channel ``c``), left to right."""
    pictures = [to_rgb8(ev.patches[s, c])]
    if ev.synthetic is not None:  # the centre unit's receptive field: the objective sees no more
        r0, r1, c0, c1 = ev.window
        pictures.append(to_rgb8(synthetic_display(ev.synthetic[s, c][None, r0:r1, c0:c1])[0]))
    if ev.filters is not None:
        pictures.append(filter_picture(ev.filters[s][..., c:c + 1]))
    return pictures


def grid_image(ev: Evolution) -> tuple[np.ndarray, int]:
    """The grid as uint8 RGB and the width of one cell."""
    from PIL import Image

    per = 1 + (ev.synthetic is not None) + (ev.filters is not None)
    cell_w = per * CELL + (per - 1) * 2
    n_s, n_c = len(ev.steps), len(ev.channels)
    h, w = TOP + n_c * (CELL + GAP), LEFT + n_s * (cell_w + GAP)
    canvas = np.full((h, w, 3), 255, np.uint8)
    for s in range(n_s):
        for c in range(n_c):
            x0, y0 = LEFT + s * (cell_w + GAP), TOP + c * (CELL + GAP)
            for j, pic in enumerate(cell_pictures(ev, s, c)):
                big = np.asarray(Image.fromarray(pic).resize((CELL, CELL), Image.Resampling.NEAREST))
                xs = x0 + j * (CELL + 2)
                canvas[y0:y0 + CELL, xs:xs + CELL] = big
    return canvas, cell_w


def _labels(ev: Evolution, cell_w: int) -> list[tuple[float, float, str, str]]:
    """(x, y, text, anchor) of the column and row labels."""
    out = [(LEFT + s * (cell_w + GAP) + cell_w / 2, TOP - 12, f"step {int(st):,}", "middle")
           for s, st in enumerate(ev.steps)]
    out += [(LEFT - 8, TOP + c * (CELL + GAP) + CELL / 2 + 4, f"ch {int(ch)}", "end")
            for c, ch in enumerate(ev.channels)]
    return out


def write(out: Path, ev: Evolution, title: str) -> list[Path]:
    """Write the PNG, SVG, .npz and JSON into ``out``; the paths written."""
    from PIL import Image, ImageDraw, ImageFont

    out.mkdir(parents=True, exist_ok=True)
    grid, cell_w = grid_image(ev)
    picture = Image.fromarray(grid)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=12)
    draw.text((4, 4), title, fill="black", font=font)
    for x, y, text, anchor in _labels(ev, cell_w):
        draw.text((x, y), text, fill="black", font=font, anchor="ms" if anchor == "middle" else "rs")
    png, svg, npz, js = (out / f"evolution.{ext}" for ext in ("png", "svg", "npz", "json"))
    picture.save(png, format="PNG")
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    h, w = grid.shape[:2]
    texts = "".join(
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{a}" font-family="sans-serif" font-size="12">{t}</text>'
        for x, y, t, a in _labels(ev, cell_w))
    svg.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        f'<image width="{w}" height="{h}" href="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'
        f'<text x="4" y="16" font-family="sans-serif" font-size="12">{title}</text>{texts}</svg>\n',
        encoding="utf-8")
    arrays = {"steps": ev.steps, "channels": ev.channels, "window": np.asarray(ev.window), "patches": ev.patches, "patch_values": ev.patch_values,
              "patch_indices": ev.patch_indices}
    if ev.synthetic is not None:
        arrays["synthetic"] = ev.synthetic
    if ev.filters is not None:
        arrays["filters"] = ev.filters
    np.savez_compressed(npz, **arrays)
    js.write_text(json.dumps({"layer": ev.layer, "steps": ev.steps.tolist(), "channels": ev.channels.tolist(),
                              "cells": ["patch"] + (["synthetic"] if ev.synthetic is not None else [])
                              + (["filter"] if ev.filters is not None else []),
                              "seconds": round(ev.seconds, 3)}, indent=2) + "\n", encoding="utf-8")
    return [png, svg, npz, js]
