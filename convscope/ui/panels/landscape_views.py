"""The Loss landscape panel's plots: the 2D map (filled colour map, contour lines,
colour bar, centre, trajectory) and the 1D lines, in one scene arranged for the room
they get (:class:`LandscapePlots`), with the 3D surface (``landscape_3d``) as an
alternative page.

Items are created once; updates only call ``setImage`` / ``setData`` with explicit
levels. Values, colour range and contours come from ``viz.landscape_display``, the
transform the exported PNG and SVG use: a partial grid (coarse lattice first) is drawn
whole, interpolated from its coarse lattice once that is in, nearest computed values
before; +inf as the largest finite loss.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QStackedWidget, QWidget

from convscope.ui import theme
from convscope.ui.panels.mapview import SEQUENTIAL, SEQUENTIAL_MAP, graphics_widget, style_axis
from convscope.viz.landscape_display import (  # noqa: F401 - fill_missing: also this module's API
    CONTOURS,
    contour_levels,
    contour_xy,
    display_levels,
    display_loss,
    fill_missing,
)

log = logging.getLogger(__name__)

TRAIN_COLOR = "#1f77b4"  # as on the Training panel
VAL_COLOR = "#e6550d"
PATH_COLOR = "#ff7f0e"
STORED_COLOR = "#e7298a"  # the timeline's stored step: apart from the path and the centre
LABEL_STYLE = {"font-size": "11pt"}
LEGEND_HEADROOM = 0.45  # the 1D plots' y range reaches this share of the data's span above it


# What is drawn (values, colour range, contours) is viz.landscape_display's, as in the files.
contour_paths = contour_xy


# ------------------------------------------------------------------ the 2D map
def _plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, **kw: Any) -> pg.PlotItem:
    plot = layout.addPlot(row=row, col=col, enableMenu=False, **kw)
    plot.setMenuEnabled(False)
    plot.vb.border = None  # draws nothing on screen, but a black frame in SVG exports
    plot.hideButtons()
    plot.setMouseEnabled(False, False)
    for name in ("left", "bottom"):
        style_axis(plot.getAxis(name))
        plot.getAxis(name).enableAutoSIPrefix(False)
    return plot


class LandscapeMap:
    """Filled colour map with contour lines, the centre (+), the trajectory, a colour bar."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int) -> None:
        self.plot = _plot(layout, row, col)
        self.plot.setTitle("Loss around the current weights", size="12pt")
        self.plot.setLabel("bottom", "α (direction 1)", **LABEL_STYLE)
        self.plot.setLabel("left", "β (direction 2)", **LABEL_STYLE)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self.contours = pg.PlotCurveItem(pen=pg.mkPen(255, 255, 255, 150, width=1.2), connect="finite")
        self.plot.addItem(self.contours)
        self.path = pg.PlotDataItem(
            [], [], pen=pg.mkPen(PATH_COLOR, width=2.5), symbol="o", symbolSize=6,
            symbolBrush=PATH_COLOR, symbolPen=pg.mkPen("w", width=1),
        )  # fmt: skip
        self.live = pg.PlotDataItem(
            [], [], pen=pg.mkPen(PATH_COLOR, width=2, style=Qt.PenStyle.DashLine), symbol="o",
            symbolSize=5, symbolBrush="w", symbolPen=pg.mkPen(PATH_COLOR, width=1.5),
        )  # fmt: skip
        self.start = pg.ScatterPlotItem(
            symbol="s", size=10, brush=pg.mkBrush("w"), pen=pg.mkPen(PATH_COLOR, width=2)
        )
        for item in (self.path, self.live, self.start):
            self.plot.addItem(item)
        # The centre: a white + on a black one, visible on any colour.
        self.center = [
            pg.ScatterPlotItem([0], [0], symbol="+", size=s, pen=pg.mkPen(c, width=w), brush=pg.mkBrush(c))
            for s, c, w in ((22, "k", 4), (18, "w", 1.5))
        ]
        for item in self.center:
            self.plot.addItem(item)
        # The timeline's stored step: a diamond labelled with its step (no legend over the map).
        self.stored = pg.ScatterPlotItem(
            symbol="d", size=15, brush=pg.mkBrush(STORED_COLOR), pen=pg.mkPen("k", width=1.5)
        )
        self.stored_label = pg.TextItem("", color="k", fill=pg.mkBrush(255, 255, 255, 200), anchor=(-0.15, 1.1))
        for item in (self.stored, self.stored_label):
            item.setZValue(10)
            self.plot.addItem(item)
        self.bar = pg.ColorBarItem(
            values=(0.0, 1.0), colorMap=SEQUENTIAL_MAP, interactive=False, width=16, colorMapMenu=False
        )
        style_axis(self.bar.axis, 10)
        self.bar.axis.enableAutoSIPrefix(False)
        layout.addItem(self.bar, row=row, col=col + 1)
        self.values: np.ndarray | None = None  # the loss as drawn (missing cells filled)
        self.shown: np.ndarray | None = None  # what the colours encode (loss or log₁₀ loss)
        self.levels = (0.0, 1.0)
        self.alphas = self.betas = np.zeros(0)
        self._log: bool | None = None

    def show(self, alphas: np.ndarray, betas: np.ndarray, loss: np.ndarray, log_scale: bool) -> None:
        if np.isnan(loss).all():
            self.clear()
            return
        self.alphas, self.betas = np.asarray(alphas, np.float64), np.asarray(betas, np.float64)
        self.values = fill_missing(loss)
        shown = display_loss(loss, log_scale)  # the files' transform (landscape_io, landscape_svg)
        self.shown = shown
        self.levels = display_levels(shown)
        self.image.setImage(shown, levels=self.levels, lut=SEQUENTIAL, autoLevels=False)
        a, b = self.alphas, self.betas
        da = (a[-1] - a[0]) / max(len(a) - 1, 1) or 1.0
        db = (b[-1] - b[0]) / max(len(b) - 1, 1) or 1.0
        self.image.setRect(QRectF(a[0] - da / 2, b[0] - db / 2, da * len(a), db * len(b)))
        lo, hi = self.levels
        xs, ys = contour_xy(shown, a, b, contour_levels(lo, hi))
        self.contours.setData(xs, ys, connect="finite")
        self.bar.setLevels(self.levels)
        if log_scale != self._log:
            self._log = log_scale
            self.bar.axis.setLabel("log₁₀ loss" if log_scale else "loss")
        self.plot.setRange(
            xRange=(a[0] - da / 2, a[-1] + da / 2), yRange=(b[0] - db / 2, b[-1] + db / 2), padding=0.02
        )

    def show_path(self, xy: np.ndarray | None, live: np.ndarray | None = None) -> None:
        """The projected trajectory (T, 2), and later snapshots placed on the plane."""
        if xy is None or len(xy) == 0:
            self.path.setData([], [])
            self.start.setData([], [])
        else:
            self.path.setData(xy[:, 0], xy[:, 1])
            self.start.setData([xy[0, 0]], [xy[0, 1]])
        if live is None or len(live) == 0 or xy is None or len(xy) == 0:
            self.live.setData([], [])
        else:
            joined = np.concatenate([xy[-1:], live])
            self.live.setData(joined[:, 0], joined[:, 1])

    def show_stored(self, point: tuple[int, np.ndarray] | None) -> None:
        """The timeline's stored step at its (α, β) on the plane, or nothing; the view
        widens to take it in when it falls outside the grid."""
        if point is None:
            self.stored.setData([], [])
            self.stored_label.setText("")
            return
        step, (x, y) = point
        self.stored.setData([x], [y])
        self.stored_label.setText(f"step {step:,}")
        self.stored_label.setPos(x, y)
        a, b = self.alphas, self.betas
        if len(a) and len(b) and not (a[0] <= x <= a[-1] and b[0] <= y <= b[-1]):
            self.plot.setRange(xRange=(min(a[0], x), max(a[-1], x)), yRange=(min(b[0], y), max(b[-1], y)),
                               padding=0.08)

    def clear(self) -> None:
        self.values = self.shown = None
        self.image.clear()
        self.contours.setData([], [])
        self.show_path(None)
        self.show_stored(None)
        self.plot.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0.02)

    def describe_at(self, scene_pos: Any, loss: np.ndarray, accuracy: np.ndarray) -> str:
        """Hover text for the cell under a scene position ("" outside the map)."""
        if not self.plot.sceneBoundingRect().contains(scene_pos):
            return ""
        p = self.plot.vb.mapSceneToView(scene_pos)
        cell = self.value_at(p.x(), p.y())
        if cell is None:
            return ""
        i, j = cell
        where = f"α = {self.alphas[j]:+.3g}, β = {self.betas[i]:+.3g}"
        if np.isnan(loss[i, j]):
            return f"{where}: not computed yet"
        return f"{where}: loss {loss[i, j]:.4g}, accuracy {100 * accuracy[i, j]:.1f}%"

    def value_at(self, x: float, y: float) -> tuple[int, int] | None:
        """Grid cell (row i, col j) under direction coordinates (x, y), if inside."""
        if self.values is None or len(self.alphas) < 2:
            return None
        j = int(round((x - self.alphas[0]) / (self.alphas[1] - self.alphas[0])))
        i = int(round((y - self.betas[0]) / (self.betas[1] - self.betas[0])))
        if 0 <= i < len(self.betas) and 0 <= j < len(self.alphas):
            return i, j
        return None


