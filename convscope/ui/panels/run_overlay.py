"""Stored runs' curves over the Training panel's: the runs selected in the shared
:class:`~convscope.ui.run_selection.RunSelection` (and passing its filter), each in
its colour, against step, epoch or wall time, smoothed as TensorBoard smooths, the
loss on a log axis on request, and a read-out of every curve at the pointer's x.

A run's curves are read once (``read_curves``) and read again only when its
``metrics.jsonl`` changed. The run under the pointer in any view is drawn thicker.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolTip,
    QWidget,
)

from convscope.runs import Curves, read_curves
from convscope.runs.layout import METRICS
from convscope.ui import theme
from convscope.ui.run_selection import RunSelection
from convscope.viz.smoothing import ema_smooth

X_MODES = {"step": "step", "epoch": "epoch", "wall": "wall time (s)"}
CURVES = (("loss", "train", "loss"), ("val_loss", "val", "val_loss"), ("acc", "train", "acc"),
          ("val_acc", "val", "val_acc"), ("lr", "train", "lr"))  # (name, table, field)
WIDTH, HOVER_WIDTH = 1.8, 4.0
HINT = '<span style="color:#808080">point at the curves to read them</span>'


def run_arrays(curves: Any) -> dict[str, dict[str, np.ndarray]]:
    """A run's train and val arrays, accuracies in %, ``wall`` relative to its first record."""
    train, val = curves.arrays("train"), curves.arrays("val")
    walls = np.concatenate([train["wall"], val["wall"]])
    walls = walls[np.isfinite(walls)]
    start = float(walls.min()) if walls.size else 0.0
    for table in (train, val):
        table["wall"] = table["wall"] - start
    train["acc"] = 100.0 * train["acc"]
    val["val_acc"] = 100.0 * val["val_acc"]
    return {"train": train, "val": val}


def log_ticks(lo: float, hi: float) -> list[list[tuple[float, str]]]:
    """Labels for a log axis from 10^lo to 10^hi (whole decades): 1, 2, 5 per decade
    when there are at most two decades, else the decades alone."""
    decades = range(int(np.floor(lo)), int(np.ceil(hi)) + 1)
    steps = (1, 2, 5) if len(decades) <= 3 else (1,)
    major = [(float(np.log10(m * 10.0**e)), f"{m * 10.0**e:g}") for e in decades for m in steps
             if lo - 1e-9 <= np.log10(m * 10.0**e) <= hi + 1e-9]
    return [major, []]


class CursorLine(pg.InfiniteLine):
    """The read-out's x, across the three plots (not a change marker)."""


