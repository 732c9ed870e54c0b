"""Pieces the inspection panels share: a map view with a stated colour scale, export.

``MapView`` is a pyqtgraph view of one image (usually a mosaic from ``viz.tiles``) with
a colour bar beside it; its items are created once and only ``setImage`` / ``setLevels``
run on updates, always with explicit levels, so a colour means the same value from
frame to frame. ``export_scene`` writes a panel's graphics as PNG or SVG with
pyqtgraph's exporters; ``ExportButton`` asks for the file.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from convscope.ui import theme
from convscope.ui.visibility import on_screen
from convscope.viz.colormaps import diverging_lut, sequential_lut

log = logging.getLogger(__name__)

EXPORT_FILTER = "PNG image (*.png);;SVG drawing (*.svg)"
DIVERGING = diverging_lut()
SEQUENTIAL = sequential_lut()


def colormap(lut: np.ndarray) -> pg.ColorMap:
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut)


DIVERGING_MAP = colormap(DIVERGING)
SEQUENTIAL_MAP = colormap(SEQUENTIAL)


def lut_for(levels: tuple[float, float]) -> tuple[np.ndarray, pg.ColorMap]:
    """Diverging (white = 0) for levels on both sides of zero, else viridis."""
    lo, hi = levels
    return (DIVERGING, DIVERGING_MAP) if lo < 0 < hi else (SEQUENTIAL, SEQUENTIAL_MAP)


def format_number(v: float) -> str:
    """Short, readable numbers for colour-scale captions and hover text."""
    if not np.isfinite(v):
        return str(v)
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e4):
        return f"{v:.2e}"
    return f"{v:.3g}" if a < 100 else f"{v:.1f}"


def heading(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("panelHeading")
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label



def layer_picker(tooltip: str, min_chars: int, on_pick: Callable[[int], None]) -> QComboBox:
    """The "Layer:" combo box of a panel that shows one layer at a time."""
    picker = QComboBox()
    picker.setToolTip(tooltip)
    picker.setMinimumContentsLength(min_chars)
    picker.currentIndexChanged.connect(on_pick)
    return picker


def layer_panel_layout(
    owner: QWidget,
    picker: QComboBox,
    title: QLabel,
    buttons: list[QWidget],
    body: QWidget,
    footer: list[tuple[QWidget, int]],
) -> QVBoxLayout:
    """Picker, heading and buttons on top; the plots; a row of captions (with stretches)."""
    top = QHBoxLayout()
    top.addWidget(QLabel("Layer:"))
    top.addWidget(picker)
    top.addWidget(title, stretch=1)
    for button in buttons:
        top.addWidget(button)
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addLayout(top)
    layout.addWidget(body, stretch=1)
    bottom = QHBoxLayout()
    for widget, stretch in footer:
        bottom.addWidget(widget, stretch=stretch)
    layout.addLayout(bottom)
    return layout

def graphics_widget() -> pg.GraphicsLayoutWidget:
    widget = pg.GraphicsLayoutWidget()
    widget.ci.setContentsMargins(2, 2, 2, 2)
    widget.ci.layout.setSpacing(4)
    return widget


def style_axis(axis: pg.AxisItem, size: int = 11) -> None:
    font = QFont()
    font.setPointSize(size)
    axis.setTickFont(font)
    axis.setPen(pg.mkPen("#444"))
    axis.setTextPen(pg.mkPen("#222"))
    theme.adopt(axis)  # a view made while dark


class MapView:
    """An ImageItem in a y-down, aspect-locked ViewBox, plus (optionally) a colour bar.

    Added to a ``GraphicsLayoutWidget`` at ``(row, col)``; the colour bar takes the
    next column. ``hovered(x, y)`` / ``clicked(x, y)`` report image pixel coordinates.
    """

    def __init__(
        self,
        layout: pg.GraphicsLayoutWidget,
        row: int,
        col: int,
        title: str = "",
        bar: bool = True,
        bar_label: str = "",
    ) -> None:
        self.label = None
        if title:
            # Over the colour bar too, so a long title does not widen the view's column.
            self.label = layout.addLabel(title, row=row, col=col, colspan=2 if bar else 1, size="12pt")
            row += 1
        self.view: pg.ViewBox = layout.addViewBox(
            row=row, col=col, lockAspect=True, invertY=True, enableMenu=False
        )
        self.view.setMenuEnabled(False)
        self.view.border = None  # draws nothing on screen, but a black frame in SVG exports
        self.view.setMouseEnabled(False, False)
        self.view.setDefaultPadding(0.01)  # auto-range stays on: the view fits any new shape and size
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.bar: pg.ColorBarItem | None = None
        self._cmap: pg.ColorMap | None = None
        if bar:
            self.bar = pg.ColorBarItem(
                values=(0.0, 1.0),
                colorMap=SEQUENTIAL_MAP,
                label=bar_label or None,
                interactive=False,
                width=16,
                colorMapMenu=False,
            )
            style_axis(self.bar.axis, 10)
            layout.addItem(self.bar, row=row, col=col + 1)
            self._cmap = SEQUENTIAL_MAP
        self.levels: tuple[float, float] = (0.0, 1.0)
        self.data: np.ndarray | None = None

    def set_title(self, text: str) -> None:
        if self.label is not None and text != self.label.text:  # setText re-lays out HTML
            self.label.setText(text, size="12pt")

    def show(
        self,
        data: np.ndarray,
        levels: Any,
        lut: np.ndarray | None = None,
        cmap: pg.ColorMap | None = None,
    ) -> None:
        """Draw ``data`` with explicit ``levels`` ((lo, hi), or per-channel for RGB)."""
        self.data = data
        if isinstance(levels, tuple):
            self.levels = levels
        self.image.setImage(data, levels=levels, lut=lut, autoLevels=False)
        if self.bar is not None and isinstance(levels, tuple):
            self.bar.setLevels(levels)
            if cmap is not None and cmap is not self._cmap:
                self._cmap = cmap
                self.bar.setColorMap(cmap)

    def show_scalar(self, data: np.ndarray, levels: tuple[float, float]) -> None:
        """A 2-D map with a diverging (signed) or sequential colour scale chosen by levels."""
        lut, cmap = lut_for(levels)
        self.show(data, levels, lut, cmap)

    def pixel_at(self, scene_pos: QPointF) -> tuple[float, float] | None:
        """Image coordinates (x = column, y = row) under a scene position, if inside."""
        if self.data is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.image.mapFromScene(scene_pos)
        h, w = self.data.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            return p.x(), p.y()
        return None


class ThrottledRedraw:
    """Mixin for panels: ``redraw()`` runs on a timer only while the panel is on screen
    (a tab in the background costs nothing) and when it is shown.

    Qt keeps a tabbed dock that is not the current tab "visible" (``isVisible()``),
    parked outside the window; ``ui.visibility.on_screen`` tells.
    """

    _last_redraw = -1e9
    _redraw_interval_s = 0.1

    def start_redraw_timer(self, interval_ms: int) -> None:
        self._redraw_interval_s = interval_ms / 1000
        self._redraw_timer = QTimer(self)  # type: ignore[arg-type]
        self._redraw_timer.setInterval(interval_ms)
        self._redraw_timer.timeout.connect(self._redraw_if_visible)
        self._redraw_timer.start()

    def request_redraw(self) -> None:
        """New data: draw it now unless data came in less than one timer period ago
        (then the timer draws it): a snapshot is on screen in milliseconds, and a
        burst of data still costs at most one redraw per period."""
        now = time.monotonic()
        if now - self._last_redraw >= self._redraw_interval_s and self.on_screen():
            self._last_redraw = now
            self.redraw()  # type: ignore[attr-defined]

    def on_screen(self) -> bool:
        return on_screen(self)  # type: ignore[arg-type]

    def _redraw_if_visible(self) -> None:
        if self.on_screen():
            self.redraw()  # type: ignore[attr-defined]

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)  # type: ignore[misc]
        self.redraw()  # type: ignore[attr-defined]


def export_scene(item: Any, path: str | Path) -> None:
    """Write ``item`` (a GraphicsLayoutWidget / PlotWidget or its scene) as SVG when
    ``path`` ends in .svg, else as a PNG (or another Qt image format); raises OSError
    when nothing could be written."""
    view = item if isinstance(item, QGraphicsView) else item.views()[0]
    scene = view.scene()
    path = str(path)
    if path.lower().endswith(".svg"):
        try:
            with _closed_paths_supported():
                SVGExporter(scene).export(path)
        except ValueError:  # a path the exporter still cannot parse: Qt's own generator
            log.warning("pyqtgraph's SVG exporter failed; writing %s with Qt's SVG generator", path)
            _render_svg(view, path)
    else:
        ImageExporter(scene).export(path)
    if not Path(path).is_file():
        raise OSError(f"{path}: could not be written")


@contextlib.contextmanager
def _closed_paths_supported() -> Iterator[None]:
    """pyqtgraph 0.14.0's SVGExporter re-parses every ``<path d="…">`` as "x,y" pairs
    and fails on the "Z" (close path) that Qt 6 writes for every ViewBox (pyqtgraph
    issue #3495, closed upstream, not in 0.14.0). While exporting, the Z is taken off
    before the exporter moves the coordinates and put back after."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates

    def correct(node: Any, defs: Any, item: Any, options: Any) -> Any:
        closed = []
        for element in node.getElementsByTagName("path"):
            d = element.getAttribute("d")
            if "Z" in d or "z" in d:
                element.setAttribute("d", d.replace("Z", " ").replace("z", " ").strip())
                closed.append(element)
        result = original(node, defs, item, options)
        for element in closed:
            element.setAttribute("d", element.getAttribute("d").strip() + " Z")
        return result

    module.correctCoordinates = correct
    try:
        yield
    finally:
        module.correctCoordinates = original


def _render_svg(view: QGraphicsView, path: str) -> None:
    rect = view.viewport().rect()
    generator = QSvgGenerator()
    generator.setFileName(path)
    generator.setSize(rect.size())
    generator.setViewBox(QRect(0, 0, rect.width(), rect.height()))
    generator.setTitle("ConvScope")
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
    finally:
        painter.end()


def ask_save_path(parent: QWidget, title: str, default: str, filters: str) -> str:
    """A save dialog; the suffix of the chosen filter is added when the name has none."""
    path, chosen = QFileDialog.getSaveFileName(parent, title, default, filters)
    if path and not Path(path).suffix:
        start = chosen.find("(*")
        if start >= 0:
            path += chosen[start + 2 :].split(")")[0].split()[0]
    return path


class ExportButton(QToolButton):
    """ "Export…": asks for a .png / .svg file and calls ``export(path)``."""

    exported = Signal(str)

    def __init__(
        self, export: Callable[[str], None], default_name: str, parent: QWidget | None = None,
        filters: str = EXPORT_FILTER,
    ) -> None:
        super().__init__(parent)
        self.filters = filters
        self.setText("Export…")
        self.setToolTip("Save this panel's picture as PNG or SVG")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._export = export
        self._default = default_name
        self.clicked.connect(self.ask)

    def ask(self) -> None:
        path = ask_save_path(self, "Export panel", self._default, self.filters)
        if not path:
            return
        try:
            self._export(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        self.exported.emit(path)
