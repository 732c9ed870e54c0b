"""Kernel playground: convolution by hand. Pick a classic kernel (edges, sharpen, blur,
emboss…) or type the numbers of a 3×3 or 5×5 kernel; the result on the model's input
(``viz.kernels.convolve2d``, what a conv layer computes, without bias) is shown beside
the network's own first-layer maps for the same image."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.feature_maps import fit_cols
from convscope.ui.panels.mapview import (
    ExportButton,
    MapView,
    ThrottledRedraw,
    export_scene,
    format_number,
    graphics_widget,
)
from convscope.ui.session import Session
from convscope.viz.kernels import KERNEL_PRESETS, convolve2d
from convscope.viz.tiles import levels_of, map_grid

REDRAW_MS = 100
CUSTOM = "Custom (type the numbers)"
SIZES = (3, 5)
TABLE_PX = 225  # the grid's side, whatever the kernel's size: 5 cells of 45 px or 3 of 75


def cell_text(value: float) -> str:
    """A kernel weight as its cell shows it: whole numbers as such, others with at most
    three decimals (the Gaussian's 1/256 reads 0.004; its tooltip has every digit)."""
    if value == round(value) and abs(value) < 1e4:
        return str(int(value))
    if 5e-4 <= abs(value) < 100:
        return f"{value:.3f}".rstrip("0")
    return f"{value:.0e}" if abs(value) < 5e-4 else format_number(value)


class KernelPlaygroundPanel(ThrottledRedraw, QWidget):
    title = "Kernel playground"
    area = "bottom"
    tab_with = "Architecture"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.kernel = np.asarray(KERNEL_PRESETS["Edge (Laplacian)"], np.float32).copy()
        self.result: np.ndarray | None = None
        self.source: np.ndarray | None = None  # the float input the kernel was applied to
        self._dirty = True

        self.preset = QComboBox()
        self.preset.addItems([*KERNEL_PRESETS, CUSTOM])
        # The list's longest name must not widen the panel: the popup shows it whole.
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(12)
        self.size = QComboBox()
        self.size.addItems([f"{s}×{s}" for s in SIZES])
        # One size for 3×3 and 5×5 (larger cells for fewer numbers): choosing a bigger
        # kernel changes nothing around the grid, and the dock never grows.
        self.table = QTableWidget(max(SIZES), max(SIZES))
        self.table.horizontalHeader().setVisible(False)
        self.table.verticalHeader().setVisible(False)
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setMinimumSectionSize(8)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setFixedSize(
            TABLE_PX + 2 * self.table.frameWidth(), TABLE_PX + 2 * self.table.frameWidth()
        )
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.setToolTip("Type any number; the result updates at once")
        # Lines broken by hand, not word-wrapped: a wrapped label's height depends on its
        # width, which the panel's minimum size does not see, so it overlapped the views.
        self.sum_label = QLabel()
        self.explain = QLabel(
            "out[i, j] = Σ<sub>a,b</sub> k[a, b] · in[i + a − r, j + b − r]<br>"
            "cross-correlation, zero padding, no bias"
        )
        self.explain.setToolTip(
            "What a conv layer computes: cross-correlation with zero padding (here without bias)"
        )
        self.explain.setProperty("kind", "hint")  # the theme's muted colour

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.table)
        left.addStretch(1)

        self.export_button = ExportButton(self.export, "kernel-playground.png")
        self.graphics = graphics_widget()
        self.result_view = MapView(self.graphics, 0, 0, "Your kernel", bar_label="output")
        self.conv1_view = MapView(self.graphics, 0, 2, "The network's conv1", bar_label="conv1")
        for col in (0, 2):  # two equal views, whatever their titles' lengths
            self.graphics.ci.layout.setColumnStretchFactor(col, 1)
            self.graphics.ci.layout.setColumnMinimumWidth(col, 100)  # Qt shares out the space above it
        self.graphics.setMinimumHeight(120)
        self.scale_label = QLabel()

        top = QHBoxLayout()
        top.addWidget(QLabel("Kernel:"))
        top.addWidget(self.preset)
        top.addWidget(QLabel("Size:"))
        top.addWidget(self.size)
        top.addStretch(1)
        top.addWidget(self.export_button)
        right = QVBoxLayout()
        right.addWidget(self.graphics, stretch=1)
        right.addWidget(self.sum_label)
        right.addWidget(self.scale_label)
        right.addWidget(self.explain)
        columns = QHBoxLayout()
        columns.addLayout(left)
        columns.addLayout(right, stretch=1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(columns, stretch=1)

        self.preset.setCurrentText("Edge (Laplacian)")
        self._show_kernel()
        self.preset.currentTextChanged.connect(self._on_preset)
        self.size.currentIndexChanged.connect(self._on_size)
        self.table.itemChanged.connect(self._on_cell)
        c = self.controller
        c.inspected.connect(lambda _i: self._mark())
        c.image_changed.connect(self._mark)
        self.start_redraw_timer(REDRAW_MS)

    # ----------------------------------------------------------------- kernel
    def set_kernel(self, kernel: np.ndarray) -> None:
        k = np.asarray(kernel, np.float32)
        if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] not in SIZES:
            raise ValueError(f"the playground takes 3×3 or 5×5 kernels, got {k.shape}")
        self.kernel = k.copy()
        with QSignalBlocker(self.size):
            self.size.setCurrentIndex(SIZES.index(k.shape[0]))
        self._show_kernel()
        self._mark()

    def _show_kernel(self) -> None:
        n = self.kernel.shape[0]
        cell = TABLE_PX // n
        font = QFont(self.table.font())
        font.setPointSize(11 if n <= 3 else 10)  # "0.141" (37 px at 10 pt) fits a 45 px cell
        with QSignalBlocker(self.table):
            for r in range(max(SIZES)):
                self.table.setRowHidden(r, r >= n)
                self.table.setColumnHidden(r, r >= n)
                self.table.setRowHeight(r, cell)
                self.table.setColumnWidth(r, cell)
                for c in range(max(SIZES)):
                    value = float(self.kernel[r, c]) if r < n and c < n else None
                    item = QTableWidgetItem(cell_text(value) if value is not None else "")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setFont(font)
                    if value is not None:
                        item.setToolTip(f"k[{r}, {c}] = {value:.8g}")
                    self.table.setItem(r, c, item)
        total = float(self.kernel.sum())
        note = "keeps brightness" if abs(total - 1) < 1e-6 else "flat areas → 0" if abs(total) < 1e-6 else ""
        self.sum_label.setText(f"Σ k = {format_number(total)}" + (f" ({note})" if note else ""))

    def _on_preset(self, name: str) -> None:
        if name in KERNEL_PRESETS:
            self.set_kernel(KERNEL_PRESETS[name])

    def _on_size(self, index: int) -> None:
        n = SIZES[index]
        old = self.kernel
        k = np.zeros((n, n), np.float32)
        m = min(n, old.shape[0])
        # Keep the centre: a 3×3 kernel sits in the middle of the 5×5 one, and back.
        o_new, o_old = (n - m) // 2, (old.shape[0] - m) // 2
        k[o_new : o_new + m, o_new : o_new + m] = old[o_old : o_old + m, o_old : o_old + m]
        with QSignalBlocker(self.preset):
            self.preset.setCurrentText(CUSTOM)
        self.set_kernel(k)

    def _on_cell(self, item: QTableWidgetItem) -> None:
        r, c = item.row(), item.column()
        n = self.kernel.shape[0]
        if r >= n or c >= n:
            return
        try:
            value = float(item.text().replace("−", "-").replace(",", "."))
        except ValueError:
            value = float(self.kernel[r, c])  # not a number: put the old value back
        if not np.isfinite(value):
            value = float(self.kernel[r, c])
        self.kernel[r, c] = value
        with QSignalBlocker(self.preset):
            self.preset.setCurrentText(CUSTOM)
        self._show_kernel()
        self._mark()

    # ----------------------------------------------------------------- drawing
    def _mark(self) -> None:
        self._dirty = True
        self.request_redraw()

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._dirty = True  # the conv1 grid's columns follow the panel's shape

    def input_tensor(self) -> np.ndarray | None:
        """The model's exact input when it has seen the current image, else pixels / 255."""
        c = self.controller
        if c.model_image is None:
            return None
        if c.inspection is not None and c.inspected_image is c.model_image:
            return np.asarray(c.inspection.input, np.float32)
        return c.model_image.astype(np.float32) / 255.0

    def redraw(self) -> None:
        if not self._dirty:
            return
        x = self.input_tensor()
        if x is None:
            return
        self._dirty = False
        self.source = x
        out = convolve2d(x, self.kernel)
        self.result = out
        if out.shape[2] == 1:
            levels = levels_of(out)
            self.result_view.show_scalar(out[..., 0], levels)
            self.result_view.set_title("Your kernel")
        else:
            mosaic, levels = map_grid(out, cols=out.shape[2])
            self.result_view.show_scalar(mosaic, levels)
            self.result_view.set_title("Your kernel on R, G, B")
        text = f"Colour scales: your kernel {format_number(levels[0])} … {format_number(levels[1])}"
        c = self.controller
        if c.inspection is not None and "conv1" in c.inspection.taps and c.inspected_image is c.model_image:
            maps = np.asarray(c.inspection.taps["conv1"])
            view = self.conv1_view.view
            mosaic, lv = map_grid(
                maps, cols=fit_cols(maps.shape[2], maps.shape[:2], (view.width(), view.height()))
            )
            self.conv1_view.show_scalar(mosaic, lv)
            self.conv1_view.set_title(f"The network's conv1 ({maps.shape[2]} maps)")
            text += (
                f"\nconv1 at step {c.inspected_step:,}: {format_number(lv[0])} … {format_number(lv[1])}"
                " (white = 0)"
            )
        self.scale_label.setText(text)

    def export(self, path: str) -> None:
        export_scene(self.graphics, path)
