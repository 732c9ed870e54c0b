"""The Loss landscape panel's controls: directions, grid, batch, compute / cancel,
follow training, the CPU share, progress, scale, 3D, export. They wrap onto more rows
when the panel is docked narrow (:class:`FlowLayout`).

The controls hold no state of their own beyond the random directions' ``seed``; the
panel reads them when it builds a request and listens to ``settings_changed``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from convscope.ui.panels.landscape_3d import gl_status
from convscope.ui.panels.mapview import ExportButton

BATCH_SIZES = (64, 128, 256, 512, 1024, 2048)
DEFAULT_BATCH = 256
DEFAULT_RESOLUTION = 11  # 11×11 × 256 images: the grid README's "Measured" times (~4 s, default model)
DEFAULT_SHARE = 50  # % of CPU time the probe may take while training
KIND_LABELS = {"random": "random", "pca": "PCA of the path"}


class FlowLayout(QLayout):
    """Items left to right, wrapping to a new row when the width runs out (Qt's flow
    layout example): the panel's controls take two rows when wide, more when docked small."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 8) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # type: ignore[override]
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # type: ignore[override]
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _place(self, rect: QRect, move: bool) -> int:
        x, y, row_height = rect.x(), rect.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and row_height > 0:
                x, y, row_height = rect.x(), y + row_height + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            row_height = max(row_height, hint.height())
        return y + row_height - rect.y()


def group(*widgets: QWidget) -> QWidget:
    """Widgets that stay together on one row of a FlowLayout (a label and its control)."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    for w in widgets:
        layout.addWidget(w)
    return box


class LandscapeControls(QWidget):
    """Every control of the panel; ``settings_changed`` when the grid to compute changed
    (directions, seed, resolution, span, batch, split)."""

    settings_changed = Signal()

    def __init__(self, export: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seed = 0
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind.setToolTip(
            "Random: two Gaussian directions, every filter scaled to the norm of the weights' filter "
            "(filter-normalised, Li et al. 2018); the path projected on them stays near the centre, as "
            "random directions are almost orthogonal to it. PCA of the path: the two directions along "
            "which the kept snapshots of training vary most. Either plane goes through the current "
            "weights, and the path is drawn on it."
        )
        self.new_button = QPushButton("New directions")
        self.new_button.setToolTip("Draw two other random directions (the next seeds)")
        self.seed_label = QLabel()
        res = DEFAULT_RESOLUTION
        self.resolution = QSpinBox(minimum=11, maximum=51, singleStep=2, value=res, suffix=" pts")
        self.resolution.setToolTip(
            f"Grid points per axis (odd, so the current weights are a grid point); default {res}: "
            f"{res}×{res} × {DEFAULT_BATCH} images takes ~4 s on the default model with the CPU "
            "to itself, 21×21 about 3.6 times as long"
        )
        self.span = QDoubleSpinBox(
            minimum=0.05, maximum=5.0, singleStep=0.25, value=1.0, decimals=2, prefix="±"
        )
        self.span.setToolTip(
            "Random directions: how far the grid reaches along each (in units of the direction). "
            "PCA: the grid is fitted to the path, with a margin of 25% of its extent × this on each side."
        )
        self.batch = QComboBox()
        for size in BATCH_SIZES:
            self.batch.addItem(f"{size} images", size)
        self.batch.setCurrentIndex(BATCH_SIZES.index(DEFAULT_BATCH))
        self.batch.setToolTip("Images the loss is averaged over at every grid point (a fixed, seeded sample)")
        self.split = QComboBox()
        self.split.addItem("training", "train")
        self.split.addItem("validation", "val")
        self.split.setToolTip("Which split the evaluation batch of the 2D map comes from")
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("Compute the landscape around the latest snapshot")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.follow = QCheckBox("Follow training")
        self.follow.setToolTip("Recompute whenever training sends newer weights (a coarse grid first)")
        self.share = QSlider(Qt.Orientation.Horizontal, minimum=10, maximum=100, singleStep=5, pageStep=10)
        self.share.setValue(DEFAULT_SHARE)
        self.share.setMinimumWidth(90)
        self.share.setToolTip("The most CPU time the landscape may take while the model trains")
        self.share_label = QLabel()
        self.share_label.setObjectName("sliderValue")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFixedWidth(220)
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.log_scale.setToolTip(
            "Colours and contours of log₁₀ loss (the loss grows fast away from a minimum)"
        )
        self.three_d = QCheckBox("3D")
        ok, why = gl_status()
        self.three_d.setEnabled(ok)
        self.three_d.setToolTip("Show the surface in 3D (drag to rotate)" if ok else why)
        self.export_button = ExportButton(export, "loss-landscape.png")
        self.save_button = QToolButton(text="Save data…")
        self.save_button.setToolTip("Save the grid and the lines as a NumPy .npz archive")
        self.save_button.setEnabled(False)

        self.settings_button = QToolButton(text="Settings", checkable=True, checked=True)
        self.settings_button.setToolTip("Show or hide the directions, grid, batch and CPU-share settings")
        self.settings = [
            group(QLabel("Directions:"), self.kind, self.seed_label, self.new_button),
            group(QLabel("Grid:"), self.resolution, self.span),
            group(QLabel("Batch:"), self.batch, self.split),
            group(QLabel("CPU share while training:"), self.share, self.share_label),
        ]
        flow = FlowLayout(self)
        for w in (*self.settings[:3], group(self.compute_button, self.cancel_button), self.follow,
                  self.settings[3], self.progress, group(self.log_scale, self.three_d)):  # fmt: skip
            flow.addWidget(w)
        self.settings_button.toggled.connect(self.show_settings)
        self.kind.currentIndexChanged.connect(lambda _i: self._changed())
        self.resolution.valueChanged.connect(self._on_resolution)
        self.span.valueChanged.connect(lambda _v: self._changed())
        self.batch.currentIndexChanged.connect(lambda _i: self._changed())
        self.split.currentIndexChanged.connect(lambda _i: self._changed())
        self.new_button.clicked.connect(self.new_directions)
        self.share.valueChanged.connect(lambda v: self.share_label.setText(f"{v}%"))
        self.share_label.setText(f"{self.share.value()}%")
        self._update_seed()

    def show_settings(self, on: bool) -> None:
        for w in self.settings:
            w.setVisible(on)

    @property
    def kind_value(self) -> str:
        return str(self.kind.currentData())

    def new_directions(self) -> None:
        """The next two seeds."""
        self.seed += 2
        self._changed()

    def _on_resolution(self, value: int) -> None:
        if value % 2 == 0:  # typed in: keep the centre on the grid
            with QSignalBlocker(self.resolution):
                self.resolution.setValue(min(value + 1, self.resolution.maximum()))
        self._changed()

    def _changed(self) -> None:
        self._update_seed()
        self.settings_changed.emit()

    def _update_seed(self) -> None:
        random = self.kind_value == "random"
        self.seed_label.setText(f"seeds {self.seed}, {self.seed + 1}" if random else "")
        self.seed_label.setVisible(random)
        self.new_button.setVisible(random)
        # PCA directions are unit vectors: their plane is fitted to the path (LandscapeRequest.axes).
        self.span.setPrefix("±" if random else "margin ×")
