"""The Deep-visualization panel's two picture views, drawn from what the panel holds.

``ChannelGrid``: every channel of the layer as one mosaic (deepvis_grid.py), hover for
values, click for ``clicked(channel)``. ``ChannelDetail``: the large view of one channel:
its synthetic input, its top-k validation patches, and its feature map for the
inspected image (the InspectionController's latest inspection), with the values
written out."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from convscope.probes.topk import receptive_box
from convscope.ui.panels.deepvis_grid import (
    CELL_GAP,
    CellGeometry,
    cell_geometry,
    channel_mosaic,
    patch_square,
)
from convscope.ui.panels.feature_maps import fit_cols
from convscope.ui.panels.mapview import MapView, format_number, graphics_widget
from convscope.viz.display import synthetic_display, to_rgb8
from convscope.viz.tiles import cell_at, levels_of

MIN_PATCH_PX = 24  # each patch at least this large in the detail square
HOVER_HINT = "Hover over a channel for its values; click it for a large view (its own window)."
GRID_TIP = (
    "Each channel: left, the synthetic input that excites it most (contrast stretched about grey); "
    "right, the validation patches (its receptive field) that excite it most, best first, row by row"
)


class ChannelGrid(QWidget):
    """Every channel's synthetic input and top-k patches; ``clicked(channel)``."""

    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = graphics_widget()
        self.graphics.setToolTip(GRID_TIP)
        self.view = MapView(self.graphics, 0, 0, "", bar=False)
        self.hover = QLabel(HOVER_HINT)
        self.hover.setWordWrap(True)
        self.geo: CellGeometry | None = None
        self.cols = 1
        self.count = 0
        self._panel: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.hover)
        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._on_move)
        scene.sigMouseClicked.connect(self._on_click)

    def draw(self, panel: Any) -> None:
        """The mosaic of ``panel.layer``'s channels from ``panel.actmax`` / ``panel.topk``
        (grey where they are not computed yet), as many columns as fit best."""
        self._panel = panel
        arch, layer = panel.snapshot.arch, panel.layer
        self.count = panel.channel_count
        hw = (arch.input_shape[0], arch.input_shape[1])
        topk, actmax = panel.layer_topk(), panel.layer_actmax()
        r0, _c0, r1, _c1 = receptive_box(arch, layer, 0, 0)
        k = topk.values.shape[1] if topk is not None else panel.k
        self.geo = cell_geometry(hw, r1 - r0, k)
        self.cols = fit_cols(self.count, self.geo.shape, (self.view.view.width(), self.view.view.height()))
        mosaic = channel_mosaic(
            self.count, hw, self.geo, self.cols,
            synthetic=None if actmax is None else synthetic_display(actmax.images),
            patches=None if topk is None else topk.patches,
            valid=None if topk is None else topk.indices >= 0,
        )  # fmt: skip
        self.view.show(mosaic, (0, 255))
        self.view.set_title(f"per channel: synthetic input | top-{k} patches")

    def channel_at(self, pos: QPointF) -> int | None:
        pixel = self.view.pixel_at(pos)
        if pixel is None or self.geo is None:
            return None
        return cell_at(pixel[0], pixel[1], self.geo.shape, self.cols, CELL_GAP, self.count)

    def _on_move(self, pos: QPointF) -> None:
        ch = self.channel_at(pos)
        if ch is None or self._panel is None:
            return
        parts = [f"{self._panel.layer} channel {ch}"]
        actmax, topk = self._panel.layer_actmax(), self._panel.layer_topk()
        if actmax is not None:
            parts.append(f"synthetic input's activation {format_number(float(actmax.activations[ch]))}")
        if topk is not None:
            v = topk.values[ch]
            v = v[np.isfinite(v)]
            if v.size:
                parts.append(f"top-{v.size} maxima {format_number(float(v[-1]))} … {format_number(float(v[0]))}")
        self.hover.setText(" · ".join(parts) + " (click for a large view)")

    def _on_click(self, event: Any) -> None:
        ch = self.channel_at(event.scenePos())
        if ch is not None:
            self.clicked.emit(ch)


class ChannelDetail(QWidget):
    """Three pictures of the panel's chosen channel and a caption; drawn by ``redraw(panel)``.
    ``clicked()`` on a click in the pictures (the panel opens its large view)."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = graphics_widget()
        self.graphics.setToolTip("Click for a large view of this channel")
        self.graphics.scene().sigMouseClicked.connect(lambda _e: self.clicked.emit())
        self.synth_view = MapView(self.graphics, 0, 0, "Synthetic", bar=False)
        self.patches_view = MapView(self.graphics, 0, 1, "Top-k", bar=False)
        self.map_view = MapView(self.graphics, 0, 2, "Feature map", bar_label="activation")
        self.caption = QLabel("Click a channel for a large view.")
        # Two short lines, not wrapped: a wrapped label in a splitter gets clipped when docked small.
        self.channel = -1
        self.feature_map: np.ndarray | None = None
        self._dirty = True
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.caption)

    def mark_dirty(self) -> None:
        self._dirty = True

    def redraw(self, panel: Any) -> None:
        """Draw channel ``panel.channel`` of ``panel.layer`` from what the panel holds."""
        if not self._dirty or not panel.layer or panel.snapshot is None:
            return
        self._dirty = False
        ch, layer = panel.channel, panel.layer
        self.channel = ch
        lines = [f"<b>{layer} ch {ch}</b>"]
        second = ""
        actmax = panel.layer_actmax()
        if actmax is not None and ch < len(actmax.images):
            self.synth_view.show(to_rgb8(synthetic_display(actmax.images[ch : ch + 1])[0]), (0, 255))
            self.synth_view.set_title(f"Synthetic, ch {ch}")
            lines.append(f"synthetic: {format_number(float(actmax.activations[ch]))}")
        topk = panel.layer_topk()
        if topk is not None and ch < len(topk.values):
            valid = topk.indices[ch] >= 0
            hw = tuple(panel.snapshot.arch.input_shape[:2])
            geo = cell_geometry(hw, topk.rf, len(valid), min_side=0)
            geo = cell_geometry(hw, topk.rf, len(valid), min_side=geo.grid * max(MIN_PATCH_PX, topk.rf))
            self.patches_view.show(patch_square(topk.patches[ch], valid, geo), (0, 255))
            self.patches_view.set_title(f"Top-{int(valid.sum())} ({topk.rf}×{topk.rf} px)")
            if valid.any():
                i = int(np.argmax(valid))
                lines.append(f"best {format_number(float(topk.values[ch][i]))} (val #{int(topk.indices[ch][i])})")
        inspection = panel.controller.inspection
        taps = getattr(inspection, "taps", {})
        if layer in taps and np.ndim(taps[layer]) == 3 and ch < taps[layer].shape[-1]:
            fmap = np.asarray(taps[layer][..., ch], np.float32)
            self.feature_map = fmap
            self.map_view.show_scalar(fmap, levels_of(fmap))
            step = panel.controller.inspected_step
            self.map_view.set_title("On the image")
            r, c = np.unravel_index(int(np.argmax(fmap)), fmap.shape)
            second = (f"on the image (step {step:,}): max {format_number(float(fmap[r, c]))} "
                      f"at ({c}, {r}), mean {format_number(float(fmap.mean()))}")
        self.caption.setText(" · ".join(lines) + (f"<br>{second}" if second else ""))
        self.caption.setToolTip(
            "synthetic: the channel's activation for its synthetic input; best: its largest "
            "response over the validation images (#index in the validation set); on the image: "
            "its map for the inspected image"
        )
