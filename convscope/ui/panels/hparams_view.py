"""HParams panel: the runs as parallel coordinates, one vertical axis per
hyperparameter that differs between them (log axes for rates, categories for the
optimizer and augmentation) and a last axis for a chosen metric, as TensorBoard's
HParams dashboard draws them — but sharing one selection with the Runs table and the
Training panel's curves (:class:`~convscope.ui.run_selection.RunSelection`):

* drag along an axis to brush a range: runs outside it leave the table and the curves
  and are drawn faint here; a click on an axis clears its brush;
* click a line to select its run (Ctrl+click adds or removes it), click empty space to
  select none; the selected runs are drawn in their colours;
* the run under the pointer is drawn thick here, highlighted in the table, and its
  curves are drawn thick in the Training panel.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from convscope.ui import theme
from convscope.ui.run_selection import RunSelection, selection_for
from convscope.viz.parallel_coords import (
    METRIC_AXES,
    MISSING,
    Axis,
    axes_for,
    category,
    format_number,
    run_value,
)

HINT = ('<span style="color:#808080">Drag along an axis to keep a range of it (a click clears it) · '
        "click a line to select its run, Ctrl+click to add it</span>")
PICK_PX = 6  # how near a line the pointer must be to pick it
AXIS_PICK_PX = 14  # how near an axis a drag must start to brush it
BRUSH_COLOR = QColor(31, 119, 180, 70)
LINE_COLOR = QColor(110, 110, 110, 150)
FAINT_COLOR = QColor(200, 200, 200, 90)


class ParallelCoordinates(QWidget):
    """The drawing and the mouse: axes, one polyline per run, brushes."""

    def __init__(self, selection: RunSelection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.selection = selection
        self.metric_key = "best_val_acc"
        self.selected_only = False
        self.axes: list[Axis] = []
        self.keys: list[str] = []
        self.positions = np.zeros((0, 0))  # runs × axes, 0…1 (MISSING below)
        self._drag: tuple[int, float, float] | None = None  # axis, start y, current y
        self._press: QPointF | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(360, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.small = QFont(self.font())
        self.small.setPointSizeF(max(7.0, self.font().pointSizeF() - 1))
        self.bold = QFont(self.font())
        self.bold.setBold(True)

    # ------------------------------------------------------------- data
    def rebuild(self) -> None:
        """The runs to draw (text filter passed; brushes only fade them) and the axes."""
        sel = self.selection
        keys = [k for k in sel.runs if sel.passes_text(k) and not sel.runs[k].damaged]
        if self.selected_only:
            keys = [k for k in keys if k in sel.selected]
        runs = [sel.runs[k] for k in keys]
        self.keys = keys
        self.axes = axes_for(runs, self.metric_key) if runs else []
        self.positions = np.array([[a.position(run_value(r, a.key)) for a in self.axes] for r in runs]).reshape(
            len(runs), len(self.axes))
        self.update()

    # ------------------------------------------------------------- geometry
    def _plot_rect(self) -> QRectF:
        fm = QFontMetrics(self.small)
        left = 16 + fm.horizontalAdvance("0.0000")
        return QRectF(left, 2.6 * fm.height() + 8, max(10.0, self.width() - left - 16 - fm.horizontalAdvance("0.0000")),
                      max(10.0, self.height() - 2.6 * fm.height() - 8 - 2.2 * fm.height()))

    def axis_x(self, i: int) -> float:
        r = self._plot_rect()
        n = len(self.axes)
        return r.center().x() if n < 2 else r.left() + i * r.width() / (n - 1)

    def y_of(self, p: float) -> float:
        r = self._plot_rect()
        return r.bottom() - p * r.height()

    def p_of(self, y: float) -> float:
        r = self._plot_rect()
        return (r.bottom() - y) / r.height()

    def _pixels(self) -> tuple[np.ndarray, np.ndarray]:
        xs = np.array([self.axis_x(i) for i in range(len(self.axes))])
        r = self._plot_rect()
        return xs, r.bottom() - self.positions * r.height()

    def run_at(self, pos: QPointF) -> str:
        """The key of the run whose line passes within PICK_PX of ``pos`` ("" if none)."""
        if not self.keys or len(self.axes) == 0:
            return ""
        xs, ys = self._pixels()
        x = pos.x()
        if len(xs) == 1 or x <= xs[0]:
            at = ys[:, 0]
        elif x >= xs[-1]:
            at = ys[:, -1]
        else:
            i = int(np.searchsorted(xs, x)) - 1
            t = (x - xs[i]) / (xs[i + 1] - xs[i])
            at = ys[:, i] + t * (ys[:, i + 1] - ys[:, i])
        d = np.abs(at - pos.y())
        shown = np.array([self.selection.passes(k) for k in self.keys])
        d[~shown] = np.inf  # faded runs cannot be picked
        best = int(np.argmin(d))
        return self.keys[best] if d[best] <= PICK_PX else ""

    def _axis_near(self, x: float) -> int | None:
        for i in range(len(self.axes)):
            if abs(self.axis_x(i) - x) <= AXIS_PICK_PX:
                return i
        return None

    # ------------------------------------------------------------- mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        self._press = pos
        axis = self._axis_near(pos.x())
        self._drag = (axis, pos.y(), pos.y()) if axis is not None else None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag is not None:
            axis, start, _ = self._drag
            self._drag = (axis, start, pos.y())
            if abs(pos.y() - start) >= 3:
                self.selection.set_brush(self.axes[axis].key, self.axes[axis].brush(self.p_of(start), self.p_of(pos.y())))
            return
        self.selection.set_hovered(self.run_at(pos))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        pos, press = event.position(), self._press
        self._press = None
        if self._drag is not None:
            axis, start, _ = self._drag
            self._drag = None
            if abs(pos.y() - start) < 3:  # a click on an axis: its brush goes
                self.selection.set_brush(self.axes[axis].key, None)
            return
        if (pos - press).manhattanLength() > 4:
            return
        key = self.run_at(pos)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if key:
                self.selection.toggle(key)
        else:
            self.selection.select([key] if key else [])

    def leaveEvent(self, event: Any) -> None:
        self.selection.set_hovered("")
        super().leaveEvent(event)

    # ------------------------------------------------------------- drawing
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        ink = theme.plot_color  # drawn for white; the theme's colours when dark
        background = QColor(theme.ink().background)
        painter.fillRect(self.rect(), background)
        if not self.axes:
            painter.setPen(ink("#555"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No runs to compare: train a few, or clear the filter.")
            return
        xs, ys = self._pixels()
        sel = self.selection
        passes = [sel.passes(k) for k in self.keys]
        order = sorted(range(len(self.keys)), key=lambda j: (passes[j], self.keys[j] in sel.colors,
                                                             self.keys[j] == sel.hovered))
        for j in order:
            key = self.keys[j]
            color = ink(sel.color(key)) if sel.color(key) and passes[j] else LINE_COLOR if passes[j] else FAINT_COLOR
            width = 4.5 if key == sel.hovered and passes[j] else 2.4 if sel.color(key) else 1.2
            painter.setPen(QPen(color, width))
            path = QPainterPath(QPointF(xs[0], ys[j, 0]))
            for i in range(1, len(xs)):
                path.lineTo(xs[i], ys[j, i])
            painter.drawPath(path) if len(xs) > 1 else painter.drawEllipse(QPointF(xs[0], ys[j, 0]), 3, 3)
        fm_small = QFontMetrics(self.small)
        spacing = (xs[1] - xs[0]) if len(xs) > 1 else self.width()
        for i, axis in enumerate(self.axes):
            x = xs[i]
            brush = sel.brushes.get(axis.key)
            if brush is not None:
                lo, hi = axis.brush_span(brush)
                painter.fillRect(QRectF(x - 8, self.y_of(hi), 16, max(2.0, self.y_of(lo) - self.y_of(hi))), BRUSH_COLOR)
            painter.setPen(QPen(ink("#333"), 1.5))
            painter.drawLine(QPointF(x, self.y_of(1.0)), QPointF(x, self.y_of(0.0)))
            painter.setFont(self.bold)
            # Centred over its axis; the first and last run to the widget's edges.
            top = self._plot_rect().top()
            left, right = x - spacing / 2 + 3, x + spacing / 2 - 3
            align = Qt.AlignmentFlag.AlignHCenter
            if i == 0 and len(self.axes) > 1:
                left, align = 2.0, Qt.AlignmentFlag.AlignLeft
            if i == len(self.axes) - 1 and len(self.axes) > 1:
                right, align = self.width() - 2.0, Qt.AlignmentFlag.AlignRight
            words = [QFontMetrics(self.bold).elidedText(w, Qt.TextElideMode.ElideRight, int(right - left))
                     for w in axis.label.split()]  # two lines where narrow, a word cut only if longer than the room
            painter.drawText(QRectF(left, 2, right - left, top - 10), align | Qt.AlignmentFlag.AlignBottom
                             | Qt.TextFlag.TextWordWrap, " ".join(words))
            painter.setFont(self.small)
            painter.setPen(ink("#222"))
            right = i == len(self.axes) - 1 and len(self.axes) > 1
            for p, text in axis.ticks() + ([(MISSING, "n/a")] if (self.positions[:, i] < 0).any() else []):
                y = self.y_of(p)
                painter.drawLine(QPointF(x - 3, y), QPointF(x + 3, y))
                w = fm_small.horizontalAdvance(text)
                tx = x + 5 if right else x - 5 - w
                box = QRectF(tx - 1, y - fm_small.height() / 2, w + 2, fm_small.height())
                painter.fillRect(box, QColor(background.red(), background.green(), background.blue(), 200))  # readable over the lines
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


class HParamsPanel(QWidget):
    """The parallel coordinates with a metric chooser and a line about the run under
    the pointer."""

    title = "HParams"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.selection = selection_for(session)
        self.canvas = ParallelCoordinates(self.selection)
        self.metric_combo = QComboBox()
        for key, label in METRIC_AXES.items():
            self.metric_combo.addItem(label, key)
        self.show_combo = QComboBox()
        self.show_combo.addItem("all runs shown in the table", False)
        self.show_combo.addItem("the selected runs", True)
        self.info = QLabel(HINT)
        self.info.setObjectName("hparamsInfo")
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)  # a long line must not widen the dock (nor clip the metric axis)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        for widget in (QLabel("Metric:"), self.metric_combo, QLabel("Show:"), self.show_combo):
            top.addWidget(widget)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.canvas, stretch=1)
        layout.addWidget(self.info)
        self.metric_combo.currentIndexChanged.connect(self._on_options)
        self.show_combo.currentIndexChanged.connect(self._on_options)
        self.selection.runs_changed.connect(self.canvas.rebuild)
        self.selection.filter_changed.connect(self.canvas.rebuild)
        self.selection.selection_changed.connect(self._on_selection)
        self.selection.hovered_changed.connect(self._on_hover)
        self.canvas.rebuild()

    def _on_options(self) -> None:
        self.canvas.metric_key = str(self.metric_combo.currentData())
        self.canvas.selected_only = bool(self.show_combo.currentData())
        self.canvas.rebuild()

    def _on_selection(self) -> None:
        if self.canvas.selected_only:
            self.canvas.rebuild()
        else:
            self.canvas.update()

    def _on_hover(self, key: str) -> None:
        self.canvas.update()
        run = self.selection.runs.get(key)
        if run is None:
            self.info.setText(HINT)
            return
        values = []
        for axis in self.canvas.axes:
            v = run_value(run, axis.key)
            text = ("n/a" if v is None else category(axis.key, v) if axis.kind == "category"
                    else format_number(float(v)))
            values.append(f"{axis.label} {text}")
        color = self.selection.color(key) or "#555"
        self.info.setText(f'<span style="color:{color}">●</span> <b>{html.escape(run.name)}</b>: ' + " · ".join(values))
