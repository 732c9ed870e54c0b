"""Activations panel: the activation function and its derivative, with the chosen
layer's pre-activation histogram for this image and for a validation batch drawn over
them (right axis), so the dead zone and saturation are seen; below, the fraction of
dead (ReLU family) or saturated (tanh, sigmoid) units of every layer over training.

Definitions are those of ``convscope.probes.activations`` (stated under the plots).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from convscope.probes.batch_stats import HIST_BINS, BatchStats, value_range
from convscope.ui import theme
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.legend_row import legend_row, set_legend
from convscope.ui.panels.mapview import (
    ExportButton,
    ThrottledRedraw,
    export_scene,
    graphics_widget,
    heading,
    layer_picker,
    style_axis,
)
from convscope.ui.session import Session

REDRAW_MS = 100
F_COLOR = "#1f77b4"
DF_COLOR = "#2ca02c"
BATCH_COLOR = (120, 120, 120)
IMAGE_COLOR = (230, 85, 13)
ZONE_BRUSH = (200, 200, 200, 60)
# Distinct, colour-blind-friendly colours for the layers' curves over time.
LAYER_COLORS = ["#1f77b4", "#e6550d", "#2ca02c", "#7b3294", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
SATURATING = ("tanh", "sigmoid")
ACT_LABELS = {
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "elu": "ELU",
    "gelu": "GELU",
}


def _plot(widget: pg.GraphicsLayoutWidget, row: int, title: str) -> pg.PlotItem:
    plot = widget.addPlot(row=row, col=0, enableMenu=False)
    plot.setTitle(title, size="12pt")
    plot.setMenuEnabled(False)
    plot.vb.border = None  # draws nothing on screen, but a black frame in SVG exports
    plot.hideButtons()
    plot.setMouseEnabled(False, False)
    plot.showGrid(x=True, y=True, alpha=0.2)
    for name in ("left", "bottom"):
        style_axis(plot.getAxis(name))
    return plot


class ActivationsPanel(ThrottledRedraw, QWidget):
    title = "Activations"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.layer = ""  # activation tap, e.g. "act1"
        self.pre = ""  # its pre-activation tap, e.g. "conv1"
        self.image_percent: np.ndarray | None = None
        self._pairs: list[tuple[str, str]] = []
        self._activation = ""
        self._threshold = 0.0
        self._dirty_curves = False
        self._dirty_time = False

        self.heading = heading("Activations: waiting for the model…")
        self.picker = layer_picker("The layer whose pre-activations are shown over the curves", 12, self._on_pick)
        self.export_button = ExportButton(self.export, "activations.png")

        self.graphics = graphics_widget()
        self.graphics.setMinimumHeight(280)  # two readable plots; a shorter dock scrolls
        # Legends are rows above their plots: over the view box they covered the data.
        self.curve_legend = legend_row(self.graphics.ci, row=0)
        set_legend(
            self.curve_legend,
            [
                (F_COLOR, "line", "f(x)"),
                (DF_COLOR, "dashed", "f′(x)"),
                (pg.mkColor(BATCH_COLOR).name(), "bar", "validation batch"),
                (pg.mkColor(IMAGE_COLOR).name(), "line", "this image"),
            ],
        )
        self.curve_plot = _plot(self.graphics, 1, "Activation and derivative")
        self.curve_plot.setLabel("bottom", "pre-activation x", **{"font-size": "11pt"})
        self.curve_plot.setLabel("left", "f(x), f′(x)", **{"font-size": "11pt"})
        self.zones = [
            pg.LinearRegionItem((0, 0), movable=False, brush=ZONE_BRUSH, pen=pg.mkPen(None)) for _ in range(2)
        ]
        for zone in self.zones:
            zone.setZValue(-20)
            zone.setVisible(False)
            self.curve_plot.addItem(zone, ignoreBounds=True)
        self.zone_text = pg.TextItem("", color="#444", anchor=(0.5, 0))
        self.zone_text.setZValue(-5)
        self.curve_plot.addItem(self.zone_text, ignoreBounds=True)
        self.peak_text = pg.TextItem("", color="#a33c00", anchor=(1, 0))
        self.curve_plot.addItem(self.peak_text, ignoreBounds=True)
        self.f_curve = self.curve_plot.plot([], [], pen=pg.mkPen(F_COLOR, width=3), name="f(x)")
        self.df_curve = self.curve_plot.plot(
            [], [], pen=pg.mkPen(DF_COLOR, width=2.5, style=Qt.PenStyle.DashLine), name="f′(x)"
        )
        # Histograms on a second y axis (% of values per bin), sharing x with the curves.
        self.hist_view = pg.ViewBox(enableMenu=False)
        self.hist_view.setMouseEnabled(False, False)
        self.hist_view.setMenuEnabled(False)
        self.curve_plot.showAxis("right")
        self.curve_plot.scene().addItem(self.hist_view)
        right = self.curve_plot.getAxis("right")
        right.linkToView(self.hist_view)
        right.setLabel("% of values per bin", **{"font-size": "11pt"})
        right.enableAutoSIPrefix(False)
        style_axis(right)
        self.hist_view.setXLink(self.curve_plot)
        self.hist_view.setZValue(-10)
        self.curve_plot.vb.sigResized.connect(self._sync_views)
        # The batch filled grey, the image as an outline over it: both stay visible.
        self.batch_hist = pg.PlotDataItem(
            [0, 1], [0], stepMode="center", fillLevel=0, brush=(*BATCH_COLOR, 110), pen=pg.mkPen(BATCH_COLOR)
        )
        self.image_hist = pg.PlotDataItem(
            [0, 1], [0], stepMode="center", pen=pg.mkPen(IMAGE_COLOR, width=2.5)
        )
        self.hist_view.addItem(self.batch_hist)
        self.hist_view.addItem(self.image_hist)

        self.time_legend = legend_row(self.graphics.ci, row=2)
        self.time_plot = _plot(self.graphics, 3, "Dead units over training")
        self.time_plot.setLabel("bottom", "step", **{"font-size": "11pt"})
        self.time_plot.setLabel("left", "% of units", **{"font-size": "11pt"})
        self.time_plot.setYRange(0, 100, padding=0.04)
        self.time_plot.getAxis("left").setTicks([[(v, str(v)) for v in (0, 25, 50, 75, 100)], []])
        self.time_curves: dict[str, pg.PlotDataItem] = {}
        self.graphics.ci.layout.setRowStretchFactor(1, 3)
        self.graphics.ci.layout.setRowStretchFactor(3, 2)

        self.current = QLabel()
        self.current.setObjectName("panelHeading")
        self.current.setWordWrap(True)
        # Room for two wrapped lines: a box layout gives a wrapped label only its
        # one-line minimum when the dock is short, and the second line then lay on the plot.
        for label in (self.heading, self.current):
            label.setMinimumHeight(2 * label.fontMetrics().lineSpacing() + 6)
        # Under the plots, the definition's three lines left the plots no height on a
        # 1280×720 screen: it is the tooltip of the numbers it defines.
        self.definition = ""

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.picker)
        top.addWidget(self.heading, stretch=1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.current)

        c = self.controller
        c.inspected.connect(self._on_inspected)
        c.stats_updated.connect(self._on_stats)
        c.watch_stats(self)  # out of sight, the statistics come every 10 s, not every 2 s
        c.session.arch_changed.connect(lambda _a: self._clear_time())
        self.start_redraw_timer(REDRAW_MS)
        if c.inspection is not None:
            self._on_inspected(c.inspection)
        if c.stats is not None:
            self._on_stats(c.stats)

    # ----------------------------------------------------------------- data
    def _sync_views(self) -> None:
        self.hist_view.setGeometry(self.curve_plot.vb.sceneBoundingRect())
        self.hist_view.linkedViewChanged(self.curve_plot.vb, self.hist_view.XAxis)

    def _set_arch(self, arch: Any) -> None:
        from convscope.probes.activations import activation_layers

        pairs = activation_layers(arch)
        if pairs != self._pairs:
            self._pairs = pairs
            with QSignalBlocker(self.picker):
                self.picker.clear()
                for pre, act in pairs:
                    self.picker.addItem(f"{pre} → {act}", act)
                acts = [a for _p, a in pairs]
                if self.layer not in acts:
                    self.layer = acts[0] if acts else ""
                if self.layer:
                    self.picker.setCurrentIndex(acts.index(self.layer))
            self.pre = dict((a, p) for p, a in pairs).get(self.layer, "")
        if arch.activation != self._activation:
            self._activation = arch.activation
            self._set_zones(arch.activation)

    def _on_inspected(self, _inspection: object) -> None:
        snap = self.controller.snapshot
        if snap is not None:
            self._set_arch(snap.arch)
        self._dirty_curves = True
        self.request_redraw()

    def _on_stats(self, stats: BatchStats) -> None:
        self._set_arch(stats.arch)
        self._dirty_curves = self._dirty_time = True
        self.request_redraw()

    def _on_pick(self, index: int) -> None:
        act = self.picker.itemData(index)
        if act and act != self.layer:
            self.layer = act
            self.pre = dict((a, p) for p, a in self._pairs).get(act, "")
            self._dirty_curves = True
            self.redraw()

    def select_layer(self, act: str) -> None:
        self.picker.setCurrentIndex([a for _p, a in self._pairs].index(act))

    def _clear_time(self) -> None:
        for curve in self.time_curves.values():
            self.time_plot.removeItem(curve)
        self.time_curves.clear()
        set_legend(self.time_legend, [])
        self._dirty_time = True

    def _set_zones(self, activation: str) -> None:
        from convscope.probes.activations import saturation_threshold

        self._threshold = saturation_threshold(activation) if activation in SATURATING else 0.0
        if activation in SATURATING:
            self.zone_text.setText(f"saturated beyond ±{self._threshold:.2f}")
        else:
            flat = "f′ = 0" if activation == "relu" else "f′ small"
            self.zone_text.setText(f"x < 0: {flat}")

    def _place_zones(self, lo: float, hi: float) -> None:
        """Grey where units are flat (x < 0) or saturated (|x| > t), within the x range
        (finite regions: an SVG renderer refuses shapes a million units wide)."""
        if self._activation in SATURATING:
            t = self._threshold
            regions = [(lo, min(-t, hi)), (max(t, lo), hi)]
        else:
            regions = [(lo, min(0.0, hi)), (hi, hi)]
        for zone, (a, b) in zip(self.zones, regions, strict=True):
            zone.setRegion((a, b))
            zone.setVisible(b > a)

    # ----------------------------------------------------------------- drawing
    def redraw(self) -> None:
        if self._dirty_curves:
            self._draw_curves()
        if self._dirty_time:
            self._draw_time()

    def _draw_curves(self) -> None:
        from convscope.probes.activations import activation_curve, histogram

        c = self.controller
        stats = c.stats
        layer_stats = stats.layers.get(self.layer) if stats is not None else None
        inspection = c.inspection
        have_image = inspection is not None and self.pre in inspection.taps
        if layer_stats is None and not have_image:
            return
        self._dirty_curves = False
        name = ACT_LABELS.get(self._activation, self._activation)
        peaks: list[float] = []
        if layer_stats is not None:
            lo, hi = float(layer_stats.edges[0]), float(layer_stats.edges[-1])
            x, f, df = layer_stats.x, layer_stats.f, layer_stats.df
            self.batch_hist.setData(layer_stats.edges, layer_stats.percent)
            peaks.append(layer_stats.percent)
        else:
            lo, hi = value_range(inspection.taps[self.pre])
            x = np.linspace(lo, hi, 301, dtype=np.float32)
            f, df = activation_curve(self._activation, x)
        self.f_curve.setData(x, f)
        self.df_curve.setData(x, df)
        if have_image:
            values = np.asarray(inspection.taps[self.pre])
            counts, edges = histogram(values, bins=HIST_BINS, range_=(lo, hi))
            percent = 100.0 * counts / max(values.size, 1)
            self.image_percent = percent
            self.image_hist.setData(edges, percent)
            peaks.append(percent)
        self.curve_plot.setXRange(lo, hi, padding=0.01)
        self._place_zones(lo, hi)
        ys = np.concatenate([f, df, [0.0, 1.0]])
        ymin, ymax = float(np.nanmin(ys)), float(np.nanmax(ys))
        self.curve_plot.setYRange(ymin, ymax, padding=0.05)
        top, note = self._hist_top(peaks, lo, hi)
        self.hist_view.setYRange(0, top, padding=0)
        self.peak_text.setText(note)
        self.peak_text.setPos(hi, ymax)
        if self._activation in SATURATING:
            self.zone_text.setPos((lo + hi) / 2, ymax)
        else:  # inside the grey zone
            self.zone_text.setPos(lo / 2, ymin + 0.45 * (ymax - ymin))
        title = f"{name} f(x), f′(x) and {self.pre}'s pre-activations (bars)"
        if title != self.curve_plot.titleLabel.text:
            self.curve_plot.setTitle(title, size="12pt")
        batch = f"{stats.images} validation images" if stats is not None else "validation batch (pending)"
        self.heading.setText(f"this image and {batch}")  # the layer is in the picker beside it

    @staticmethod
    def _hist_top(histograms: list[np.ndarray], lo: float, hi: float) -> tuple[float, str]:
        """The histogram axis' top, and a note when a lone spike (often the zeros of an
        image's background) is clipped so the rest of the distribution stays visible."""
        if not histograms:
            return 1.0, ""
        highest = max(float(h.max(initial=0.0)) for h in histograms)
        seconds = [float(np.sort(h)[-2]) for h in histograms if h.size > 1]
        second = max(seconds, default=highest)
        if highest > 3.0 * second > 0:
            h = max(histograms, key=lambda a: float(a.max(initial=0.0)))
            at = lo + (int(np.argmax(h)) + 0.5) * (hi - lo) / h.size
            return 3.0 * second * 1.1, f"peak clipped: {highest:.0f}% of values at x ≈ {at:.2g}"
        return max(highest, 1e-6) * 1.1, ""

    def _draw_time(self) -> None:
        c = self.controller
        stats = c.stats
        self._dirty_time = False
        saturating = self._activation in SATURATING
        which = "saturated" if saturating else "dead"
        title = f"{which.capitalize()} units over training (% of each layer)"
        if title != self.time_plot.titleLabel.text:
            self.time_plot.setTitle(title, size="12pt")
        parts = []
        entries: list[tuple[str, str, str]] = []
        for i, (act, hist) in enumerate(c.history.items()):
            buf = hist.saturated if saturating else hist.dead
            curve = self.time_curves.get(act)
            if curve is None:
                color = LAYER_COLORS[i % len(LAYER_COLORS)]
                curve = self.time_plot.plot(
                    [],
                    [],
                    pen=pg.mkPen(color, width=2.5),
                    symbol="o",
                    symbolSize=5,
                    symbolBrush=color,
                    symbolPen=None,
                    name=act,
                )
                self.time_curves[act] = theme.adopt(curve)
            curve.setData(buf.x, buf.y)
            entries.append((LAYER_COLORS[i % len(LAYER_COLORS)], "line+dot", act))
            layer = stats.layers.get(act) if stats is not None else None
            if layer is not None:  # the snapshot shown (perhaps the timeline's), not the history's last
                parts.append(f"{act}: {100.0 * (layer.saturated if saturating else layer.dead):.1f}% {which}")
        set_legend(self.time_legend, entries)
        if stats is not None and parts:
            self.current.setText(" · ".join(parts) + f"  (step {stats.step:,}, {stats.images} images)")
            last = max((h.dead.x[-1] for h in c.history.values() if h.dead.size), default=0.0)
            self.time_plot.setXRange(0, max(10.0, last * 1.05), padding=0)
        if saturating:
            self.definition = (
                "Saturated unit: its derivative is below 5% of the peak on more than 99% of its inputs "
                "(all validation images and positions)."
            )
        else:
            self.definition = (
                "Dead unit: a channel or neuron whose pre-activation is never positive on any "
                "validation image at any position, so its output and gradient stay at (or near) zero."
            )
        self.current.setToolTip(self.definition)
        self.time_plot.setToolTip(self.definition)

    def export(self, path: str) -> None:
        export_scene(self.graphics, path)
