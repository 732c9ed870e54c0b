"""Prediction panel: the softmax probability of every class for the chosen image, live,
as horizontal bars (class names read left to right), the top class highlighted."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.mapview import ExportButton, ThrottledRedraw, export_scene, heading, style_axis
from convscope.ui.session import Session

BAR_COLOR = "#9ecae1"
TOP_COLOR = "#e6550d"
REDRAW_MS = 100


class PredictionPanel(ThrottledRedraw, QWidget):
    title = "Prediction"
    area = "right"
    split_with = ("Image", "below")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        k = int(session.arch.num_classes)
        self.class_names = self._names(k)
        self.probs = np.zeros(k, np.float32)

        self.heading = heading("Prediction: waiting for the model…")
        self.plot_widget = pg.PlotWidget(enableMenu=False)
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setMenuEnabled(False)
        plot.vb.border = None  # draws nothing on screen, but a black frame in SVG exports
        plot.hideButtons()
        plot.setMouseEnabled(False, False)
        plot.showGrid(x=True, y=False, alpha=0.25)
        plot.setLabel("bottom", "probability (%)", **{"font-size": "11pt"})
        for name in ("left", "bottom"):
            style_axis(plot.getAxis(name))
        plot.invertY(True)  # the first class on top
        self.bars = pg.BarGraphItem(x0=0, y=np.arange(k), height=0.7, width=np.zeros(k), brush=BAR_COLOR)
        plot.addItem(self.bars)
        self.top_text = pg.TextItem("", color="#222", anchor=(0, 0.5))
        plot.addItem(self.top_text)
        self._set_classes(k)

        self.export_button = ExportButton(self.export, "prediction.png")
        top = QHBoxLayout()
        top.addWidget(self.heading, stretch=1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.plot_widget, stretch=1)

        self._dirty = False
        self.controller.inspected.connect(self._on_inspected)
        self.controller.image_changed.connect(self._on_image)
        if hasattr(session, "dataset_changed"):  # new class names, perhaps a new count
            session.dataset_changed.connect(lambda d: self._set_classes(int(d.num_classes)))
        self.start_redraw_timer(REDRAW_MS)
        if self.controller.inspection is not None:
            self._on_inspected(self.controller.inspection)

    def _names(self, k: int) -> list[str]:
        names = list(getattr(self.session.dataset, "class_names", ()))
        return names if len(names) == k else [str(i) for i in range(k)]

    def _set_classes(self, k: int) -> None:
        self.class_names = self._names(k)
        self.probs = np.zeros(k, np.float32)
        axis = self.plot.getAxis("left")
        axis.setTicks([[(i, n) for i, n in enumerate(self.class_names)], []])
        self.plot.setYRange(-0.6, k - 0.4, padding=0)
        self.plot.setXRange(0, 100, padding=0.02)
        # One brush a bar, always: with fewer brushes than bars BarGraphItem.paint raises
        # IndexError inside Qt's paint, which PySide6 6.11 turns into a segfault.
        self.bars.setOpts(y=np.arange(k), width=np.zeros(k), brushes=[pg.mkBrush(BAR_COLOR)] * k)

    def _on_image(self) -> None:
        self._dirty = True  # the true class in the heading follows the image at once

    def _on_inspected(self, inspection: object) -> None:
        probs = np.asarray(inspection.probs, np.float32)  # type: ignore[attr-defined]
        if probs.shape != self.probs.shape:
            self._set_classes(probs.shape[0])
        self.probs = probs
        self._dirty = True
        self.request_redraw()

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        probs = self.probs
        if not probs.size or not np.any(probs):
            return
        top = int(np.argmax(probs))
        brushes = [pg.mkBrush(TOP_COLOR if i == top else BAR_COLOR) for i in range(probs.size)]
        self.bars.setOpts(width=100.0 * probs, brushes=brushes)
        pct = 100.0 * float(probs[top])
        self.top_text.setText(f" {pct:.1f}%")
        self.top_text.setPos(min(100.0 * float(probs[top]), 80.0), top)
        text = f"Prediction: <b>{self.class_names[top]}</b> ({pct:.1f}%)"
        c = self.controller
        image = c.image
        if image is not None and image.true_class is not None and c.inspected_image is c.model_image:
            truth = self.class_names[image.true_class] if image.true_class < len(self.class_names) else "?"
            mark = "✓" if image.true_class == top else "✗"
            text += f" · true class {truth} {mark}"
        if c.inspected_step >= 0:
            text += f" · step {c.inspected_step:,}"
        self.heading.setText(text)

    def export(self, path: str) -> None:
        export_scene(self.plot_widget, path)
