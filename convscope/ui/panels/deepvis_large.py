"""The Deep-visualization panel's large view: one channel's synthetic input, its top-k
validation patches and the saliency map of the inspected image, each at least
``LARGE_PX`` pixels a side, in a window of their own that one click on a channel (in the
grid or the small detail view) opens, and that follows the chosen channel and every
new result. For a room: the panel itself shares the screen with the other docks, and
draws these a few dozen pixels large.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from convscope.ui.panels.deepvis_grid import cell_geometry, patch_square
from convscope.ui.panels.mapview import format_number
from convscope.viz.display import synthetic_display, to_rgb8

LARGE_PX = 256  # the least side of each picture
PREFERRED_PX = 300


class PixelPicture(QWidget):
    """A uint8 (H, W, 3) image drawn as large as the widget allows, pixels as squares
    (nearest neighbour: the pixels of a 28×28 input stay visible), centred."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: np.ndarray | None = None
        self._image: QImage | None = None
        self.setMinimumSize(LARGE_PX, LARGE_PX)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(PREFERRED_PX, PREFERRED_PX)

    def set_image(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self.data = self._image = None
        else:
            self.data = np.ascontiguousarray(to_rgb8(rgb))
            h, w = self.data.shape[:2]
            fmt = QImage.Format.Format_RGB888
            self._image = QImage(self.data.data, w, h, self.data.strides[0], fmt).copy()
        self.update()

    def drawn_rect(self) -> QRect:
        """Where the picture is drawn (widget coordinates): the largest rectangle of its
        aspect that fits, centred; empty without a picture."""
        if self._image is None:
            return QRect()
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        dw, dh = int(w * scale), int(h * scale)
        return QRect((self.width() - dw) // 2, (self.height() - dh) // 2, dw, dh)

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(self.drawn_rect(), self._image)
        painter.end()


def progress_bar(widest_format: str) -> QProgressBar:
    """The panel's progress bar: as wide as ``widest_format`` at 1000 steps when there is
    room ("activation maximization: 8 / 128 steps" was cut off in a fixed 190 px),
    narrower only when the panel is (a fixed width raises the panel's minimum width,
    which is the window's)."""
    bar = QProgressBar()
    bar.setTextVisible(True)
    bar.setFormat("idle")
    longest = widest_format.replace("%v", "1000").replace("%m", "1000")
    bar.setMaximumWidth(bar.fontMetrics().horizontalAdvance(longest) + 24)
    bar.setMinimumWidth(120)
    bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return bar


class ChannelLargeView(QDialog):
    """Synthetic input, top-k patches and saliency of ``panel``'s chosen channel, large.
    ``open_view()`` shows (or raises) it; ``refresh()`` redraws it while it is shown."""

    def __init__(self, panel: Any) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setWindowTitle("Deep visualization: one channel, large")
        self.setModal(False)
        self.synth, self.patches, self.saliency = PixelPicture(), PixelPicture(), PixelPicture()
        self.titles = [QLabel(), QLabel(), QLabel()]
        self.captions = [QLabel(), QLabel(), QLabel()]
        layout = QGridLayout(self)
        columns = zip(self.titles, (self.synth, self.patches, self.saliency), self.captions, strict=True)
        for col, (title, picture, caption) in enumerate(columns):
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            title.setStyleSheet("font-size: 13pt; font-weight: bold")
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setWordWrap(True)
            layout.addWidget(title, 0, col)
            layout.addWidget(picture, 1, col)
            layout.addWidget(caption, 2, col)
            layout.setColumnStretch(col, 1)
        layout.setRowStretch(1, 1)
        self.channel = -1
        self.layer = ""
        panel.saliency.computed.connect(self.refresh)

    def open_view(self) -> None:
        self.draw(self.panel)
        self.show()
        self.raise_()

    def refresh(self, *_args: object) -> None:
        if self.isVisible():
            self.draw(self.panel)

    def draw(self, panel: Any) -> None:
        """Channel ``panel.channel`` of ``panel.layer`` from what the panel holds."""
        ch, layer = panel.channel, panel.layer
        self.channel, self.layer = ch, layer
        self.setWindowTitle(f"Deep visualization: {layer} channel {ch}")
        actmax = panel.layer_actmax()
        if actmax is not None and 0 <= ch < len(actmax.images):
            self.synth.set_image(synthetic_display(actmax.images[ch : ch + 1])[0])
            self.titles[0].setText(f"{layer} ch {ch}: synthetic input")
            value = format_number(float(actmax.activations[ch]))
            self.captions[0].setText(f"the channel's activation for it: {value}")
        else:
            self.synth.set_image(None)
            self.titles[0].setText(f"{layer} ch {ch}: synthetic input")
            self.captions[0].setText("computing…")
        topk = panel.layer_topk()
        if topk is not None and 0 <= ch < len(topk.values):
            valid = topk.indices[ch] >= 0
            hw = tuple(panel.snapshot.arch.input_shape[:2])
            geo = cell_geometry(hw, topk.rf, len(valid), min_side=0)
            self.patches.set_image(patch_square(topk.patches[ch], valid, geo))
            self.titles[1].setText(f"top-{int(valid.sum())} validation patches ({topk.rf}×{topk.rf} px)")
            best = [format_number(float(v)) for v in topk.values[ch][valid][:3]]
            self.captions[1].setText("best first, row by row; largest responses " + ", ".join(best))
        else:
            self.patches.set_image(None)
            self.titles[1].setText("top-k validation patches")
            self.captions[1].setText("computing…")
        sal = panel.saliency
        blended = getattr(sal, "blended", None)
        if sal.result is not None and blended is not None:
            self.saliency.set_image(blended)
            self.titles[2].setText("saliency of the inspected image")
            self.captions[2].setText(sal.caption.text().replace("<br>", " · "))
        else:
            self.saliency.set_image(None)
            self.titles[2].setText("saliency of the inspected image")
            self.captions[2].setText("waiting for the image and the model…")
