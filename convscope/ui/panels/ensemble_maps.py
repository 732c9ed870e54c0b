"""The Ensemble panel's member maps: for the disagreement clicked, one row per member —
its answer on the left axis, the first conv block's activation maps (the first 8
channels, each scaled to its own maximum) across — so where the members part ways is
visible in what their first layer sees."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg

from convscope.ui.panels.mapview import lut_for, style_axis

GAP = 1  # pixels between maps


def mosaic(maps: list[np.ndarray]) -> np.ndarray:
    """(rows × (H+GAP), cols × (W+GAP)) float image in [0, 1], NaN in the gaps: row m
    holds member m's channels side by side, each divided by its largest magnitude."""
    h, w = maps[0].shape[:2]
    cols = max(m.shape[2] for m in maps)
    out = np.full((len(maps) * (h + GAP), cols * (w + GAP)), np.nan, np.float32)
    for r, m in enumerate(maps):
        for c in range(m.shape[2]):
            ch = np.asarray(m[..., c], np.float32)
            top = float(np.abs(ch).max())
            out[r * (h + GAP):r * (h + GAP) + h, c * (w + GAP):c * (w + GAP) + w] = ch / top if top > 0 else 0.0
    return out


class MemberMapsView(pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        self.plot = self.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("bottom")
        style_axis(self.plot.getAxis("left"))
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.rows: list[str] = []
        self.setMinimumHeight(60)
        self.setToolTip("The disagreement clicked, member by member (numbered as in the table): its answer, and "
                        "the first conv block's activation maps (first 8 channels, each scaled to its maximum)")

    def show_members(self, names: list[str], maps: list[np.ndarray], answers: list[str]) -> None:
        grid = mosaic(maps)
        h = maps[0].shape[0] + GAP
        lo = -1.0 if np.nanmin(grid) < 0 else 0.0  # signed maps (no activation, tanh) get a diverging map
        lut, _cmap = lut_for((lo, 1.0))
        self.image.setImage(np.nan_to_num(grid, nan=lo), levels=(lo, 1.0), lut=lut, autoLevels=False)
        self.rows = [f"{n}: {a}" for n, a in zip(names, answers, strict=True)]
        self.plot.getAxis("left").setTicks([[(r * h + h / 2, t) for r, t in enumerate(self.rows)]])
        self.plot.autoRange(padding=0.02)

    def clear_maps(self) -> None:
        self.image.clear()
        self.rows = []
        self.plot.getAxis("left").setTicks([[]])

    def describe(self) -> Any:
        return list(self.rows)
