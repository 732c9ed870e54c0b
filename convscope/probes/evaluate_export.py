"""Files of ``convscope evaluate``: confusion.csv (counts), confusion_normalized.csv
(each row divided by its class's support, so a row reads as "of the images of this class,
the share predicted as each class"; a class with no examples is a row of zeros),
per_class.csv, metrics.json, pr_curve.csv and one gallery PNG per outcome (TP, TN, FP,
FN), each tile captioned with p(class) and the example's index, most confident first.

JSON has no NaN: an undefined ratio (see ``probes.evaluate``) is written as ``null``
and an empty CSV field. Pillow is imported only where a PNG is drawn.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convscope.probes.evaluate import ClassRanking, Evaluation, OneVsRest

GALLERY_KINDS = ("TP", "FP", "FN", "TN")
GALLERY_TITLES = {
    "TP": "true positives",
    "FP": "false positives",
    "FN": "false negatives",
    "TN": "true negatives",
}
TILE_SIDE = 84  # about this many pixels per enlarged image (an integer zoom: 28 × 3)
TILE_COLUMNS = 8
CAPTION_H = 34
TITLE_H = 30


def resolve_class(text: str, class_names: Sequence[str]) -> int:
    """A class given by name or by index → its index; ValueError naming the choices."""
    names = list(class_names)
    if text in names:
        return names.index(text)
    try:
        index = int(text)
    except ValueError:
        index = -1
    if 0 <= index < len(names):
        return index
    shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    raise ValueError(f"--class {text!r} is not a class name or an index 0..{len(names) - 1} ({shown})")


def _num(v: float) -> float | None:
    return None if not math.isfinite(float(v)) else round(float(v), 6)


def _cell(v: float) -> str:
    return "" if not math.isfinite(float(v)) else f"{float(v):.6g}"


def metrics_dict(ev: Evaluation, ovr: OneVsRest, ranking: ClassRanking, class_names: Sequence[str],
                 meta: dict[str, Any]) -> dict[str, Any]:
    """Everything metrics.json holds, JSON-safe (NaN → None)."""
    per_class = [
        {
            "class": name,
            "index": i,
            "precision": _num(ev.precision[i]),
            "recall": _num(ev.recall[i]),
            "f1": _num(ev.f1[i]),
            "support": int(ev.support[i]),
        }
        for i, name in enumerate(class_names)
    ]
    return {
        **meta,
        "examples": int(len(ev.y_true)),
        "accuracy": _num(ev.accuracy),
        "balanced_accuracy": _num(ev.balanced_accuracy),
        "per_class": per_class,
        "confusion": {"rows": "true class", "columns": "predicted class (argmax)",
                      "classes": list(class_names), "counts": ev.confusion.tolist()},
        "one_vs_rest": {
            "class": class_names[ovr.cls],
            "index": ovr.cls,
            "threshold": ovr.threshold,
            "rule": "predicted positive when p(class) >= threshold",
            "tp": ovr.tp, "fp": ovr.fp, "fn": ovr.fn, "tn": ovr.tn,
            "precision": _num(ovr.precision),
            "recall": _num(ovr.recall),
            "average_precision": _num(ranking.curve.average_precision),
        },
        "conventions": (
            "precision is null when a class is never predicted, recall null when it has no "
            "examples; f1 = 2TP/(2TP+FP+FN); balanced accuracy = mean recall over classes "
            "with examples; galleries ordered by p(class) descending for TP/FP and ascending "
            "for TN/FN (most confident first), ties by index"
        ),
    }


def write_report(
    out: Path,
    ev: Evaluation,
    ranking: ClassRanking,
    threshold: float,
    images: np.ndarray,
    class_names: Sequence[str],
    meta: dict[str, Any],
    gallery_size: int = 32,
) -> list[Path]:
    """Write every file into ``out`` (created); returns their paths. Raises OSError."""
    out.mkdir(parents=True, exist_ok=True)
    ovr = ranking.at(threshold)
    names = list(class_names)
    written = []

    path = out / "confusion.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *names])
        for name, row in zip(names, ev.confusion.tolist(), strict=True):
            w.writerow([name, *row])
    written.append(path)

    path = out / "confusion_normalized.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *names])
        for name, row in zip(names, ev.normalized.tolist(), strict=True):
            w.writerow([name, *(f"{v:.6g}" for v in row)])
    written.append(path)

    path = out / "per_class.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["class", "precision", "recall", "f1", "support"])
        for i, name in enumerate(names):
            w.writerow([name, _cell(ev.precision[i]), _cell(ev.recall[i]), _cell(ev.f1[i]), int(ev.support[i])])
    written.append(path)

    path = out / "metrics.json"
    path.write_text(json.dumps(metrics_dict(ev, ovr, ranking, names, meta), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)

    path = out / "pr_curve.csv"
    curve = ranking.curve
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["threshold", "precision", "recall"])
        for t, p, r in zip(curve.thresholds, curve.precision, curve.recall, strict=True):
            w.writerow([f"{t:.6g}", _cell(p), _cell(r)])
    written.append(path)

    for kind in GALLERY_KINDS:
        idx = ovr.galleries[kind][:gallery_size]
        title = (f"{GALLERY_TITLES[kind]} for class {names[ovr.cls]} at p >= {threshold:.3g}: "
                 f"{len(ovr.galleries[kind]):,}, most confident first "
                 f"(p {'descending' if kind in ('TP', 'FP') else 'ascending'})")
        path = out / f"gallery_{kind}.png"
        gallery_png(path, images[idx], ranking.scores[idx], idx, title)
        written.append(path)
    return written


def gallery_png(path: Path, images: np.ndarray, scores: np.ndarray, indices: np.ndarray, title: str) -> None:
    """A grid of enlarged images (uint8 (n, H, W, C)), each captioned "p 0.973" and "#index"."""
    from PIL import Image, ImageDraw, ImageFont

    n = len(images)
    cols = max(1, min(TILE_COLUMNS, n))
    rows = max(1, math.ceil(n / cols))
    side = max(images.shape[1:3]) if n else TILE_SIDE
    side *= max(1, round(TILE_SIDE / side))
    cell_w, cell_h = max(side, 64) + 8, side + CAPTION_H
    width = max(cols * cell_w + 8, 640)
    canvas = Image.new("RGB", (width, TITLE_H + rows * cell_h + 8), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(14)
    draw.text((6, 6), title, fill="black", font=font)
    if n == 0:
        draw.text((6, TITLE_H + 10), "(no examples)", fill="#666", font=font)
    for i in range(n):
        x0 = 4 + (i % cols) * cell_w
        y0 = TITLE_H + (i // cols) * cell_h
        canvas.paste(_tile(images[i], side), (x0, y0))
        draw.text((x0, y0 + side + 1), f"p {scores[i]:.3f}", fill="black", font=font)
        draw.text((x0, y0 + side + 17), f"#{int(indices[i])}", fill="#555", font=font)
    canvas.save(path, format="PNG")


def _tile(img: np.ndarray, side: int) -> Any:
    from PIL import Image

    a = np.asarray(img, np.uint8)
    c = a.shape[2]
    if c == 3:
        pil = Image.fromarray(a, "RGB")
    elif c == 4:
        pil = Image.fromarray(a, "RGBA").convert("RGB")
    else:  # gray, or an unusual channel count: its first channel
        pil = Image.fromarray(a[..., 0], "L").convert("RGB")
    zoom = max(1, side // max(a.shape[:2]))
    return pil.resize((a.shape[1] * zoom, a.shape[0] * zoom), Image.Resampling.NEAREST)


def summary_line(ev: Evaluation, ovr: OneVsRest, ranking: ClassRanking, class_names: Sequence[str],
                 split: str) -> str:
    """One line for the terminal: the overall numbers and the chosen class's."""

    def pct(v: float) -> str:
        return "undefined" if not math.isfinite(v) else f"{100 * v:.2f}%"

    return (
        f"accuracy {pct(ev.accuracy)}, balanced accuracy {pct(ev.balanced_accuracy)} "
        f"on {len(ev.y_true):,} {split} images; class {class_names[ovr.cls]} vs rest at p >= "
        f"{ovr.threshold:.3g}: precision {pct(ovr.precision)}, recall {pct(ovr.recall)}, "
        f"AP {pct(ranking.curve.average_precision)}"
    )
