"""Saving, loading and drawing loss landscapes. NumPy only (PIL imported to write PNGs).

File format (``.npz``, readable by any NumPy program, ``allow_pickle=False``):

* ``alphas`` (A,), ``betas`` (B,), ``loss`` and ``accuracy`` (B, A) float64, NaN where
  not computed; ``loss[i, j]`` is at (alphas[j], betas[i]);
* optional ``trajectory`` (T, 2) and ``trajectory_steps`` (T,);
* optional 1D line: ``line/ts`` (T,), ``line/loss/<batch>`` and ``line/accuracy/<batch>``;
* ``meta``: a 0-d unicode array holding JSON: ``{"format": "convscope-landscape",
  "version": 1, "center_loss", "center_accuracy", "kind", "seeds", "explained",
  "n_examples", "split", "step", "seconds", "line": {"kind", "label", "seconds"} | null,
  "extra": {...}}`` (``extra``: free-form provenance, e.g. the checkpoint path).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from convscope.atomic import atomic_write
from convscope.data.npz_set import is_zip_stream, load_error_detail
from convscope.probes.landscape import LandscapeGrid
from convscope.viz.colormaps import colorize, sequential_lut
from convscope.viz.landscape_display import (  # noqa: F401 - fill_from_coarse: also this module's API
    CONTOURS,
    contour_levels,
    display_levels,
    display_loss,
    fill_from_coarse,
)

FORMAT = "convscope-landscape"
VERSION = 1


class LandscapeIOError(ValueError):
    """A landscape file could not be read or written; the message names the file."""


def save_landscape_npz(path: str | os.PathLike, grid: LandscapeGrid, line: Any = None,
                       extra: dict[str, Any] | None = None) -> Path:
    """Write ``grid`` (and a ``landscape_eval.LandscapeLine``) atomically; ".npz" appended if missing."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    meta = {
        "format": FORMAT, "version": VERSION,
        "center_loss": grid.center_loss, "center_accuracy": grid.center_accuracy, "kind": grid.kind,
        "seeds": list(grid.seeds) if grid.seeds is not None else None,
        "explained": list(grid.explained) if grid.explained is not None else None,
        "n_examples": int(grid.n_examples), "split": grid.split, "step": int(grid.step),
        "seconds": grid.seconds,
        "line": None if line is None else {"kind": line.kind, "label": line.label, "seconds": line.seconds},
        "extra": extra or {},
    }
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)), "alphas": grid.alphas, "betas": grid.betas,
        "loss": grid.loss, "accuracy": grid.accuracy,
    }
    if grid.trajectory is not None:
        arrays["trajectory"] = grid.trajectory
        if grid.trajectory_steps is not None:
            arrays["trajectory_steps"] = grid.trajectory_steps
    if line is not None:
        arrays["line/ts"] = line.ts
        for name in line.loss:
            arrays[f"line/loss/{name}"] = line.loss[name]
            arrays[f"line/accuracy/{name}"] = line.accuracy[name]
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise LandscapeIOError(f"{path}: cannot write ({e.strerror or e})") from e
    return path


def _npz(path: Path, f: Any) -> Any:
    """``np.load`` of ``f`` if it is a zip: anything else it would read as a .npy or a pickle."""
    if not is_zip_stream(f):
        raise LandscapeIOError(f"{path}: not a ConvScope landscape (not an .npz archive)")
    return np.load(f, allow_pickle=False)


