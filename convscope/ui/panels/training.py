"""Training panel: live loss, accuracy and learning-rate curves with change markers,
and the curves of the runs selected in the Runs panel over them (:mod:`.run_overlay`).

Events only append to NumPy buffers; a 10 Hz timer pushes the buffers to plot items
that were created once (``setData``), so a fast loop never floods the GUI thread. A
frame costs the GUI thread ~10–30 ms (the axes and the scene's repaint), and the loop
reports up to five times a second: while training, the curves are drawn at most every
``TRAINING_FRAME_S``; a panel out of sight (a tab behind another, a minimised window)
draws nothing and catches up when it is shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from convscope import events as ev
from convscope.config import TrainConfig
from convscope.ui import theme
from convscope.ui.panels.legend_row import legend_row, set_legend
from convscope.ui.panels.run_overlay import X_MODES, RunOverlay, log_ticks
from convscope.ui.run_selection import selection_for
from convscope.ui.session import Session, change_pairs
from convscope.ui.visibility import on_screen
from convscope.viz.value_text import SHORT_NAMES, describe_change, format_value  # noqa: F401 (re-exported)

TRAIN_COLOR = "#1f77b4"  # blue and orange stay distinct for colour-blind viewers
VAL_COLOR = "#e6550d"
LR_COLOR = "#2ca02c"
MARKER_COLOR = "#7b3294"
LEGEND = [(TRAIN_COLOR, "line", "train"), (VAL_COLOR, "line+dot", "validation"), (LR_COLOR, "line", "lr"),
          (MARKER_COLOR, "dashed", "change")]
RUNS_LEGEND = [("#777", "line+dot", "selected runs")]
REDRAW_MS = 100
TRAINING_FRAME_S = 0.5  # while training: two frames a second are live enough for a curve
TRACK_PX = 22  # the change labels' strip
LEFT_AXIS_PX = 64  # all three plots: their data areas start at the same pixel
MERGE_MARKERS_S = 1.5  # changes this close together (one slider drag) share a marker

def nice_ceil(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7.5 × 10^k that is ≥ value (axis limits)."""
    if not value > 0:
        return 1.0
    exponent = 10.0 ** np.floor(np.log10(value))
    for mantissa in (1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0):
        if mantissa * exponent >= value * (1 - 1e-12):
            return float(mantissa * exponent)
    return float(10 * exponent)


def lr_decades(lo: float, hi: float) -> tuple[float, float]:
    """The learning-rate axis' range in log₁₀ units: the whole decades around the
    rates, at least two, so that a constant rate is a readable line between labels."""
    bottom = float(np.floor(np.log10(lo) + 1e-9))
    top = float(np.ceil(np.log10(hi) - 1e-9))
    while top - bottom < 2:
        bottom, top = (bottom - 1, top) if np.log10(lo) - bottom < top - np.log10(hi) else (bottom, top + 1)
    return bottom, top


