"""The large view of one channel in the Deep-visualization panel: its synthetic input,
its top-k validation patches, and its feature map for the inspected image (from the
InspectionController's latest inspection), with the values written out."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from convscope.ui.panels.deepvis_grid import cell_geometry, patch_square, stretch_contrast, to_rgb8
from convscope.ui.panels.mapview import MapView, format_number, graphics_widget
from convscope.viz.tiles import levels_of

MIN_PATCH_PX = 24  # each patch at least this large in the detail square


class ChannelDetail(QWidget):
    """Three pictures of the panel's chosen channel and a caption; drawn by ``redraw(panel)``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = graphics_widget()
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
        actmax = panel.actmax if panel.actmax is not None and panel.actmax.layer == layer else None
        if actmax is not None and ch < len(actmax.images):
            self.synth_view.show(to_rgb8(stretch_contrast(actmax.images[ch : ch + 1])[0]), (0, 255))
            self.synth_view.set_title(f"Synthetic, ch {ch}")
            lines.append(f"synthetic: {format_number(float(actmax.activations[ch]))}")
        topk = panel.topk if panel.topk is not None and panel.topk.layer == layer else None
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
