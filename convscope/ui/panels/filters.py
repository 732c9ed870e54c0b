"""Filters panel: a conv layer's kernels as one tiled image, diverging colours centred
on zero (white), the scale stated; the first layer of an RGB model in colour. Follows
the latest snapshot, so the filters can be watched turning from noise into edges."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QSignalBlocker
from PySide6.QtWidgets import QLabel, QWidget

from convscope import events as ev
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.mapview import (
    DIVERGING,
    DIVERGING_MAP,
    ExportButton,
    MapView,
    ThrottledRedraw,
    export_scene,
    format_number,
    graphics_widget,
    heading,
    layer_panel_layout,
    layer_picker,
)
from convscope.ui.session import Session
from convscope.viz.tiles import cell_at, filter_layout, tile_filters

REDRAW_MS = 250  # snapshots arrive ~4 times a second while training


def _kernels(w: np.ndarray) -> str:
    f, _f, d, k = np.shape(w)
    return f"{k} filters {f}×{f}×{d}"


class FiltersPanel(ThrottledRedraw, QWidget):
    title = "Filters"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.layer = ""
        self.weights: np.ndarray | None = None
        self.m = 1.0
        self._layers: list[str] = []
        self._labels: list[str] = []  # the picker's items: names with their kernels' shapes
        self._snapshot: ev.Snapshot | None = None
        self._dirty = False

        self.heading = heading("Filters: waiting for the model…")
        self.picker = layer_picker("The convolution layer whose kernels are shown", 20, self._on_pick)
        self.export_button = ExportButton(self.export, "filters.png")
        self.graphics = graphics_widget()
        self.view = MapView(self.graphics, 0, 0, "", bar_label="weight")
        self.layout_label = QLabel()
        self.layout_label.setWordWrap(True)
        self.hover = QLabel("Hover over a kernel for its weights.")
        self.hover.setWordWrap(True)

        layer_panel_layout(
            self, self.picker, self.heading, [self.export_button], self.graphics,
            [(self.layout_label, 3), (self.hover, 2)],
        )

        self.graphics.scene().sigMouseMoved.connect(self._on_move)
        self.controller.snapshot_changed.connect(self._on_snapshot)
        self.controller.model_reset.connect(self._on_model_reset)
        self.start_redraw_timer(REDRAW_MS)
        if self.controller.snapshot is not None:
            self._on_snapshot(self.controller.snapshot)

    def _on_snapshot(self, snapshot: ev.Snapshot) -> None:
        self._snapshot = snapshot
        convs = [f"conv{i}" for i in range(1, len(snapshot.arch.convs) + 1)]
        # Names and shapes: RGB images keep the names ("conv1") but not the kernels' depth.
        labels = [f"{name} · {_kernels(snapshot.params[name]['w'])}" for name in convs]
        if labels != self._labels:
            self._layers, self._labels = convs, labels
            with QSignalBlocker(self.picker):
                self.picker.clear()
                for name, label in zip(convs, labels, strict=True):
                    self.picker.addItem(label, name)
                if self.layer not in convs:
                    self.layer = convs[0] if convs else ""
                if self.layer:
                    self.picker.setCurrentIndex(convs.index(self.layer))
        self._dirty = True
        self.request_redraw()

    def _on_model_reset(self) -> None:
        """A new model: the old one's kernels go; the new one's come with its first snapshot."""
        self._snapshot, self.weights, self._dirty = None, None, False
        self.view.image.clear()
        self.heading.setText("Filters: waiting for the new model…")
        self.layout_label.setText("")

    def _on_pick(self, index: int) -> None:
        name = self.picker.itemData(index)
        if name and name != self.layer:
            self.layer = name
            self._dirty = True
            self.redraw()

    def select_layer(self, name: str) -> None:
        self.picker.setCurrentIndex(self._layers.index(name))

    def redraw(self) -> None:
        snap = self._snapshot
        if not self._dirty or snap is None or self.layer not in snap.params:
            return
        self._dirty = False
        w = np.asarray(snap.params[self.layer]["w"], np.float32)
        self.weights = w
        f, _f, d, k = w.shape
        layout = filter_layout(w.shape)
        self._layout = layout
        mosaic, m = tile_filters(w)
        self.m = m
        if layout.kind == "rgb":
            # Colour cells are already 0..1 with 0.5 meaning a zero weight.
            self.view.show(mosaic, (0.0, 1.0))
            if self.view.bar is not None:
                self.view.bar.setLevels((-m, m))
                self.view.bar.setColorMap(DIVERGING_MAP)
            how = (
                f"{k} filters {f}×{f}, in colour: each RGB channel shows that input channel's "
                f"weights, mid-grey = 0, full colour = ±{format_number(m)}."
            )
        else:
            self.view.show(mosaic, (-m, m), DIVERGING, DIVERGING_MAP)
            if layout.kind == "slices":
                how = f"Row k = filter k (of {k}), column d = its weights on input channel d (of {d})."
            elif d == 1:
                how = f"One {f}×{f} cell per filter ({k}), row by row."
            else:
                how = (
                    f"One cell per filter ({k}): the mean of its {d} input slices, each weighted by "
                    "its L2 norm (the slices that matter most dominate)."
                )
        self.layout_label.setText(
            f"{how} Colour scale <b>−{format_number(m)} … {format_number(m)}</b>, white = 0."
        )
        self.view.set_title("")
        self.heading.setText(f"{self.layer}: {k} kernels of {f}×{f}×{d} · step {snap.step:,}")

    def _on_move(self, pos: QPointF) -> None:
        w = self.weights
        pixel = self.view.pixel_at(pos)
        if w is None or pixel is None:
            return
        layout = self._layout
        index = cell_at(pixel[0], pixel[1], layout.cell, layout.cols, 1, layout.count)
        if index is None:
            return
        f = layout.cell[0]
        r, c = int(pixel[1]) % (f + 1), int(pixel[0]) % (f + 1)
        if layout.kind == "slices":
            k, d = divmod(index, w.shape[2])
            self.hover.setText(f"filter {k}, input {d}, ({c}, {r}): <b>{format_number(w[r, c, d, k])}</b>")
        elif layout.kind == "rgb":
            rgb = ", ".join(format_number(v) for v in w[r, c, :, index])
            self.hover.setText(f"filter {index}, ({c}, {r}): R, G, B = <b>{rgb}</b>")
        elif w.shape[2] == 1:
            self.hover.setText(f"filter {index}, ({c}, {r}): <b>{format_number(w[r, c, 0, index])}</b>")
        else:
            mean = self.view.data[int(pixel[1]), int(pixel[0])]
            self.hover.setText(f"filter {index}, ({c}, {r}): weighted mean <b>{format_number(mean)}</b>")

    def export(self, path: str) -> None:
        export_scene(self.graphics, path)