class CurveBuffer:
    """Append-only (x, y) arrays that grow by doubling; views are handed to setData."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == len(self._x):
            self._x = np.resize(self._x, 2 * self.size)
            self._y = np.resize(self._y, 2 * self.size)
        self._x[self.size], self._y[self.size] = x, y
        self.size += 1

    def clear(self) -> None:
        self.size = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.size]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.size]


@dataclass
class _Marker:
    step: int
    old: dict[str, Any]
    new: dict[str, Any]
    created: float
    lines: list[pg.InfiniteLine] = field(default_factory=list)
    label: pg.TextItem | None = None  # on the change track above the plots

    @property
    def text(self) -> str:
        return ", ".join(describe_change(k, self.old[k], self.new[k]) for k in self.new)


class TrainingPanel(QWidget):
    """Train/val loss, train/val accuracy and the learning rate against the step."""

    title = "Training"
    area = "right"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._config: TrainConfig = session.config
        self.markers: list[_Marker] = []
        self.buffers = {name: CurveBuffer() for name in ("loss", "acc", "val_loss", "val_acc", "lr")}
        # step → epoch and step → wall clock of the live run, to draw it against either
        self.clocks = {"epoch": CurveBuffer(), "wall": CurveBuffer()}
        self._dirty = False
        self._last_frame = -1e9  # monotonic time of the last redraw that drew

        self.summary = QLabel("Press Train (or Space) to start.")
        self.summary.setObjectName("trainingSummary")
        self.summary.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.summary.setWordWrap(True)  # two lines in a narrow dock, never a wider window
        self.graphics = pg.GraphicsLayoutWidget()
        # The legend is a row above the plots, where no curve can go; the three plots
        # share one column and one x axis, so a step is at the same pixel in each.
        self.legend = legend_row(self.graphics.ci, row=0, size="10pt")
        set_legend(self.legend, LEGEND)
        self.change_track = self._make_track(row=1)
        self.loss_plot = self._make_plot("loss", row=2)
        self.acc_plot = self._make_plot("acc. %", row=3)
        self.lr_plot = self._make_plot("lr", row=4)
        self.lr_plot.setLogMode(y=True)
        # The end decades' labels stick out of a short axis by half a line; drawn anyway.
        # pyqtgraph drops the third label once labels fill 60% of the axis: a short
        # plot then named one decade only. Decades are few, so allow 85%.
        self.lr_plot.getAxis("left").setStyle(hideOverlappingLabels=False, textFillLimits=[(0, 0.85)])
        for plot in (self.loss_plot, self.acc_plot):
            plot.getAxis("bottom").setStyle(showValues=False)  # the step axis is read below the rate
        self.lr_plot.setLabel("bottom", "step", **{"font-size": "11pt"})
        for row, stretch in ((2, 3), (3, 3), (4, 2)):
            self.graphics.ci.layout.setRowStretchFactor(row, stretch)
        # Same width and same left axis width: linked x ranges then mean the same pixels.
        for plot in (self.change_track, self.acc_plot, self.lr_plot):
            plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self._ranges: dict[str, tuple[float, float]] = {}
        self._set_lr_range(session.config.learning_rate, session.config.learning_rate)

        self.curves = {
            "loss": self._curve(self.loss_plot, TRAIN_COLOR),
            "val_loss": self._curve(self.loss_plot, VAL_COLOR, symbol=True),
            "acc": self._curve(self.acc_plot, TRAIN_COLOR),
            "val_acc": self._curve(self.acc_plot, VAL_COLOR, symbol=True),
            "lr": self._curve(self.lr_plot, LR_COLOR),
        }

        self.overlay = RunOverlay(selection_for(session), {"loss": self.loss_plot, "acc": self.acc_plot,
                                  "lr": self.lr_plot}, changed=self._on_overlay, parent=self)
        self.overlay.x_combo.currentIndexChanged.connect(lambda _i: self.lr_plot.setLabel(
            "bottom", X_MODES[self.overlay.x_mode], **{"font-size": "11pt"}))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.overlay.controls)  # under the x axis it sets

        bridge = session.bridge
        bridge.started.connect(self._on_started)
        bridge.stepped.connect(self._on_step)
        bridge.evaluated.connect(self._on_eval)
        bridge.hyperparams_changed.connect(self._on_hyperparams_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._on_timer)
        self._timer.start()

    # ----------------------------------------------------------------- building
    def _make_plot(self, y_label: str, row: int) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=0)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        tick_font = QFont()
        tick_font.setPointSize(11)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            # The grid makes an axis cover the plot, so every new point repainted its
            # tick text; a cached pixmap is redrawn only when the axis itself changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            axis.setTickFont(tick_font)
            axis.setPen(pg.mkPen("#444"))
            axis.setTextPen(pg.mkPen("#222"))
            theme.adopt(axis)
            # "(x0.001)" after the label reads as a unit of the loss: plain numbers only.
            axis.enableAutoSIPrefix(False)
        plot.getAxis("left").setWidth(LEFT_AXIS_PX)
        plot.setLabel("left", y_label, **{"font-size": "11pt"})
        plot.setMenuEnabled(False)
        plot.disableAutoRange()
        plot.hideButtons()
        plot.setXRange(0, 100, padding=0)
        return plot

    def _make_track(self, row: int) -> pg.PlotItem:
        """The change markers' labels: a one-line strip, x linked to the plots."""
        track = self.graphics.addPlot(row=row, col=0)
        track.hideAxis("bottom")
        left = track.getAxis("left")
        left.setWidth(LEFT_AXIS_PX)
        left.setStyle(showValues=False, tickLength=0)
        left.setPen(pg.mkPen(None))
        track.setMenuEnabled(False)
        track.setMouseEnabled(False, False)
        track.hideButtons()
        track.setYRange(0, 1, padding=0)
        track.setFixedHeight(TRACK_PX)
        return track

    @staticmethod
    def _curve(plot: pg.PlotItem, color: str, symbol: bool = False) -> pg.PlotDataItem:
        kwargs: dict[str, Any] = {"pen": pg.mkPen(color, width=2.5)}
        if symbol:
            kwargs.update(symbol="o", symbolSize=7, symbolBrush=color, symbolPen=None)
        return plot.plot([], [], **kwargs)

    # ----------------------------------------------------------------- events
    def _on_started(self, event: ev.Started) -> None:
        self._config = event.config
        for buf in (*self.buffers.values(), *self.clocks.values()):
            buf.clear()
        for marker in self.markers:
            for plot, line in zip((self.loss_plot, self.acc_plot, self.lr_plot), marker.lines, strict=True):
                plot.removeItem(line)
            if marker.label is not None:
                self.change_track.removeItem(marker.label)
        self.markers.clear()
        self._ranges.clear()
        self._set_lr_range(event.config.learning_rate, event.config.learning_rate)
        self.summary.setText(
            f"New model: {len(event.arch.convs)} conv blocks · {event.num_params:,} parameters"
            " — press Train (or Space)"
        )
        self._dirty = True

    def _on_step(self, m: ev.StepMetrics) -> None:
        self.clocks["epoch"].append(m.step, m.epoch)
        self.clocks["wall"].append(m.step, time.time())
        self.buffers["loss"].append(m.step, m.loss)
        self.buffers["acc"].append(m.step, 100.0 * m.acc)
        if m.lr > 0:
            self.buffers["lr"].append(m.step, m.lr)
        self._dirty = True

    def _on_eval(self, m: ev.EvalMetrics) -> None:
        self.buffers["val_loss"].append(m.step, m.val_loss)
        self.buffers["val_acc"].append(m.step, 100.0 * m.val_acc)
        self._dirty = True

    def _on_hyperparams_changed(self, event: ev.HyperParamsChanged) -> None:
        pairs = {k: (a, b) for k, (a, b) in change_pairs(event, self._config).items() if a != b}
        self._config = event.config
        if not pairs:
            return
        changes = {k: b for k, (_a, b) in pairs.items()}
        if "learning_rate" in pairs:
            self._step_lr(event.step, *pairs["learning_rate"])
        now = time.monotonic()
        last = self.markers[-1] if self.markers else None
        dragging = last is not None and set(last.new) == set(changes) and now - last.created < MERGE_MARKERS_S
        if last is not None and (dragging or last.step == event.step):
            # One slider drag, or other settings changed at the same step (say, while paused):
            # one marker naming them all, from the first old values to the newest.
            for k, (a, b) in pairs.items():
                last.old.setdefault(k, a)
                last.new[k] = b
            last.created = now
            self._label_marker(last)
        else:
            old = {k: a for k, (a, _b) in pairs.items()}
            marker = _Marker(event.step, old, dict(changes), now)
            pen = pg.mkPen(MARKER_COLOR, width=2, style=Qt.PenStyle.DashLine)
            for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
                line = pg.InfiniteLine(pos=event.step, angle=90, pen=pen, movable=False)
                plot.addItem(line, ignoreBounds=True)
                marker.lines.append(theme.adopt(line))
            # The label goes on the change track, a strip of its own above the plots:
            # inside a plot it crossed its own line, the curves or the legend.
            marker.label = pg.TextItem("", color=MARKER_COLOR, anchor=(0, 0.5))
            font = QFont()
            font.setPointSize(10)
            marker.label.setFont(font)
            marker.label.setPos(event.step, 0.5)
            theme.adopt(marker.label)
            self.change_track.addItem(marker.label, ignoreBounds=True)
            self.markers.append(marker)
            self._label_marker(marker)
        self._dirty = True

    def _step_lr(self, step: int, old: Any, new: Any) -> None:
        """A change of rate drawn as a step: the old and the new rate at its step."""
        buf = self.buffers["lr"]
        if buf.size and buf.x[-1] > step:
            return  # metrics already past it (not expected): a slope, not a wrong step
        for value in (old, new):
            if float(value) > 0:
                buf.append(step, float(value))

    def _label_marker(self, marker: _Marker) -> None:
        text = marker.text
        for line in marker.lines:
            line.setToolTip(f"step {marker.step}: {text}")
        if marker.label is not None:
            marker.label.setText(f"▏{text}")  # the bar marks the step, the text runs right

    # ----------------------------------------------------------------- drawing
    def _on_timer(self) -> None:
        """The 10 Hz timer: draw what came in, if anyone can see it, and while training
        no more often than every ``TRAINING_FRAME_S``."""
        if not self._dirty or not on_screen(self):
            return  # showEvent draws what accumulated
        if self.session.is_training and time.monotonic() - self._last_frame < TRAINING_FRAME_S:
            return
        self.redraw()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.redraw()  # what came in while the panel was out of sight

    def redraw(self) -> None:
        """Push the buffers to the plot items (the timer calls it; see ``_on_timer``)."""
        if not self._dirty:
            return
        self._dirty = False
        self._last_frame = time.monotonic()
        for name, curve in self.curves.items():
            buf = self.buffers[name]
            curve.setData(self.live_x(buf.x), buf.y)
        for marker in self.markers:
            x = float(self.live_x(np.array([float(marker.step)]))[0])
            for line in marker.lines:
                line.setPos(x)
            if marker.label is not None:
                marker.label.setPos(x, 0.5)
        self._update_ranges()
        self._update_summary()

    def live_x(self, steps: np.ndarray) -> np.ndarray:
        """The live run's steps in the overlay's x units (step, epoch or seconds)."""
        mode = self.overlay.x_mode
        clock = self.clocks.get(mode)
        if clock is None or not clock.size:
            return steps
        x = np.interp(steps, clock.x, clock.y)
        return x - clock.y[0] if mode == "wall" else x

    def _on_overlay(self) -> None:
        set_legend(self.legend, LEGEND + (RUNS_LEGEND if self.overlay.items else []))
        self._ranges.clear()  # other data, other units: every range is fitted again
        self._dirty = True
        self.redraw()

    def _update_ranges(self) -> None:
        """Axis ranges that move in readable jumps, not on every frame.

        Repainting the axes (their tick text) is most of a frame's cost, and autorange
        would change them each time a step is added; a range set only when the data
        outgrows it keeps frames cheap, and leaves a user's zoom alone until then.
        """
        loss, val_loss, lr = self.buffers["loss"], self.buffers["val_loss"], self.buffers["lr"]
        runs = self.overlay.bounds()
        targets: dict[str, tuple[float, float]] = {}
        last = max([float(self.live_x(b.x[-1:])[0]) for b in (loss, val_loss) if b.size]
                   + [runs.get("x", (0.0, 0.0))[1]])
        if last > 0:
            targets["x"] = (0.0, nice_ceil(1.05 * last))
        ys = np.concatenate([b.y for b in (loss, val_loss)] + [np.array(runs.get("loss", ()))])
        ys = ys[np.isfinite(ys)]
        if self.overlay.log_box.isChecked():
            ys = ys[ys > 0]
            if ys.size:  # whole decades, in the log axis' units
                targets["loss"] = (float(np.floor(np.log10(ys.min()))), float(np.ceil(np.log10(ys.max()) + 1e-9)))
        elif ys.size:
            targets["loss"] = (0.0, nice_ceil(float(ys.max())))
        rates = np.concatenate([lr.y, np.array(runs.get("lr", ()))])
        if rates.size:
            targets["lr"] = lr_decades(float(rates.min()), float(rates.max()))
        for key, target in targets.items():
            if self._ranges.get(key) == target:
                continue
            self._ranges[key] = target
            if key == "x":
                self.loss_plot.setXRange(*target, padding=0)  # the accuracy plot is linked
                self.lr_plot.setXRange(*target, padding=0)
            elif key == "loss":
                self.loss_plot.setYRange(*target, padding=0.02)
                log = self.overlay.log_box.isChecked()  # pyqtgraph's minor labels pile up on a short plot
                self.loss_plot.getAxis("left").setTicks(log_ticks(*target) if log else None)
            else:
                self._show_lr_decades(target)

    def _set_lr_range(self, lo: float, hi: float) -> None:
        if lo > 0 and hi > 0:
            target = lr_decades(lo, hi)
            self._ranges["lr"] = target
            self._show_lr_decades(target)

    def _show_lr_decades(self, target: tuple[float, float]) -> None:
        self.lr_plot.setYRange(*target, padding=0.25)  # the end decades labelled inside the axis
        decades = range(int(target[0]), int(target[1]) + 1)
        # Decades only, every other one when there are many: pyqtgraph's own log ticks
        # (and more than ~4 labels) pile up on a plot this short.
        every = 1 if len(decades) <= 4 else 2
        self.lr_plot.getAxis("left").setTicks([[(e, f"1e{e}") for e in decades if e % every == 0], []])

    def _update_summary(self) -> None:
        parts = []
        if self.buffers["loss"].size:
            parts.append(
                f"train loss {self.buffers['loss'].y[-1]:.3f} · acc {self.buffers['acc'].y[-1]:.1f}%"
            )
        if self.buffers["val_loss"].size:
            parts.append(
                f"validation loss {self.buffers['val_loss'].y[-1]:.3f} · acc {self.buffers['val_acc'].y[-1]:.1f}%"
            )
        if parts:  # a narrow dock wraps between the two, never inside one ("acc" | "96.6%")
            self.summary.setText("     ".join(part.replace(" ", "\u00a0") for part in parts))