def load_landscape_npz(path: str | os.PathLike) -> tuple[LandscapeGrid, dict[str, Any] | None, dict[str, Any]]:
    """Read a file written by :func:`save_landscape_npz`.

    Returns (grid, line, extra): ``line`` is None or a dict with "ts", "loss" {batch: (T,)},
    "accuracy", "kind", "label", "seconds" (plain data, so no JAX is needed to read).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f, _npz(path, f) as z:  # ours: closed if not a zip
            if "meta" not in z.files:
                raise LandscapeIOError(f"{path}: not a ConvScope landscape (no 'meta' entry)")
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except LandscapeIOError:
        raise
    except FileNotFoundError as e:
        raise LandscapeIOError(f"{path}: no such file") from e
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:  # BadZipFile: truncated
        raise LandscapeIOError(f"{path}: not a readable landscape file ({load_error_detail(e)})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise LandscapeIOError(f"{path}: not a ConvScope landscape")
    if meta.get("version") != VERSION:
        raise LandscapeIOError(f"{path}: landscape version {meta.get('version')} is not supported")
    try:
        grid = LandscapeGrid(
            arrays["alphas"], arrays["betas"], arrays["loss"], arrays["accuracy"],
            float(meta["center_loss"]), float(meta["center_accuracy"]), meta["kind"],
            tuple(meta["seeds"]) if meta["seeds"] is not None else None,
            tuple(meta["explained"]) if meta["explained"] is not None else None,
            int(meta["n_examples"]), meta["split"], int(meta["step"]), float(meta["seconds"]),
            arrays.get("trajectory"), arrays.get("trajectory_steps"),
        )
        line = None
        if meta.get("line") is not None:
            names = [k.split("/", 2)[2] for k in arrays if k.startswith("line/loss/")]
            line = {"ts": arrays["line/ts"], "loss": {n: arrays[f"line/loss/{n}"] for n in names},
                    "accuracy": {n: arrays[f"line/accuracy/{n}"] for n in names}, **meta["line"]}
    except (KeyError, TypeError, ValueError) as e:
        raise LandscapeIOError(f"{path}: invalid landscape ({e})") from e
    return grid, line, dict(meta.get("extra") or {})


# ------------------------------------------------------------------ drawing
def _resample(v: np.ndarray, xs: np.ndarray, ys: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Bilinear resampling of v (B, A) at the coordinates xs (alpha), ys (beta)."""
    if len(alphas) > 1:
        v = np.stack([np.interp(xs, alphas, row) for row in v])
    else:
        v = np.repeat(v, len(xs), axis=1)
    if len(betas) > 1:
        return np.stack([np.interp(ys, betas, col) for col in v.T], axis=1)
    return np.repeat(v, len(ys), axis=0)


def _to_pixel(a: float, b: float, grid: LandscapeGrid, w: int, h: int) -> tuple[float, float]:
    a0, a1, b0, b1 = grid.alphas[0], grid.alphas[-1], grid.betas[0], grid.betas[-1]
    x = (a - a0) / (a1 - a0) * (w - 1) if a1 != a0 else (w - 1) / 2
    y = (b1 - b) / (b1 - b0) * (h - 1) if b1 != b0 else (h - 1) / 2
    return x, y


def _dot(img: np.ndarray, x: float, y: float, r: float, color: tuple[int, int, int, int]) -> None:
    h, w = img.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = color


