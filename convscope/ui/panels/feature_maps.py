"""Feature maps panel: every channel of the chosen layer for the chosen image, as a
grid with one shared, stated colour scale; click a map to enlarge it, hover for values.

Redraws at most 10 times a second, only when a new inspection arrived or the user
changed the layer; the grid is one ImageItem (``viz.tiles.map_grid``) whose NaN gaps
are transparent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QSignalBlocker
from PySide6.QtWidgets import QLabel, QToolButton, QWidget

from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.mapview import (
    ExportButton,
    MapView,
    ThrottledRedraw,
    ask_save_path,
    export_scene,
    format_number,
    graphics_widget,
    heading,
    layer_panel_layout,
    layer_picker,
)
from convscope.ui.session import Session
from convscope.viz.tiles import cell_at, default_cols, map_grid, vector_grid

REDRAW_MS = 100
MAPS_FILTER = "NumPy array, this layer (*.npy);;NumPy archive, every layer (*.npz)"
KIND_TEXT = {
    "conv": "convolution",
    "bn": "batch norm",
    "act": "activation",
    "pool": "pooling",
    "dense": "dense",
    "logits": "logits",
}


def layer_kind(name: str) -> str:
    if name.endswith("_act") or name.startswith("act"):
        return "act"
    for prefix in ("conv", "bn", "pool", "dense", "logits"):
        if name.startswith(prefix):
            return prefix
    return name


def fit_cols(count: int, cell: tuple[int, int], area: tuple[float, float]) -> int:
    """Columns that make ``count`` cells of ``cell`` (h, w) pixels, 1 px apart, as big
    as possible in ``area`` (width, height); a near-square grid when the area is unknown."""
    width, height = area
    if width < 10 or height < 10:
        return default_cols(count)
    h, w = cell
    best, best_size = 1, -1.0
    for cols in range(1, count + 1):
        rows = -(-count // cols)
        size = min(width / (cols * (w + 1)), height / (rows * (h + 1)))
        if size > best_size + 1e-9:
            best, best_size = cols, size
    return best


def shown_layers(taps: dict[str, np.ndarray]) -> list[str]:
    """Every tap worth a picture, in forward order (not ``flatten``: pool's maps again)."""
    return [n for n in taps if n != "flatten"]


class FeatureMapsPanel(ThrottledRedraw, QWidget):
    title = "Feature maps"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.layer = ""
        self.channel = 0
        self.maps: np.ndarray | None = None  # the shown layer's maps (H, W, C) or (units,)
        self.cols = 1
        self._layers: list[str] = []
        self._labels: list[str] = []  # the picker's items: names with their shapes
        self._dirty = False

        self.heading = heading("Feature maps: waiting for the model…")
        self.picker = layer_picker("The layer whose output is shown", 15, self._on_pick)
        self.export_button = ExportButton(self.export, "feature-maps.png")
        self.save_button = QToolButton()
        self.save_button.setText("Save maps…")
        self.save_button.setToolTip("Save this layer's maps as .npy, or every layer as .npz")
        self.save_button.clicked.connect(self._ask_save)

        self.graphics = graphics_widget()
        self.grid_view = MapView(self.graphics, 0, 0, "All channels", bar_label="activation")
        self.zoom_view = MapView(self.graphics, 0, 2, "Channel 0 (click a map)", bar=False)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(2, 2)
        self.hover = QLabel("Hover over a map for its values.")
        self.hover.setObjectName("hoverText")
        self.hover.setWordWrap(True)  # long values must not widen the window
        self.scale_label = QLabel()
        self.scale_label.setWordWrap(True)

        layer_panel_layout(
            self, self.picker, self.heading, [self.save_button, self.export_button], self.graphics,
            [(self.scale_label, 1), (self.hover, 1)],
        )

        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._on_move)
        scene.sigMouseClicked.connect(self._on_click)
        self.controller.inspected.connect(self._on_inspected)
        self.controller.model_reset.connect(self._on_model_reset)
        self.start_redraw_timer(REDRAW_MS)
        if self.controller.inspection is not None:
            self._on_inspected(self.controller.inspection)

    # ----------------------------------------------------------------- data
    def _on_inspected(self, inspection: object) -> None:
        taps = inspection.taps  # type: ignore[attr-defined]
        layers = shown_layers(taps)
        # Names and shapes: another input size keeps the names ("conv1") but not the shapes.
        labels = [f"{name} · {'×'.join(str(v) for v in taps[name].shape)}" for name in layers]
        if labels != self._labels:
            self._layers, self._labels = layers, labels
            with QSignalBlocker(self.picker):
                self.picker.clear()
                for name, label in zip(layers, labels, strict=True):
                    self.picker.addItem(label, name)
                keep = self.layer if self.layer in layers else layers[0]
                self.picker.setCurrentIndex(layers.index(keep))
            if keep != self.layer:
                self.layer, self.channel = keep, 0
        self._dirty = True
        self.request_redraw()

    def _on_model_reset(self) -> None:
        """A new model: the old one's maps go; the new one's come with its first inspection."""
        self.maps, self._dirty = None, False
        self.grid_view.image.clear()
        self.zoom_view.image.clear()
        self.heading.setText("Feature maps: waiting for the new model…")
        self.scale_label.setText("")

    def _on_pick(self, index: int) -> None:
        name = self.picker.itemData(index)
        if name and name != self.layer:
            self.layer, self.channel = name, 0
            self._dirty = True
            self.redraw()

    def select_layer(self, name: str) -> None:
        self.picker.setCurrentIndex(self._layers.index(name))

    def select_channel(self, channel: int) -> None:
        self.channel = channel
        self._dirty = True
        self.redraw()

    # ----------------------------------------------------------------- drawing
    def redraw(self) -> None:
        if not self._dirty:
            return
        inspection = self.controller.inspection
        if inspection is None or self.layer not in inspection.taps:
            return
        self._dirty = False
        maps = np.asarray(inspection.taps[self.layer])
        self.maps = maps
        kind = KIND_TEXT.get(layer_kind(self.layer), self.layer)
        step = self.controller.inspected_step
        if maps.ndim == 3:
            h, w, c = maps.shape
            view = self.grid_view.view
            self.cols = fit_cols(c, (h, w), (view.width(), view.height()))
            mosaic, levels = map_grid(maps, cols=self.cols)
            self.channel = min(self.channel, c - 1)
            self.grid_view.show_scalar(mosaic, levels)
            self.zoom_view.show_scalar(maps[..., self.channel], levels)
            self.grid_view.set_title(f"{c} channels of {h}×{w}")
            self.zoom_view.set_title(f"Channel {self.channel} (click a map)")
            what = f"{self.layer} ({kind}): {c} maps of {h}×{w}"
        else:
            units = maps.size
            mosaic, levels = vector_grid(maps)
            self.cols = mosaic.shape[1]
            self.grid_view.show_scalar(mosaic, levels)
            self.zoom_view.show_scalar(np.full((1, 1), np.nan, np.float32), levels)
            self.grid_view.set_title(f"{units} units, one pixel each, row by row")
            self.zoom_view.set_title("(a 1-D layer: no maps)")
            what = f"{self.layer} ({kind}): {units} units"
        self.heading.setText(f"{what} · step {step:,}" if step >= 0 else what)
        lo, hi = levels
        shared = "symmetric about 0 (white = 0)" if lo < 0 < hi else "min … max"
        self.scale_label.setText(
            f"Colour scale, shared by all maps: <b>{format_number(lo)} … {format_number(hi)}</b> ({shared})"
        )

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._dirty = True  # the grid's columns follow the panel's shape

    # ----------------------------------------------------------------- mouse
    def _grid_cell(self, pos: QPointF) -> tuple[int, int, int] | None:
        """(channel, row, col) of the map pixel under ``pos`` in the grid, if any."""
        maps = self.maps
        pixel = self.grid_view.pixel_at(pos)
        if maps is None or maps.ndim != 3 or pixel is None:
            return None
        h, w, c = maps.shape
        index = cell_at(pixel[0], pixel[1], (h, w), self.cols, 1, c)
        if index is None:
            return None
        return index, int(pixel[1]) % (h + 1), int(pixel[0]) % (w + 1)

    def _on_move(self, pos: QPointF) -> None:
        maps = self.maps
        if maps is None:
            return
        cell = self._grid_cell(pos)
        if cell is not None:
            ch, r, col = cell
            self.hover.setText(
                f"{self.layer} channel {ch} at (x {col}, y {r}): <b>{format_number(maps[r, col, ch])}</b>"
            )
            return
        pixel = self.zoom_view.pixel_at(pos)
        if pixel is not None and maps.ndim == 3:
            col, r = int(pixel[0]), int(pixel[1])
            value = maps[r, col, self.channel]
            self.hover.setText(
                f"{self.layer} channel {self.channel} at (x {col}, y {r}): <b>{format_number(value)}</b>"
            )
            return
        if maps.ndim == 1:
            pixel = self.grid_view.pixel_at(pos)
            if pixel is not None:
                unit = int(pixel[1]) * self.cols + int(pixel[0])
                if unit < maps.size:
                    self.hover.setText(f"{self.layer} unit {unit}: <b>{format_number(maps[unit])}</b>")

    def _on_click(self, event: object) -> None:
        cell = self._grid_cell(event.scenePos())  # type: ignore[attr-defined]
        if cell is not None:
            self.select_channel(cell[0])

    # ----------------------------------------------------------------- files
    def export(self, path: str) -> None:
        export_scene(self.graphics, path)

    def save_maps(self, path: str) -> None:
        """.npz: every tap of the current inspection; otherwise this layer's maps (.npy)."""
        inspection = self.controller.inspection
        if inspection is None:
            raise ValueError("no feature maps yet: the model has not seen the image")
        if Path(path).suffix.lower() == ".npz":
            arrays = {
                "input": np.asarray(inspection.input),
                **{k: np.asarray(v) for k, v in inspection.taps.items()},
            }
            np.savez(path, **arrays)
        else:
            np.save(path, np.asarray(inspection.taps[self.layer]))

    def _ask_save(self) -> None:
        path = ask_save_path(self, "Save feature maps", f"{self.layer or 'maps'}.npy", MAPS_FILTER)
        if path:
            try:
                self.save_maps(path)
            except (OSError, ValueError) as exc:
                window = self.window()
                if hasattr(window, "show_error"):
                    window.show_error("Could not save the maps", f"{path}: {exc}")
