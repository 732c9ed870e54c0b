"""A grid of training examples as the training step augments them, redrawn live.

The pictures come from ``train.augment.augment_preview``, the very function the
jitted step runs, on a ProbeRunner thread ("latest wins": a slider dragged across ten
stops computes at most two grids, and shows the last), and the GUI thread only paints. The
random draws come from a fixed seed (new on "New draw"), so moving one strength
changes the pictures smoothly rather than re-rolling them.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSize, Signal
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from convscope.config import TrainConfig
from convscope.ui.probe_runner import ProbeRunner

GAP = 2  # pixels between cells, in image pixels before scaling
GAP_VALUE = 96  # mid-gray gaps: visible between black digits and between photos


def preview_mosaic(images: np.ndarray, rows: int, cols: int, gap: int = GAP) -> np.ndarray:
    """(n, h, w, c) uint8 → (rows·h + gaps, cols·w + gaps, 3) uint8 RGB, row by row.

    Three or four channels show as RGB (a fourth is dropped), one or two as gray (the first).
    """
    n, h, w, c = images.shape
    if not 1 <= c <= 4:
        raise ValueError(f"preview images need 1 to 4 channels, got {c}")
    rgb = images[..., :3] if c >= 3 else np.repeat(images[..., :1], 3, axis=-1)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), GAP_VALUE, np.uint8)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = rgb[i]
    return out


class AugmentPreview(QWidget):
    """``rows`` × ``cols`` augmented training examples, scaled to fit, never blurred."""

    computed = Signal(object)  # the (H, W, 3) uint8 mosaic just drawn
    failed = Signal(str)

    def __init__(self, rows: int = 4, cols: int = 8, seed: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows, self.cols, self.seed = rows, cols, seed
        self.mosaic: np.ndarray | None = None
        self.last_seconds = float("nan")
        self._qimage: QImage | None = None
        self._images: np.ndarray | None = None
        self.runner = ProbeRunner("augment-preview", self)
        # Request numbers, GUI thread only: idle once the latest request's answer arrived.
        self._requested = self._answered = 0
        self.runner.finished.connect(self._on_ready)
        self.runner.errored.connect(self._on_error)
        # Ends the worker with the widget (its Python side only: self is half gone by then).
        self.destroyed.connect(partial(ProbeRunner.shutdown, self.runner, 0.0))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(60)
        self.setToolTip("Training examples as the next steps will see them (same code as training).")

    # ------------------------------------------------------------------ inputs
    def set_images(self, x_train: np.ndarray, sample_seed: int = 0) -> None:
        """Pick the examples shown: a fixed random sample of ``x_train`` (uint8 NHWC)."""
        x = np.asarray(x_train)
        if x.ndim != 4 or x.dtype != np.uint8 or len(x) == 0:
            self._images = None
            return
        count = min(self.rows * self.cols, len(x))
        pick = np.sort(np.random.default_rng(sample_seed).choice(len(x), count, replace=False))
        self._images = np.ascontiguousarray(x[pick])
        self.updateGeometry()

    def new_draw(self) -> None:
        """Other random augmentations of the same examples (the next seed)."""
        self.seed += 1

    def request(self, config: TrainConfig) -> None:
        """Recompute the grid for ``config``, off the GUI thread; only the latest counts."""
        if self._images is None:
            return
        self._requested += 1
        images, seed, rows, cols = self._images, self.seed, self.rows, self.cols

        def job(_ctx: Any) -> tuple[np.ndarray, float]:
            from convscope.train.augment import augment_preview

            t = time.perf_counter()
            mosaic = preview_mosaic(augment_preview(config, images, seed), rows, cols)
            return mosaic, time.perf_counter() - t

        self.runner.submit(self._requested, job)

    def idle(self) -> bool:
        """True once the grid shows (or failed on) the latest request."""
        return self._answered == self._requested

    def stop(self) -> None:
        self.runner.shutdown(0.0)

    def _on_error(self, number: int, message: str) -> None:
        self._answered = max(self._answered, number)
        self.failed.emit(message)

    # ------------------------------------------------------------------ drawing
    def _on_ready(self, number: int, result: tuple[np.ndarray, float]) -> None:
        mosaic, seconds = result
        self._answered = max(self._answered, number)
        self.mosaic, self.last_seconds = mosaic, seconds
        h, w, _ = mosaic.shape
        self._qimage = QImage(mosaic.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.updateGeometry()
        self.update()
        self.computed.emit(mosaic)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        h, w = self._grid_size()
        return max(self.minimumHeight(), round(width * h / w))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        h, w = self._grid_size()
        scale = 1.5 if w < 300 else 1.0
        return QSize(round(w * scale), round(h * scale))

    def _grid_size(self) -> tuple[int, int]:
        if self._images is None:
            return 4 * 28 + 3 * GAP, 8 * 28 + 7 * GAP
        _, h, w, _ = self._images.shape
        return self.rows * h + (self.rows - 1) * GAP, self.cols * w + (self.cols - 1) * GAP

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        if self._qimage is None:
            return
        iw, ih = self._qimage.width(), self._qimage.height()
        scale = min(self.width() / iw, self.height() / ih)
        target = QRectF((self.width() - iw * scale) / 2, 0, iw * scale, ih * scale)
        painter = QPainter(self)
        # Nearest neighbour: pixels stay pixels, as in every other image panel.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, self._qimage)
        painter.end()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