# ------------------------------------------------------------------ 1D
class LinePlot:
    """Loss along one line through parameter space: the training and validation batch."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, x_label: str) -> None:
        self.plot = _plot(layout, row, col)
        self.plot.setTitle(title, size="11pt")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", x_label, **LABEL_STYLE)
        self.plot.setLabel("left", "loss", **LABEL_STYLE)
        # Side by side at the top centre: a loss line through the weights is a valley, so
        # its curves rise at the ends and leave the top middle free.
        self.legend = self.plot.addLegend(labelTextSize="10pt", colCount=2)
        self.legend.anchor(itemPos=(0.5, 0.0), parentPos=(0.5, 0.0), offset=(0, 2))
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 200))
        self.curves = {
            "train": self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2.5), name="train batch"),
            "val": self.plot.plot(
                [],
                [],
                pen=pg.mkPen(VAL_COLOR, width=2.5, style=Qt.PenStyle.DashLine),
                name="validation batch",
            ),
        }
        self.marks: list[pg.InfiniteLine] = []
        self.note = pg.TextItem("", color="#666", anchor=(0.5, 0.5))
        self.plot.addItem(self.note, ignoreBounds=True)
        self.line: Any = None

    def set_marks(self, positions: list[tuple[float, str]]) -> None:
        for mark in self.marks:
            self.plot.removeItem(mark)
        self.marks = []
        for x, text in positions:
            mark = pg.InfiniteLine(
                x, angle=90, pen=pg.mkPen("#888", width=1, style=Qt.PenStyle.DotLine),
                label=text, labelOpts={"position": 0.7, "color": "#555", "anchors": [(0, 0.5), (0, 0.5)]},
            )  # fmt: skip
            self.plot.addItem(mark, ignoreBounds=True)
            self.marks.append(theme.adopt(mark))
            theme.adopt(mark.label)

    def show(self, line: Any, empty_text: str = "") -> None:
        self.line = line
        for name, curve in self.curves.items():
            if line is not None and name in line.loss:
                curve.setData(line.ts, line.loss[name])
            else:
                curve.setData([], [])
        self.note.setText("" if line is not None else empty_text)
        self.note.setVisible(line is None and bool(empty_text))  # nothing left behind the legend
        self.legend.setVisible(line is not None)
        if line is not None:
            self.plot.enableAutoRange(axis="x")
            curves = [np.asarray(v, np.float64).ravel() for v in line.loss.values()]
            values = np.concatenate(curves or [np.zeros(0)])
            values = values[np.isfinite(values)]
            if values.size:  # headroom above the curves for the legend (a line rises at its ends)
                lo, hi = float(values.min()), float(values.max())
                span = hi - lo if hi > lo else 1.0
                self.plot.setYRange(lo - 0.05 * span, hi + LEGEND_HEADROOM * span, padding=0)
        else:
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.note.setPos(0.5, 0.5)


def arrange(layout: pg.GraphicsLayout, landscape: LandscapeMap, lines: list[LinePlot], mode: str) -> None:
    """ "wide": the map (and its colour bar) on the left over two rows, the lines stacked
    on the right. "narrow": the map on top, the lines under it, side by side. "map":
    docked very small, the map alone."""
    items = [landscape.plot, landscape.bar, *(line.plot for line in lines)]
    for item in items:
        if item in layout.items:
            layout.removeItem(item)
    grid = layout.layout
    if mode == "wide":
        layout.addItem(landscape.plot, 0, 0, 2, 1)
        layout.addItem(landscape.bar, 0, 1, 2, 1)
        for row, line in enumerate(lines):
            layout.addItem(line.plot, row, 2)
        stretches = ([1, 1, 0], [3, 0, 2])
    elif mode == "narrow":  # the last line shares the colour bar's column, so its width is not lost
        layout.addItem(landscape.plot, 0, 0, 1, len(lines))
        layout.addItem(landscape.bar, 0, len(lines))
        for col, line in enumerate(lines):
            layout.addItem(line.plot, 1, col, 1, 2 if col == len(lines) - 1 else 1)
        stretches = ([3, 2, 0], [1, 1, 0])
    else:
        layout.addItem(landscape.plot, 0, 0)
        layout.addItem(landscape.bar, 0, 1)
        stretches = ([1, 0, 0], [1, 0, 0])
    for i, (r, c) in enumerate(zip(*stretches, strict=True)):
        grid.setRowStretchFactor(i, r)
        grid.setColumnStretchFactor(i, c)
    for line in lines:  # out of the scene, a theme change passed them by
        theme.adopt_tree(line.plot)


def layout_mode(width: int, height: int) -> str:
    """Which :func:`arrange` fits a plot area of ``width`` × ``height`` pixels."""
    if width >= 680 and width >= 1.25 * height:
        return "wide"
    if width >= 480 and height >= 330:
        return "narrow"
    return "map"


class LandscapePlots(QStackedWidget):
    """The map and both lines in one GraphicsLayoutWidget (one export holds them all),
    re-arranged when resized (:func:`layout_mode`); the 3D surface as a second page."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = graphics_widget()
        self.map = LandscapeMap(self.graphics, 0, 0)
        self.line_interp = LinePlot(self.graphics, 0, 2, "First snapshot → now", "t (0: first, 1: now)")
        self.line_interp.set_marks([(0.0, "first"), (1.0, "now")])
        self.line_dir = LinePlot(self.graphics, 1, 2, "One random direction", "distance along it")
        self.line_dir.set_marks([(0.0, "now")])
        self.layout_mode = "wide"
        arrange(self.graphics.ci, self.map, [self.line_interp, self.line_dir], "wide")
        self.surface: Any = None  # landscape_3d.Surface3D, made when first shown
        self.addWidget(self.graphics)
        self.clear()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        mode = layout_mode(self.width(), self.height())
        if mode != self.layout_mode:
            self.layout_mode = mode
            arrange(self.graphics.ci, self.map, [self.line_interp, self.line_dir], mode)
            # The view already sized its layout for the old arrangement (clamped to its minimum).
            self.graphics.ci.setGeometry(self.graphics.range)

    def set_three_d(self, on: bool) -> str:
        """Show the 3D surface (made on first use) or the plots; why 3D failed, or ""."""
        if on and self.surface is None:
            try:
                from convscope.ui.panels.landscape_3d import Surface3D

                self.surface = Surface3D()
            except Exception as exc:  # noqa: BLE001 - a broken OpenGL stack must not crash the panel
                self.setCurrentWidget(self.graphics)
                return f"3D view failed: {type(exc).__name__}: {exc}"
            self.addWidget(self.surface)
        self.setCurrentWidget(self.surface if on and self.surface is not None else self.graphics)
        return ""

    def clear(self) -> None:
        self.map.clear()
        self.line_interp.show(None, "after a few steps")
        self.line_dir.show(None, "")

    def draw(
        self, source: tuple | None, live: np.ndarray | None, lines: dict[str, Any], log_scale: bool,
        stored: tuple[int, np.ndarray] | None = None,
    ) -> None:
        """``source``: (alphas, betas, loss, accuracy, trajectory) or None; ``stored``: the
        timeline's (step, (α, β)). The lines are drawn whether or not the map has anything
        yet (they arrive first)."""
        self.line_interp.show(lines.get("interpolation"), "after a few steps")
        self.line_dir.show(lines.get("direction"), "")
        if source is None:
            self.map.clear()
            return
        alphas, betas, loss, _accuracy, trajectory = source
        self.map.show(alphas, betas, loss, log_scale)
        self.map.show_path(trajectory, live)
        self.map.show_stored(stored)
        if self.surface is not None and self.currentWidget() is self.surface and self.map.shown is not None:
            self.surface.show_surface(alphas, betas, self.map.shown, self.map.levels)
