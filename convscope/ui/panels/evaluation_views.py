"""Parts of the Evaluation panel (its job is ``probes/evaluate_job.py``): the confusion-matrix view, a gallery of clickable thumbnails, and the way a
validation example reaches the inspection panels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
)

from convscope.ui.panels.mapview import SEQUENTIAL, style_axis

PR_COLOR = "#3182bd"
MARK_COLOR = "#e6550d"
MAX_CELL_TEXT_CLASSES = 20  # beyond this many classes the cells are too small for numbers


# ----------------------------------------------------------------------------- confusion
class ConfusionView(pg.PlotWidget):
    """The confusion matrix as an image (colour = fraction of the true class's row),
    with the count or the row percentage written in each cell. Rows: true class."""

    cell_clicked = Signal(int, int)  # (true class, predicted class)

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        plot = self.plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(False, False)
        plot.invertY(True)
        plot.setAspectLocked(True)
        plot.vb.border = None
        plot.setLabel("left", "true class", **{"font-size": "11pt"})
        plot.setLabel("bottom", "predicted class", **{"font-size": "11pt"})
        for name in ("left", "bottom"):
            style_axis(plot.getAxis(name))
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.names: list[str] = []
        self.counts: np.ndarray | None = None
        self.fractions = np.zeros((0, 0))
        self.show_fractions = False
        self._font_pt = 0
        self._html: list[str] = []
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_classes(self, names: list[str]) -> None:
        k = len(names)
        self.names = list(names)
        every = 1 if k <= 40 else 5
        rows = [(i, names[i] if k <= 40 else str(i)) for i in range(0, k, every)]
        # Long names would run into each other under the columns: numbers there, and
        # the rows say which name each number is.
        short = max(len(n) for n in names) * k <= 40
        if not short and k <= 40:
            rows = [(i, f"{names[i]} · {i}") for i in range(k)]
        cols = rows if short else [(i, str(i)) for i in range(0, k, every)]
        self.plot.getAxis("left").setTicks([rows, []])
        self.plot.getAxis("bottom").setTicks([cols, []])
        self.plot.setLabel("bottom", "predicted class" if short else "predicted class (numbered as the rows)",
                           **{"font-size": "11pt"})
        for item in self.texts:
            self.plot.removeItem(item)
        self.texts = []
        if k <= MAX_CELL_TEXT_CLASSES:
            for r in range(k):
                for c in range(k):
                    item = pg.TextItem("", anchor=(0.5, 0.5))
                    item.setPos(c, r)
                    self.plot.addItem(item)
                    self.texts.append(item)
        self._html = [""] * len(self.texts)
        self.plot.setXRange(-0.5, k - 0.5, padding=0)
        self.plot.setYRange(-0.5, k - 0.5, padding=0)

    def clear_matrix(self, names: list[str]) -> None:
        """No result (yet) for the classes ``names``."""
        self.counts = None
        self.image.clear()
        self.set_classes(names)

    def show_matrix(self, counts: np.ndarray, fractions: bool) -> None:
        k = counts.shape[0]
        if len(self.names) != k:
            self.set_classes([str(i) for i in range(k)])
        self.counts = counts
        self.show_fractions = fractions
        support = counts.sum(axis=1, keepdims=True)
        self.fractions = np.where(support > 0, counts / np.maximum(support, 1), 0.0)
        self.image.setImage(self.fractions, levels=(0.0, 1.0), lut=SEQUENTIAL, autoLevels=False)
        self.image.setRect(-0.5, -0.5, k, k)
        self._font_pt = 0
        self._write_cells()

    def _cell_font_pt(self) -> int:
        """A font that fits "100%" into one cell at the current size (7 to 11 pt)."""
        px = self.plot.vb.viewPixelSize()[0]
        cell = 1.0 / px if px > 0 else 40.0
        return int(min(11, max(7, cell / 4.2)))

    def _write_cells(self) -> None:
        if self.counts is None or not self.texts:
            return
        font_pt = self._cell_font_pt()
        self._font_pt = font_pt
        k = self.counts.shape[0]
        for i, item in enumerate(self.texts):
            r, c = divmod(i, k)
            n, frac = int(self.counts[r, c]), float(self.fractions[r, c])
            text = "·" if n == 0 else f"{100 * frac:.0f}%" if self.show_fractions else str(n)
            dark = frac < 0.6  # viridis is dark below ~0.6: white text there
            html = f'<span style="font-size:{font_pt}pt; color:{"#fff" if dark else "#111"}">{text}</span>'
            if self._html[i] != html:  # setHtml re-lays out text: ~0.3 ms each, skip unchanged cells
                self._html[i] = html
                item.setHtml(html)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        # pyqtgraph resizes during __init__, before this class's attributes exist.
        if getattr(self, "counts", None) is not None and self._cell_font_pt() != self._font_pt:
            self._write_cells()

    def _clicked(self, event: Any) -> None:
        if self.counts is None:
            return
        pos = self.plot.vb.mapSceneToView(event.scenePos())
        k = self.counts.shape[0]
        col, row = int(np.floor(pos.x() + 0.5)), int(np.floor(pos.y() + 0.5))
        if 0 <= row < k and 0 <= col < k:
            self.cell_clicked.emit(row, col)


# ----------------------------------------------------------------------------- table, PR plot
def pct(v: float, digits: int = 1) -> str:
    """A ratio as a percentage; "—" for an undefined (NaN) one."""
    return "—" if not math.isfinite(v) else f"{100 * v:.{digits}f}%"


class ClassTable(QTableWidget):
    """Precision, recall, F1 and support per class; the lowest F1 in bold."""

    def __init__(self, rows: int) -> None:
        super().__init__(rows, 5)
        self.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.verticalHeader().hide()
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setToolTip("Click a class to study it against the rest. — is undefined: "
                        "precision of a class never predicted, recall of a class without examples")
        self.setMinimumWidth(280)

    def fill(self, e: Any, names: list[str]) -> None:
        self.setRowCount(e.num_classes)
        worst = e.worst_class()
        for c in range(e.num_classes):
            cells = [names[c], pct(e.precision[c]), pct(e.recall[c]), pct(e.f1[c]), f"{int(e.support[c]):,}"]
            for j, text in enumerate(cells):
                item = self.item(c, j)
                if item is None:
                    item = QTableWidgetItem()
                    right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    item.setTextAlignment(right if j else Qt.AlignmentFlag.AlignCenter)
                    self.setItem(c, j, item)
                item.setText(text)
                font = item.font()
                font.setBold(c == worst)
                item.setFont(font)
        self.resizeRowsToContents()


class PRPlot(pg.PlotWidget):
    """Precision against recall, with the current threshold's point marked."""

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(False, False)
        plot.vb.border = None
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setLabel("bottom", "recall", **{"font-size": "11pt"})
        plot.setLabel("left", "precision", **{"font-size": "11pt"})
        for name in ("left", "bottom"):
            style_axis(plot.getAxis(name))
        # Few labels: beside the galleries the plot is narrow (0.2 0.4 … ran together).
        plot.getAxis("bottom").setTicks([[(v, f"{v:g}") for v in (0.0, 0.5, 1.0)],
                                         [(v, "") for v in (0.25, 0.75)]])  # fmt: skip
        plot.setXRange(0, 1, padding=0.03)
        plot.setYRange(0, 1, padding=0.03)
        self.curve = plot.plot([], [], pen=pg.mkPen(PR_COLOR, width=2))
        self.marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(MARK_COLOR), pen=pg.mkPen("w"))
        plot.addItem(self.marker)
        self.label = pg.TextItem("", color="#222", anchor=(1, 1))
        plot.addItem(self.label)
        self.setMinimumSize(180, 100)  # beside the galleries, which need the width more

    def mark(self, recall: float, precision: float, text: str) -> None:
        """Mark (recall, precision); nothing when either is undefined."""
        if math.isfinite(precision) and math.isfinite(recall):
            self.marker.setData([recall], [precision])
            self.label.setText(text)
            self.label.setAnchor((1, 0) if precision > 0.5 else (1, 1))  # away from the title
            self.label.setPos(recall, precision)
        else:
            self.marker.setData([], [])
            self.label.setText("")