class RunOverlay(QObject):
    """The overlay on ``plots`` (``{"loss": …, "acc": …, "lr": …}``); its controls row
    and read-out are widgets for the panel to place. ``changed`` is called after each
    redraw (the panel then fits its axes)."""

    def __init__(self, selection: RunSelection, plots: dict[str, pg.PlotItem],
                 changed: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.selection = selection
        self.plots = plots
        self.changed = changed
        self.items: dict[str, dict[str, pg.PlotDataItem]] = {}  # run key → curve name → item
        self.drawn: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # what the items show
        self._cache: dict[str, tuple[tuple[int, int], dict[str, dict[str, np.ndarray]]]] = {}
        self.table_html = ""  # the read-out with the runs' names (the tooltip at the pointer)

        self.controls = QWidget()
        self.controls.setObjectName("overlayControls")
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(0, 0, 0, 0)
        self.x_combo = QComboBox()
        for mode, label in (("step", "step"), ("epoch", "epoch"), ("wall", "time")):
            self.x_combo.addItem(label, mode)
        self.x_combo.setToolTip("What the selected runs' curves are drawn against")
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setMaximumWidth(110)
        self.smooth_slider.setToolTip("Smoothing of the runs' curves: TensorBoard's debiased moving average")
        self.smooth_label = QLabel()
        self.smooth_label.setMinimumWidth(self.smooth_label.fontMetrics().horizontalAdvance("0.00 "))
        self.log_box = QCheckBox("log")
        self.log_box.setToolTip("The loss on a logarithmic axis")
        self.readout = QLabel()
        self.readout.setObjectName("overlayReadout")
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        # One line beside the controls, fitted to its width; every run by name in the
        # table shown at the pointer (and as this label's tooltip).
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for widget in (QLabel("x:"), self.x_combo, QLabel("smoothing"), self.smooth_slider,
                       self.smooth_label, self.log_box):
            row.addWidget(widget)
        row.addWidget(self.readout, stretch=1)
        self.controls.setVisible(False)
        self.cursor = {name: CursorLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
                       for name in plots}
        for name, line in self.cursor.items():
            line.setVisible(False)
            plots[name].addItem(line, ignoreBounds=True)

        self.x_combo.currentIndexChanged.connect(lambda _i: self.redraw())
        self.smooth_slider.valueChanged.connect(lambda _v: self.redraw())
        self.log_box.toggled.connect(self.set_log)
        selection.selection_changed.connect(self.redraw)
        selection.filter_changed.connect(self.redraw)
        selection.runs_changed.connect(self.redraw)
        selection.hovered_changed.connect(self._on_hover)
        self._mouse = pg.SignalProxy(next(iter(plots.values())).scene().sigMouseMoved, rateLimit=30,
                                     slot=lambda args: self.hover_scene(args[0]))
        self._show_weight()

    # ---------------------------------------------------------------- state
    @property
    def x_mode(self) -> str:
        return str(self.x_combo.currentData())

    @property
    def weight(self) -> float:
        return self.smooth_slider.value() / 100.0

    def _show_weight(self) -> None:
        self.smooth_label.setText(f"{self.weight:.2f}")

    def set_log(self, on: bool) -> None:
        self.plots["loss"].setLogMode(y=on)
        self.redraw()

    def arrays(self, key: str) -> dict[str, dict[str, np.ndarray]] | None:
        run = self.selection.runs.get(key)
        if run is None:
            return None
        try:
            st = os.stat(run.dir / METRICS)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (-1, -1)
        cached = self._cache.get(key)
        if cached is None or cached[0] != stamp:
            try:
                cached = (stamp, run_arrays(read_curves(run.dir)))
            except OSError:
                cached = (stamp, run_arrays(Curves()))
            self._cache[key] = cached
        return cached[1]

    # ---------------------------------------------------------------- drawing
    def redraw(self) -> None:
        self._show_weight()
        keys = self.selection.shown_selected()
        for key in [k for k in self.items if k not in keys]:
            for name, item in self.items.pop(key).items():
                self.plots[name.removeprefix("val_")].removeItem(item)
            self.drawn.pop(key, None)
        for key in [k for k in self._cache if k not in self.selection.runs]:
            del self._cache[key]
        for key in keys:
            data = self.arrays(key)
            if data is None:
                continue
            items = self.items.setdefault(key, {})
            drawn = self.drawn.setdefault(key, {})
            for name, table, field in CURVES:
                t = data[table]
                x, y = t[self.x_mode], t[field]
                ok = np.isfinite(x)
                if name == "lr":
                    ok &= y > 0
                x, y = x[ok], y[ok]
                if name != "lr" and self.weight > 0:
                    y = ema_smooth(y, self.weight)
                item = items.get(name)
                if item is None:
                    item = items[name] = self.plots[name.removeprefix("val_")].plot([], [])
                    item.setZValue(-1)  # under the live run's curves
                item.setData(x, y)
                drawn[name] = (x, y)
        self._style()
        # The controls only while they matter: a short window keeps its room for the plots.
        self.controls.setVisible(bool(keys) or self.x_mode != "step" or self.log_box.isChecked())
        self.readout.setText(HINT)  # values of other curves or units: read again under the pointer
        for line in self.cursor.values():
            line.setVisible(False)
        self.changed()

    def _style(self) -> None:
        hovered = self.selection.hovered
        for key, items in self.items.items():
            color = self.selection.color(key) or "#777"
            width = HOVER_WIDTH if key == hovered else WIDTH
            for name, item in items.items():
                item.setPen(pg.mkPen(color, width=width + (0.6 if name.startswith("val") else 0)))
                if name.startswith("val"):
                    item.setSymbol("o")
                    item.setSymbolSize(6 if key != hovered else 9)
                    item.setSymbolBrush(color)
                    item.setSymbolPen(None)
                theme.adopt(item, renewed=True)  # its new light colours, as the theme draws them
                item.setZValue(1 if key == hovered else -1)

    def _on_hover(self, _key: str) -> None:
        self._style()

    def bounds(self) -> dict[str, tuple[float, float]]:
        """The drawn data's extent per plot (x; loss, lr: y), to fit the axes."""
        out: dict[str, list[float]] = {"x": [], "loss": [], "lr": []}
        for drawn in self.drawn.values():
            for name, (x, y) in drawn.items():
                if x.size:
                    out["x"] += [float(np.nanmin(x)), float(np.nanmax(x))]
                plot = name.removeprefix("val_")
                finite = y[np.isfinite(y) & (y > 0)] if plot in ("loss", "lr") else y[:0]
                if finite.size and plot in out:
                    out[plot] += [float(finite.min()), float(finite.max())]
        return {k: (min(v), max(v)) for k, v in out.items() if v}

    # ---------------------------------------------------------------- read-out
    def hover_scene(self, pos: QPointF) -> None:
        for name, plot in self.plots.items():
            if plot.sceneBoundingRect().contains(pos):
                self.show_values_at(plot.vb.mapSceneToView(pos).x(), name)
                if self.table_html:  # every run by name, beside the pointer (TensorBoard's table)
                    QToolTip.showText(QCursor.pos(), self.table_html)
                return

    def _fit(self, plot: str, parts: list[str]) -> str:
        """As many runs' values as fit the read-out's one line (then how many more)."""
        fm, room = self.readout.fontMetrics(), max(self.readout.width(), 80)
        plain = lambda t: re.sub(r"<[^>]+>", "", t).replace("&nbsp;", " ")  # noqa: E731
        text = f"{plot}: " + parts[0]
        for i, part in enumerate(parts[1:], start=1):
            left = len(parts) - i - 1  # runs after this one
            if fm.horizontalAdvance(plain(f"{text}  {part}" + (f"  +{left}" if left else ""))) > room:
                return f"{text} &nbsp;+{left + 1}"
            text += " &nbsp;" + part
        return text

    def show_values_at(self, x: float, plot: str) -> str:
        """Every overlaid curve of ``plot`` at x (the nearest point of each); returns the text."""
        if not self.drawn:
            return ""
        for line in self.cursor.values():
            line.setPos(x)
            line.setVisible(True)
        parts = [f"<b>{html.escape(X_MODES[self.x_mode].removesuffix(' (s)'))} {x:,.4g}</b>"]
        rows = [f"<tr><th align=left>{html.escape(X_MODES[self.x_mode])} {x:,.4g}</th><th>{plot}</th>"
                f"<th>val.</th></tr>"]
        for key, drawn in self.drawn.items():
            run = self.selection.runs.get(key)
            if run is None:
                continue
            values = []
            for name in (plot, f"val_{plot}"):
                if name in drawn and drawn[name][0].size:
                    xs, ys = drawn[name]
                    i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1)) if len(xs) > 1 else 0
                    if len(xs) > 1 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
                        i -= 1
                    values.append(f"{ys[i]:.4g}")
            if values:
                color = self.selection.color(key) or "#777"
                dot = f'<span style="color:{theme.plot_color(color).name()}">●</span>'
                # The line: a dot and "train / val" per run; the tooltip: with the names.
                parts.append(f"{dot}&nbsp;" + "&nbsp;/&nbsp;".join(values))
                rows.append(f"<tr><td>{dot} {html.escape(run.name)}</td>"
                            + "".join(f"<td align=right>&nbsp;{v}</td>" for v in values) + "</tr>")
        text = self._fit(plot, parts)
        self.table_html = f"<table>{rows[0]}{''.join(rows[1:])}</table>" if len(rows) > 1 else ""
        self.readout.setToolTip(self.table_html)
        self.readout.setText(text)
        return text
