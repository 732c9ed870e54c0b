"""Invariance panel: Zeiler & Fergus's invariance curves for the image being inspected.

The image (as the Image panel's move controls leave it) is shifted, scaled or rotated
through a sweep (``probes/invariance.py``: one jitted batch per sweep, on a worker
thread); the panel plots, per layer, the distance of the moved image's features from
the original's divided by the original's norm, and the probability of the image's
true class (else the class predicted for it). Hovering a point shows that moved image
and the first conv block's maps for it. It follows the network shown (live, or the
timeline's step, through its ProbeFeed) and recomputes at most twice a second while
training; a new image or transformation replaces a sweep in progress.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from convscope.probes import invariance as inv
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.legend_row import legend_row, set_legend
from convscope.ui.panels.mapview import (
    EXPORT_FILTER,
    ExportButton,
    export_scene,
    heading,
    style_axis,
)
from convscope.ui.probe_feed import ProbeFeed
from convscope.ui.probe_runner import ProbeRunner
from convscope.ui.session import Session

REFRESH_S = 0.5  # a sweep starts at least this long after the last one ended (training snapshots)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
KIND_NAMES = {"shift_x": "Horizontal shift", "shift_y": "Vertical shift", "scale": "Scale", "rotate": "Rotation"}


class InvariancePanel(QWidget):
    title = "Invariance"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.sweep: inv.Sweep | None = None
        self.hover_index: int | None = None
        self.feed = ProbeFeed(self, session, "invariance", min_interval_s=REFRESH_S, follow=True)
        self.feed.due.connect(self.compute)
        self.runner = self.feed.runner
        self.runner.finished.connect(self._on_sweep)
        self.runner.errored.connect(lambda _t, m: self.heading.setText(f"Invariance: not computed ({m})"))
        self.maps_runner = ProbeRunner("invariance-maps", self)
        self.maps_runner.finished.connect(self._on_maps)

        self.heading = heading("Invariance: waiting for the model…")
        self.kind = QComboBox()
        for kind in inv.KINDS:
            self.kind.addItem(KIND_NAMES[kind], kind)
        self.kind.setToolTip("How the image is moved")
        self.kind.currentIndexChanged.connect(lambda _i: self._replace())
        self.export_button = ExportButton(self.export, "invariance.png",
                                          filters=EXPORT_FILTER + ";;The numbers, CSV (*.csv)")
        self.export_button.setToolTip("Save the curves as PNG or SVG, or their numbers as CSV")
        self.hover = QLabel("Hover over a point to see that moved image and its maps.")
        self.hover.setObjectName("hint")

        self.graphics = pg.GraphicsLayoutWidget()
        layout_ = self.graphics.ci
        self.legend = legend_row(layout_, 0, 0, colspan=2)
        self.dist_plot = layout_.addPlot(row=1, col=0)
        self.prob_plot = layout_.addPlot(row=2, col=0)
        self.dist_plot.setXLink(self.prob_plot)
        for plot, label in ((self.dist_plot, "distance / ‖f(x)‖"), (self.prob_plot, "p(class)")):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(False, False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", label)
            for side in ("left", "bottom"):
                style_axis(plot.getAxis(side))
        self.prob_plot.setYRange(0, 1, padding=0.02)
        self.cursor = [pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))
                       for _ in range(2)]
        for plot, line in zip((self.dist_plot, self.prob_plot), self.cursor, strict=True):
            plot.addItem(line)
            line.hide()
        side = layout_.addLayout(row=1, col=1, rowspan=2)
        self.image_view = side.addViewBox(row=0, col=0, lockAspect=True, enableMouse=False)
        self.maps_view = side.addViewBox(row=1, col=0, lockAspect=True, enableMouse=False)
        for view in (self.image_view, self.maps_view):
            view.invertY(True)
        self.image_item, self.maps_item = pg.ImageItem(), pg.ImageItem()
        self.image_view.addItem(self.image_item)
        self.maps_view.addItem(self.maps_item)
        layout_.layout.setColumnStretchFactor(0, 3)
        layout_.layout.setColumnStretchFactor(1, 1)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse)

        top = QHBoxLayout()
        top.addWidget(self.heading, stretch=1)
        top.addWidget(QLabel("Move:"))
        top.addWidget(self.kind)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.hover)
        self.controller.image_changed.connect(self._replace)
        self.controller.model_reset.connect(self._on_model_reset)
        self.feed.ask()

    # ------------------------------------------------------------- computing
    def _replace(self) -> None:
        """Another image or transformation: the sweep in progress is of no more use."""
        self.runner.cancel()
        self.feed.ask()

    def _on_model_reset(self) -> None:
        self.runner.cancel()  # (the feed does too, on the session's arch_changed)
        self.maps_runner.cancel()
        self.sweep = None
        for item in list(self.dist_plot.listDataItems()) + list(self.prob_plot.listDataItems()):
            item.getViewBox().removeItem(item)
        self.heading.setText("Invariance: waiting for the new model…")

    def compute(self) -> None:
        """Start a sweep of the network shown, the image and the transformation."""
        c = self.controller
        if c.snapshot is None or c.model_image is None:
            return
        snap, image, kind = c.snapshot, np.array(c.model_image), self.kind.currentData()
        label = c.image.true_class if c.image is not None else None

        def job(_ctx: Any) -> Any:
            return snap.step, inv.sweep(snap.arch, snap.params, snap.state, snap.norm, image, kind, label=label)

        self.feed.submit(kind, job)

    def _on_sweep(self, _kind: Any, result: Any) -> None:
        step, s = result
        self.sweep = s
        self.step = step
        names = list(getattr(self.session.dataset, "class_names", ())) or [str(i) for i in range(s.probs.shape[1])]
        cls = names[s.target] if s.target < len(names) else str(s.target)
        whose = "true class" if s.target_is_label else "predicted class"
        self.heading.setText(f"Invariance · step {step} · p({cls}), the {whose}, at the identity "
                             f"{s.target_probs[s.identity]:.2f} · {s.seconds * 1000:.0f} ms")
        for plot in (self.dist_plot, self.prob_plot):
            for item in list(plot.listDataItems()):
                plot.removeItem(item)
        entries = []
        for i, (layer, d) in enumerate(s.distances.items()):
            color = PALETTE[i % len(PALETTE)]
            self.dist_plot.plot(s.values, d, pen=pg.mkPen(color, width=2), symbol="o", symbolSize=4,
                                symbolBrush=color, symbolPen=None)
            entries.append((color, "line", layer))
        self.prob_plot.plot(s.values, s.target_probs, pen=pg.mkPen("#222", width=2), symbol="o", symbolSize=4,
                            symbolBrush="#222", symbolPen=None)
        self.prob_plot.setLabel("bottom", inv.LABELS[s.kind])
        set_legend(self.legend, entries)
        keep = self.hover_index is not None and self.hover_index < len(s.values)
        self.show_point(self.hover_index if keep else s.identity)  # the original until a point is hovered

    # ------------------------------------------------------------- hovering
    def _on_mouse(self, pos: QPointF) -> None:
        s = self.sweep
        if s is None:
            return
        for plot in (self.dist_plot, self.prob_plot):
            if plot.sceneBoundingRect().contains(pos):
                x = plot.vb.mapSceneToView(pos).x()
                self.show_point(int(np.argmin(np.abs(s.values - x))))
                return

    def show_point(self, index: int) -> None:
        """Show the moved image of sweep point ``index`` and start computing its maps."""
        s = self.sweep
        if s is None:
            return
        self.hover_index = index
        for line in self.cursor:
            line.setPos(float(s.values[index]))
            line.show()
        moved = np.clip(np.round(s.images[index]), 0, 255).astype(np.uint8)
        self.image_item.setImage(moved[..., 0] if moved.shape[-1] == 1 else moved, levels=(0, 255))
        self.image_view.autoRange(padding=0)
        dist = ", ".join(f"{n} {d[index]:.2f}" for n, d in list(s.distances.items())[:4])
        self.hover.setText(f"{inv.LABELS[s.kind]} {s.values[index]:g}: p = {s.target_probs[index]:.3f}, "
                           f"predicted {int(s.predicted[index])}; distance {dist}")
        snap = self.controller.snapshot
        if snap is None:
            return

        def job(_ctx: Any) -> Any:
            from convscope.probes.inspect import Inspector
            from convscope.viz.pictures import maps_picture

            taps = Inspector(snap.arch).run(snap.params, snap.state, snap.norm, moved).taps
            return maps_picture(taps["act1"]) if "act1" in taps else None

        self.maps_runner.submit(index, job)

    def _on_maps(self, index: Any, picture: Any) -> None:
        if index == self.hover_index and picture is not None:
            self.maps_item.setImage(picture, levels=(0, 255))
            self.maps_view.autoRange(padding=0)

    # ------------------------------------------------------------- export
    def export(self, path: str) -> None:
        if path.lower().endswith(".csv"):
            if self.sweep is None:
                raise OSError("nothing computed yet")
            from convscope.probes.invariance_export import csv_rows

            names = list(getattr(self.session.dataset, "class_names", ())) or [
                str(i) for i in range(self.sweep.probs.shape[1])]
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(csv_rows({self.sweep.kind: self.sweep}, names))
            return
        export_scene(self.graphics.ci, path)