# ----------------------------------------------------------------------------- galleries
def thumbnail(img: np.ndarray, side: int) -> QIcon:
    """A uint8 (H, W, C) image as an icon, enlarged by an integer factor (nearest)."""
    a = np.ascontiguousarray(img[..., 0] if img.shape[2] != 3 else img)
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    qimg = QImage(a.data, w, h, a.strides[0], fmt).copy()  # copy: `a` dies with this frame
    zoom = max(1, round(side / max(h, w)))
    return QIcon(QPixmap.fromImage(qimg).scaled(w * zoom, h * zoom, Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.FastTransformation))


class Gallery(QListWidget):
    """Thumbnails with p written under each, left to right and wrapping, a scroll bar for
    the rows below; clicking one emits its example index. ``row_width()`` is one row of
    ``ROW`` thumbnails: laid out one gallery per row, a panel shows that many of each."""

    example_clicked = Signal(int)
    ROW = 8  # thumbnails a gallery asks room for, in one row
    TEXT_PX = 18  # the score under each thumbnail
    PAD_PX = 8
    MIN_PX = 28  # the smallest thumbnail side

    def __init__(self, image_side: int = 28, about: int = 56) -> None:
        super().__init__()
        self.about = about
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setSpacing(0)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # the width does not jump
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        # Height: a row at least (minimumHeight), else what is left; not Qt's default hint.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        self.empty_for(image_side)
        self.itemClicked.connect(lambda item: self.example_clicked.emit(int(item.data(Qt.ItemDataRole.UserRole))))

    def empty_for(self, image_side: int) -> None:
        """Empty, for images of side ``image_side`` (shown at an integer zoom near ``about``)."""
        self.clear()  # (not named reset(): that is QAbstractItemView's virtual, which clear() calls)
        self.icon_side = image_side * max(1, round(self.about / max(image_side, 1)))
        self.indices = np.zeros(0, np.int64)
        self._icons: dict[int, QIcon] = {}
        self._fit_row()

    def _fit_row(self) -> None:
        """Thumbnails as large as ``icon_side``, smaller (never under MIN_PX) where that is
        what it takes to show ``ROW`` of them side by side."""
        width = self.viewport().width() if self.isVisible() else self.ROW * (self.icon_side + self.PAD_PX)
        side = max(min(self.icon_side, width // self.ROW - self.PAD_PX), min(self.MIN_PX, self.icon_side))
        if side != self.iconSize().width() or not hasattr(self, "_hint"):
            self.setIconSize(QSize(side, side))
            self.setGridSize(QSize(side + self.PAD_PX, side + self.TEXT_PX))
            # One whole row, never less: a row cut in half was all a gallery showed.
            height = side + self.TEXT_PX + 2 * self.frameWidth() + 2
            self.setMinimumHeight(height)
            bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
            self._hint = (self.ROW * (self.icon_side + self.PAD_PX) + bar + 2 * self.frameWidth() + 2, height)
            self.updateGeometry()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_row()

    def row_width(self) -> int:
        """The width that shows ``ROW`` thumbnails at their full size, scroll bar included.
        (Not a sizeHint override: Qt asks for hints while it tears a window down, and a
        Python override called then crashed the process.)"""
        return self._hint[0]

    def show_examples(self, indices: np.ndarray, images: np.ndarray, scores: np.ndarray,
                      tips: list[str]) -> None:
        """Replace the thumbnails: ``images[i]`` with ``scores[i]`` under it, in order."""
        if np.array_equal(indices, self.indices) and self.count() == len(indices):
            for i in range(len(indices)):  # same examples: only the numbers may change
                self.item(i).setText(f"{scores[i]:.3f}")
                self.item(i).setToolTip(tips[i])
            return
        self.setUpdatesEnabled(False)
        self.clear()
        for i, index in enumerate(indices.tolist()):
            icon = self._icons.get(index)
            if icon is None:
                icon = self._icons[index] = thumbnail(images[i], self.icon_side)
            item = QListWidgetItem(icon, f"{scores[i]:.3f}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(tips[i])
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
        self.indices = np.asarray(indices).copy()
        self.setUpdatesEnabled(True)


# ----------------------------------------------------------------------------- inspection
def show_validation_example(controller: Any, index: int) -> None:
    """Load validation example ``index`` (of the whole split) into the inspection panels."""
    controller.choose_validation(index)