def _heatmap(grid: LandscapeGrid, size: int, log: bool, fill: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """The display values (``viz.landscape_display``, as on the panel) resampled to
    ``size`` × ``size``, and the colour range of the grid's own values (the panel's)."""
    v = display_loss(grid.loss, log, fill)
    xs = np.linspace(grid.alphas[0], grid.alphas[-1], size)
    ys = np.linspace(grid.betas[-1], grid.betas[0], size)
    return _resample(v, xs, ys, grid.alphas, grid.betas), display_levels(v)


def heatmap_rgba(grid: LandscapeGrid, *, size: int = 384, log: bool = True,
                 fill: bool = True) -> tuple[np.ndarray, tuple[float, float]]:
    """(size, size, 4) uint8: log₁₀ loss (or the loss) through viridis, row 0 at the
    highest beta, nothing drawn on it; and the (lo, hi) the colours span."""
    img_v, levels = _heatmap(grid, size, log, fill)
    return colorize(img_v, levels, sequential_lut()), levels


def landscape_rgba(grid: LandscapeGrid, *, size: int = 384, levels: int = CONTOURS, log: bool = True,
                   fill: bool = True) -> np.ndarray:
    """(size, size + bar, 4) uint8: the (log) loss through viridis with ``levels`` iso-lines
    (at the panel's contour values, ``viz.landscape_display.contour_levels``),
    the centre (0, 0) marked by a white ring, the trajectory (if any) in red, and a colour
    bar on the right (low at the bottom). Row 0 is the highest beta. Cells not computed
    are transparent unless ``fill`` fills them from the coarse lattice."""
    img_v, (lo, hi) = _heatmap(grid, size, log, fill)
    img = colorize(img_v, (lo, hi), sequential_lut())
    if levels > 0:  # iso-lines where the band (between contour values) changes between neighbours
        band = np.digitize(img_v, contour_levels(lo, hi, levels))
        edge = np.zeros(band.shape, bool)
        edge[:, 1:] |= band[:, 1:] != band[:, :-1]
        edge[1:, :] |= band[1:, :] != band[:-1, :]
        edge &= np.isfinite(img_v)
        img[edge] = (img[edge] * 0.45).astype(np.uint8)
        img[edge, 3] = 255
    if grid.trajectory is not None and len(grid.trajectory):
        pts = [_to_pixel(a, b, grid, size, size) for a, b in grid.trajectory]
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
            n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
            for t in np.linspace(0.0, 1.0, n + 1):
                _dot(img, x0 + t * (x1 - x0), y0 + t * (y1 - y0), 1.2, (230, 40, 40, 255))
        for x, y in pts:
            _dot(img, x, y, 2.5, (230, 40, 40, 255))
    cx, cy = _to_pixel(0.0, 0.0, grid, size, size)
    _dot(img, cx, cy, 7.0, (255, 255, 255, 255))
    _dot(img, cx, cy, 4.5, (0, 0, 0, 255))
    _dot(img, cx, cy, 2.5, (255, 255, 255, 255))
    bar = colorize(np.linspace(hi, lo, size)[:, None].repeat(16, axis=1), (lo, hi), sequential_lut())
    gap = np.zeros((size, 6, 4), np.uint8)
    return np.concatenate([img, gap, bar], axis=1)


def _write_rgba_png(path: str | os.PathLike, rgba: np.ndarray) -> Path:
    from PIL import Image

    path = Path(path)
    try:
        atomic_write(path, lambda f: Image.fromarray(rgba).save(f, format="PNG"))
    except OSError as e:
        raise LandscapeIOError(f"{path}: cannot write ({e.strerror or e})") from e
    return path


def write_landscape_png(path: str | os.PathLike, grid: LandscapeGrid, **kw: Any) -> Path:
    """:func:`landscape_rgba` written as a PNG."""
    return _write_rgba_png(path, landscape_rgba(grid, **kw))


LINE_COLORS = {"train": (31, 119, 180), "val": (230, 85, 13)}  # as on the Training panel


def line_rgba(line: Any, *, width: int = 560, height: int = 360) -> np.ndarray:
    """(height, width, 4) uint8: the loss along a 1D line (a ``LandscapeLine`` or the dict
    :func:`load_landscape_npz` returns) per batch — train blue, val orange — over a frame,
    a dotted mark at t = 0 and a legend; the range of each axis written at its ends."""
    from PIL import Image, ImageDraw

    get = (lambda k: line[k]) if isinstance(line, dict) else (lambda k: getattr(line, k))  # noqa: E731
    ts, losses = np.asarray(get("ts"), np.float64), get("loss")
    img = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 60, width - 16, 28, height - 40
    finite = np.concatenate([np.asarray(v, np.float64)[np.isfinite(v)] for v in losses.values()] or [np.zeros(0)])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    t0, t1 = float(ts[0]), float(ts[-1]) if ts[-1] != ts[0] else float(ts[0]) + 1.0

    def px(t: float, v: float) -> tuple[float, float]:
        return left + (t - t0) / (t1 - t0) * (right - left), bottom - (v - lo) / (hi - lo) * (bottom - top)

    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0, 255))
    if t0 < 0 < t1:
        x0 = px(0.0, lo)[0]
        for y in range(top, bottom, 6):
            draw.line([(x0, y), (x0, min(y + 2, bottom))], fill=(136, 136, 136, 255))
    for k, (name, values) in enumerate(losses.items()):
        colour = (*LINE_COLORS.get(name, (80, 80, 80)), 255)
        pts = [px(t, v) for t, v in zip(ts, np.asarray(values, np.float64), strict=True) if math.isfinite(v)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=3)
        draw.line([(right - 120, top + 14 + 16 * k), (right - 96, top + 14 + 16 * k)], fill=colour, width=3)
        draw.text((right - 90, top + 8 + 16 * k), f"{name} batch", fill=(0, 0, 0, 255))
    draw.text((4, top - 6), f"{hi:.4g}", fill=(0, 0, 0, 255))
    draw.text((4, bottom - 6), f"{lo:.4g}", fill=(0, 0, 0, 255))
    draw.text((left, bottom + 6), f"{t0:+.3g}", fill=(0, 0, 0, 255))
    draw.text((right - 30, bottom + 6), f"{t1:+.3g}", fill=(0, 0, 0, 255))
    label = get("label")
    draw.text((left, 8), f"loss along {get('kind')} ({label})" if label else f"loss along {get('kind')}",
              fill=(0, 0, 0, 255))  # fmt: skip
    draw.text(((left + right) / 2 - 40, bottom + 20), "distance t along it", fill=(0, 0, 0, 255))
    return np.asarray(img)


def write_line_png(path: str | os.PathLike, line: Any, **kw: Any) -> Path:
    """:func:`line_rgba` written as a PNG."""
    return _write_rgba_png(path, line_rgba(line, **kw))
